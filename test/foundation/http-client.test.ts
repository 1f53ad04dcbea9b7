import { spawn } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpFailure, httpCall } from '../../scripts/lib/http-client.js';
import { REPO } from '../helpers/run.js';

/** The first request of a fresh process, as a script makes it: prints the failure code, or exits 13 if it never settles. */
function firstRequest(url: string): Promise<{ code: number | null; output: string }> {
  const program = `
    const { httpCall, HttpFailure } = await import(${JSON.stringify(join(REPO, 'scripts', 'lib', 'http-client.ts'))});
    try { await httpCall(${JSON.stringify(url)}, { method: 'GET', timeoutMs: 30000 }); console.log('answered'); }
    catch (error) { console.log(error instanceof HttpFailure ? error.code : String(error)); }`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program], { cwd: REPO });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      output += d;
    });
    child.on('close', (code) => resolve({ code, output: output.trim() }));
  });
}

describe('httpCall', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    // A listener that accepts and resets every connection: a service (or docker-proxy) still starting.
    server = createServer((socket) => socket.resetAndDestroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/metrics`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('settles the first request of a fresh process with ECONNRESET when the connection is reset', async () => {
    // Node 20's fetch left this promise unsettled in about one process in eight, and the process exited 13
    // mid-retry; twenty processes made that near certain to show.
    const runs = await Promise.all(Array.from({ length: 20 }, () => firstRequest(url)));
    expect(runs.filter((run) => run.code !== 0 || run.output !== 'ECONNRESET')).toEqual([]);
  });

  it('gives status and body of any answer, ECONNRESET for a body cut short, ETIMEDOUT for a silent server', async () => {
    const http = createHttpServer((request, response) => {
      if (request.url === '/silent') return;
      if (request.url === '/cut') {
        response.writeHead(200, { 'content-length': '100' });
        response.write('partial');
        setTimeout(() => response.socket?.destroy(), 20);
        return;
      }
      response.writeHead(request.method === 'POST' ? 500 : 200);
      response.end(`${request.method} ${request.url}`);
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const address = http.address();
    const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    try {
      expect(await httpCall(`${base}/metrics`, { method: 'GET', timeoutMs: 5000 })).toEqual({ status: 200, ok: true, body: 'GET /metrics' });
      expect(await httpCall(`${base}/-/reload`, { method: 'POST', timeoutMs: 5000 })).toEqual({ status: 500, ok: false, body: 'POST /-/reload' });
      const cut = await httpCall(`${base}/cut`, { method: 'GET', timeoutMs: 5000 }).catch((error: unknown) => error);
      expect(cut).toBeInstanceOf(HttpFailure);
      expect((cut as HttpFailure).code).toBe('ECONNRESET');
      const silent = await httpCall(`${base}/silent`, { method: 'GET', timeoutMs: 300 }).catch((error: unknown) => error);
      expect((silent as HttpFailure).code).toBe('ETIMEDOUT');
    } finally {
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
  });

  it('times out after the timeout it was given, not after the 5 s idle timeout of Node 20 global agent', async () => {
    const silent = createHttpServer(() => {
      // never answers
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/silent`;
    const timed = async (timeoutMs: number) => {
      const started = performance.now();
      const error = await httpCall(url, { method: 'GET', timeoutMs }).catch((e: unknown) => e);
      return { error, elapsed: performance.now() - started };
    };
    try {
      // Timers never fire early, so on any machine a 7 s timeout lasts at least 7 s; the agent's own
      // 5 s timeout (what a request without `timeout` falls back to) also ends in ETIMEDOUT, sooner.
      // 50 ms of slack: libuv times from the loop's cached clock, read a little before `started`.
      const long = await timed(7000);
      expect((long.error as HttpFailure).code).toBe('ETIMEDOUT');
      expect(long.elapsed).toBeGreaterThanOrEqual(7000 - 50);
      // A short timeout ends well before the 5 s default, even on a loaded machine.
      const short = await timed(200);
      expect((short.error as HttpFailure).code).toBe('ETIMEDOUT');
      expect(short.elapsed).toBeGreaterThanOrEqual(200 - 50);
      expect(short.elapsed).toBeLessThan(4000);
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
