import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './net.js';

/**
 * Servers that accept connections and never answer, as a hung Docker engine or SFTP server
 * does: one on a unix socket, one on a loopback TCP port. They run in the test process, so
 * talk to them from child processes started asynchronously (runScriptAsync), not spawnSync.
 */
export interface SilentServers {
  /** unix://<tmp>/silent.sock */
  unixUrl: string;
  port: number;
  /** Connections accepted so far. */
  accepted(): number;
  /** When each was accepted (Date.now()), in order: how long a client waited before it tried again. */
  acceptedAt(): number[];
  close(): Promise<void>;
}

export async function startSilentServers(): Promise<SilentServers> {
  const dir = mkdtempSync(join(tmpdir(), 'healthmate-silent-'));
  const sockets: Socket[] = [];
  const times: number[] = [];
  const hold = (socket: Socket): void => {
    sockets.push(socket);
    times.push(Date.now());
    socket.on('error', () => undefined);
  };
  const listen = (server: Server, ...at: [string] | [number, string]): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(...(at as [number, string]), () => resolve());
    });
  const unix = createServer(hold);
  const tcp = createServer(hold);
  const socketPath = join(dir, 'silent.sock');
  await listen(unix, socketPath);
  await listen(tcp, 0, '127.0.0.1');
  const address = tcp.address();
  return {
    unixUrl: `unix://${socketPath}`,
    port: typeof address === 'object' && address ? address.port : 0,
    accepted: () => sockets.length,
    acceptedAt: () => [...times],
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all([unix, tcp].map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface SilentTcpProcess {
  port: number;
  /** When each connection was accepted (Date.now() in the server's process), in order. */
  acceptedAt(): number[];
  /** Settles at the first accepted connection (or when the server has exited). */
  firstAccepted: Promise<void>;
  close(): Promise<void>;
}

/**
 * A silent loopback TCP server in a child process: its accept times stay true while
 * the test process is blocked (a spawnSync of another test), so a test can wait out a
 * client's idle timeouts in the background. The server ends with the test process.
 */
export async function startSilentTcpProcess(): Promise<SilentTcpProcess> {
  const code = `
    const sockets = [];
    const server = require('node:net').createServer((socket) => {
      sockets.push(socket);
      socket.on('error', () => undefined);
      process.stdout.write('accepted ' + Date.now() + '\\n');
    });
    server.listen(0, '127.0.0.1', () => process.stdout.write('port ' + server.address().port + '\\n'));
    process.stdin.on('end', () => process.exit(0)).resume();
  `;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let accepted = (): void => undefined;
  const firstAccepted = new Promise<void>((resolve) => {
    accepted = resolve;
  });
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    if (/^accepted /m.test(out)) accepted();
  });
  child.once('exit', () => accepted());
  await waitFor('the silent TCP server to listen', () => /^port \d+$/m.test(out) || child.exitCode !== null);
  const port = Number(/^port (\d+)$/m.exec(out)?.[1]);
  if (!port) throw new Error(`the silent TCP server did not start (exit ${child.exitCode})`);
  return {
    port,
    acceptedAt: () => [...out.matchAll(/^accepted (\d+)$/gm)].map((m) => Number(m[1])),
    firstAccepted,
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.stdin.end();
      await exited;
    },
  };
}
