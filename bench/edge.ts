/**
 * Edge benchmark (npm run bench:edge): wrk through the real nginx versus
 * directly to the same backend, HTTP and HTTPS, with and without upstream
 * keepalive; generate-certs versus `openssl req -x509`. Ratios are measured
 * in one run on the same machine, so they compare like with like.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildServerCertificate, generateRsaKey } from '../scripts/lib/certs/x509.js';
import { startEdge } from '../test/edge/harness.js';
import { freePort } from '../test/helpers/net.js';
import { REPO, runScript } from '../test/helpers/run.js';
import { needTool } from '../test/helpers/tools.js';

const DURATION = process.env.BENCH_DURATION ?? '8s';
const CONNECTIONS = '32';
const HANDSHAKE_SECONDS = process.env.BENCH_HANDSHAKE_SECONDS ?? '4';

interface WrkResult {
  rps: number;
  p99ms: number;
  errors: number;
}

function toMs(value: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(value);
  if (!match) throw new Error(`cannot read wrk latency "${value}"`);
  const n = Number(match[1]);
  return { us: n / 1000, ms: n, s: n * 1000, m: n * 60_000 }[match[2] as 'us' | 'ms' | 's' | 'm'];
}

/** Output of a child run to its end; async, so the backend in this process keeps serving meanwhile. */
async function output(file: string, args: string[]): Promise<string> {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`${file} ${args.join(' ')} failed: ${out.slice(-500)}`);
  return out;
}

async function wrk(url: string): Promise<WrkResult> {
  const out = await output(needTool('wrk'), ['-t2', `-c${CONNECTIONS}`, `-d${DURATION}`, '--latency', url]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p99 = /\s99%\s+(\S+)/.exec(out)?.[1] ?? '';
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = non2xx + (socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0);
  return { rps, p99ms: toMs(p99), errors };
}

/**
 * HTTPS connections per second that each carry one request: full handshakes
 * against resumed sessions (bench/edge/connections.mjs), and how many resumed.
 */
async function connectionsPerSecond(port: number, mode: 'new' | 'reuse'): Promise<{ perSecond: number; resumed: number; connections: number }> {
  const out = await output(process.execPath, [join(REPO, 'bench', 'edge', 'connections.mjs'), String(port), mode, HANDSHAKE_SECONDS]);
  return JSON.parse(out.trim().split('\n').at(-1) as string);
}

/**
 * A minimal JSON backend (the test backend records every request; this one
 * must not). `delayMs` stands for the I/O wait of a real handler (a query).
 */
async function startBenchBackend(delayMs: number): Promise<{ address: string; url: string; close(): void }> {
  const port = await freePort();
  const body = JSON.stringify({ status: 'ok', items: [1, 2, 3] });
  const server = createServer((_req, res) => {
    const answer = () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (delayMs > 0) setTimeout(answer, delayMs);
    else answer();
  });
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { address: `127.0.0.1:${port}`, url: `http://127.0.0.1:${port}/api/v1/bench`, close: () => server.close() };
}

async function proxied(backendAddress: string, upstreamKeepalive: boolean) {
  const httpPort = await freePort();
  const edge = await startEdge({
    env: 'dev',
    backends: [backendAddress],
    certMode: 'self-signed',
    set: { NGINX_RATE_API: '1000000r/s', NGINX_BURST_API: '10000', NGINX_CONN_PER_IP: '10000', NGINX_HTTPS_PORT: '443' },
    patch: (dir) => {
      const site = join(dir, 'sites', 'healthmate.conf');
      // A plain-HTTP listener on the API server, to measure the proxy without TLS.
      writeFileSync(site, readFileSync(site, 'utf8').replace(/(listen \S+ ssl http2;)/, `$1\n    listen 127.0.0.1:${httpPort};`));
      if (!upstreamKeepalive) {
        const upstream = join(dir, 'conf.d', 'upstream.conf');
        writeFileSync(upstream, readFileSync(upstream, 'utf8').replace(/^\s*keepalive(_requests|_timeout)? .*;$/gm, ''));
      }
    },
  });
  try {
    return {
      http: await wrk(`http://localhost:${httpPort}/api/v1/bench`),
      https: await wrk(`https://localhost:${edge.ports.https}/api/v1/bench`),
      newTls: upstreamKeepalive ? await connectionsPerSecond(edge.ports.https, 'new') : undefined,
      resumedTls: upstreamKeepalive ? await connectionsPerSecond(edge.ports.https, 'reuse') : undefined,
    };
  } finally {
    await edge.stop();
  }
}

function timeMs(fn: () => void): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function certificateTimes(rounds: number) {
  const openssl = needTool('openssl');
  const dir = mkdtempSync(join(tmpdir(), 'healthmate-bench-certs-'));
  try {
    const opensslMs: number[] = [];
    const libraryMs: number[] = [];
    const cliMs: number[] = [];
    for (let i = 0; i < rounds; i += 1) {
      opensslMs.push(
        timeMs(() => {
          const r = spawnSync(openssl, [
            'req',
            '-x509',
            '-newkey',
            'rsa:2048',
            '-nodes',
            '-subj',
            '/CN=localhost',
            '-days',
            '397',
            '-keyout',
            join(dir, 'k.pem'),
            '-out',
            join(dir, 'c.pem'),
          ]);
          if (r.status !== 0) throw new Error('openssl req failed');
        }),
      );
      const start = process.hrtime.bigint();
      const keys = await generateRsaKey(2048);
      const pem = buildServerCertificate({ keys, commonName: 'localhost', sans: [{ type: 'DNS', value: 'localhost' }], days: 397 });
      writeFileSync(join(dir, 'lib.pem'), pem);
      libraryMs.push(Number(process.hrtime.bigint() - start) / 1e6);
      cliMs.push(
        timeMs(() => {
          const r = runScript('generate-certs.ts', ['--env', 'dev', '--mode', 'self-signed', '--force', '--set', `STATE_DIR=${join(dir, 'state')}`]);
          if (r.code !== 0) throw new Error(r.stderr);
        }),
      );
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    return { openssl: median(opensslMs), library: median(libraryMs), cli: median(cliMs) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (n: number, digits = 2) => n.toFixed(digits);

async function proxyTable(delayMs: number): Promise<void> {
  const backend = await startBenchBackend(delayMs);
  try {
    const direct = await wrk(backend.url);
    const keepalive = await proxied(backend.address, true);
    const noKeepalive = await proxied(backend.address, false);
    const rows: [string, WrkResult][] = [
      ['direct to backend (HTTP)', direct],
      ['nginx HTTP, upstream keepalive', keepalive.http],
      ['nginx HTTPS, upstream keepalive', keepalive.https],
      ['nginx HTTP, no upstream keepalive', noKeepalive.http],
      ['nginx HTTPS, no upstream keepalive', noKeepalive.https],
    ];
    console.log(`\nbackend answering ${delayMs === 0 ? 'at once' : `after ${delayMs} ms`}`);
    console.log('run                                    req/s      p99 ms  errors  ratio vs direct');
    for (const [name, r] of rows) {
      console.log(`${name.padEnd(38)} ${fmt(r.rps, 0).padStart(8)} ${fmt(r.p99ms).padStart(10)} ${String(r.errors).padStart(7)}  ${fmt(r.rps / direct.rps)}`);
    }
    const { newTls, resumedTls } = keepalive;
    if (newTls && resumedTls)
      console.log(
        `a new HTTPS connection per request: ${fmt(newTls.perSecond, 0)}/s with full handshakes, ${fmt(resumedTls.perSecond, 0)}/s offering the last session (${resumedTls.resumed} of ${resumedTls.connections} resumed): ${fmt(resumedTls.perSecond / newTls.perSecond)}x`,
      );
    const https = keepalive.https.rps / direct.rps;
    console.log(
      `goal: HTTPS through nginx >= 0.90 of direct: ${https >= 0.9 ? 'met' : 'MISS'} (got ${fmt(https)}); HTTP through nginx ${fmt(keepalive.http.rps / direct.rps)}; HTTPS / HTTP through nginx ${fmt(keepalive.https.rps / keepalive.http.rps)}`,
    );
  } finally {
    backend.close();
  }
}

console.log(`edge bench: wrk -t2 -c${CONNECTIONS} -d${DURATION}, ${cpus().length} CPUs shared by wrk, nginx and a Node backend`);
await proxyTable(0);
await proxyTable(5);
const certs = await certificateTimes(Number(process.env.BENCH_CERT_ROUNDS ?? 5));
console.log('\ncertificate generation (median wall time, RSA 2048 self-signed):');
console.log(`  openssl req -x509 -newkey rsa:2048      ${fmt(certs.openssl, 0)} ms`);
console.log(`  scripts/lib/certs (in process)          ${fmt(certs.library, 0)} ms  ratio ${fmt(certs.library / certs.openssl)} (goal <= 1.5)`);
console.log(`  generate-certs.ts CLI (incl. tsx start) ${fmt(certs.cli, 0)} ms  ratio ${fmt(certs.cli / certs.openssl)}`);
