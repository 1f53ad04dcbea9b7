import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, WAIT_BUDGET_MS, waitFor } from '../helpers/net.js';
import { REPO, runScript } from '../helpers/run.js';
import { needTool } from '../helpers/tools.js';

/** Prod needs a public-looking name and strong secrets; .internal is never resolved here. */
export const PROD_DOMAIN = 'api.healthmate.internal';

/** A prod env file: .env.example with every placeholder secret replaced by a random one. */
export function writeProdEnvFile(dir: string): string {
  const text = readFileSync(join(REPO, '.env.example'), 'utf8')
    .split('\n')
    .map((line) => {
      if (line.startsWith('DOMAIN=')) return `DOMAIN=${PROD_DOMAIN}`;
      return line.endsWith('=changeme-generate-with-init-env') ? line.replace(/=.*/, `=${randomBytes(24).toString('hex')}`) : line;
    })
    .join('\n');
  const file = join(dir, '.env.prod');
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** Which TCP connection carried it (1, 2, ...). */
  connection: number;
}

export interface Backend {
  name: string;
  port: number;
  address: string;
  requests: SeenRequest[];
  connections: number;
  /** While true every request answers 503, as a replica whose database is down. */
  failing: boolean;
  close(): Promise<void>;
}

/**
 * A stand-in backend: JSON on every path, /version and /metrics like the
 * real one, /api/v1/missing answers 404, /api/v1/large a compressible body.
 */
export async function startBackend(name: string): Promise<Backend> {
  const port = await freePort();
  const requests: SeenRequest[] = [];
  let connections = 0;
  let failing = false;
  const server: Server = createServer((req, res) => {
    const connection = (req.socket as unknown as { healthmateId: number }).healthmateId;
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, connection });
    req.resume();
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0];
      const json = (status: number, body: unknown, extra: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': 'backend-echo-should-be-hidden', ...extra });
        res.end(JSON.stringify(body));
      };
      if (failing) return json(503, { status: 'unhealthy', reason: 'cannot reach database', backend: name });
      if (path === '/health') return json(200, { status: 'ok' });
      if (path === '/version') return json(200, { version: '1.0.0' });
      if (path === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        return res.end('healthmate_active_users 3\n');
      }
      if (path === '/api/v1/missing') return json(404, { detail: 'Not found' });
      // Replica "b" is overloaded on this path: nginx may retry idempotent requests elsewhere.
      if (path === '/api/v1/flaky' && name === 'b') return json(503, { detail: 'overloaded' });
      if (path === '/api/v1/large') return json(200, { items: Array.from({ length: 500 }, (_, i) => ({ id: i, kind: 'heart_rate', value: 60 + (i % 40) })) });
      if (path === '/api/v1/public-looking') return json(200, { secret: 'personal' }, { 'cache-control': 'public, max-age=600' });
      return json(200, { backend: name, path });
    });
  });
  server.on('connection', (socket) => {
    connections += 1;
    (socket as unknown as { healthmateId: number }).healthmateId = connections;
  });
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    name,
    port,
    address: `127.0.0.1:${port}`,
    requests,
    get connections() {
      return connections;
    },
    get failing() {
      return failing;
    },
    set failing(value: boolean) {
      failing = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface EdgeOptions {
  env: 'prod' | 'dev';
  backends: string[];
  /** More --set NAME=value for render.ts. */
  set?: Record<string, string>;
  certMode?: 'ca' | 'self-signed';
  /** Edits the rendered nginx/ folder before nginx starts (benchmarks only). */
  patch?: (nginxDir: string) => void;
}

export interface Edge {
  root: string;
  state: string;
  bundle: string;
  domain: string;
  envArgs: string[];
  ports: { http: number; https: number; status: number };
  caPem: string;
  accessLog: string;
  errorLog: string;
  stop(): Promise<void>;
}

function run(script: string, args: string[]): void {
  const result = runScript(script, args);
  if (result.code !== 0) throw new Error(`${script} failed (${result.code}): ${result.stderr}`);
}

/**
 * Renders the bundle for `env` with loopback ports and the given backends,
 * issues certificates with generate-certs.ts, and starts Debian's nginx on the
 * rendered nginx.conf exactly as the container does (`-p` a writable prefix).
 */
export async function startEdge(options: EdgeOptions): Promise<Edge> {
  const nginx = needTool('nginx');
  const root = mkdtempSync(join(tmpdir(), 'healthmate-edge-'));
  // Running as root, nginx workers drop to an unprivileged user: they must reach the cache and ACME folders.
  chmodSync(root, 0o755);
  let child: ChildProcess | undefined;
  try {
    const state = join(root, 'state');
    const ports = { http: await freePort(), https: await freePort(), status: await freePort() };
    const domain = options.env === 'prod' ? PROD_DOMAIN : 'localhost';
    const envArgs = ['--env', options.env, ...(options.env === 'prod' ? ['--env-file', writeProdEnvFile(root)] : []), '--set', `STATE_DIR=${state}`];
    const settings: Record<string, string> = {
      NGINX_LISTEN_HTTP: `127.0.0.1:${ports.http}`,
      NGINX_LISTEN_HTTPS: `127.0.0.1:${ports.https}`,
      NGINX_LISTEN_STATUS: `127.0.0.1:${ports.status}`,
      NGINX_HTTP_PORT: String(ports.http),
      NGINX_HTTPS_PORT: String(ports.https),
      BACKEND_UPSTREAM: options.backends.join(','),
      NGINX_MONITORING_CIDRS: '127.0.0.1/32',
      NGINX_ACME_ROOT: join(state, 'acme'),
      ...options.set,
    };
    const setArgs = Object.entries(settings).flatMap(([name, value]) => ['--set', `${name}=${value}`]);
    run('render.ts', [...envArgs, ...setArgs, '--out', join(root, 'dist')]);
    run('generate-certs.ts', [...envArgs, '--mode', options.certMode ?? 'ca']);
    const bundle = join(root, 'dist', options.env);
    // The container mounts STATE_DIR/certs at /etc/nginx/certs.
    symlinkSync(join(state, 'certs'), join(bundle, 'nginx', 'certs'));
    options.patch?.(join(bundle, 'nginx'));
    mkdirSync(join(state, 'acme', '.well-known', 'acme-challenge'), { recursive: true });
    const prefix = join(root, 'run');
    mkdirSync(prefix);
    const accessLog = join(root, 'access.log');
    const errorLog = join(root, 'error.log');
    const out = openSync(accessLog, 'a');
    const err = openSync(errorLog, 'a');
    child = spawn(nginx, ['-e', 'stderr', '-p', `${prefix}/`, '-c', join(bundle, 'nginx', 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', out, err] });
    closeSync(out);
    closeSync(err);
    const started = child;
    let exited = false;
    started.on('exit', () => {
      exited = true;
    });
    await waitFor('nginx to listen', () => {
      if (exited) throw new Error(`nginx exited: ${readFileSync(errorLog, 'utf8')}`);
      return canConnect(ports.https);
    });
    return {
      root,
      state,
      bundle,
      domain,
      envArgs,
      ports,
      caPem: readFileSync(join(state, 'certs', 'ca.pem'), 'utf8'),
      accessLog,
      errorLog,
      stop: async () => {
        await stopProcess(started);
        rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (error) {
    if (child) await stopProcess(child);
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RequestOptions {
  path: string;
  method?: string;
  headers?: Record<string, string>;
  /** Plain HTTP to the redirect port instead of HTTPS. */
  plain?: boolean;
  /** Host header and SNI name (default: the env's domain). */
  host?: string;
  /** Source address, e.g. 127.0.0.2 to come from "outside". */
  localAddress?: string;
  body?: string | Buffer;
  port?: number;
}

/** One request on a fresh connection; rejects when nginx closes it without an answer. */
export function request(edge: Edge, options: RequestOptions): Promise<Reply> {
  const host = options.host ?? edge.domain;
  const port = options.port ?? (options.plain ? edge.ports.http : edge.ports.https);
  const base = {
    host: '127.0.0.1',
    port,
    path: options.path,
    method: options.method ?? 'GET',
    headers: { host, ...options.headers },
    agent: false as const,
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
  };
  return new Promise((resolve, reject) => {
    const onResponse = (res: import('node:http').IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    };
    const req = options.plain ? httpRequest(base, onResponse) : httpsRequest({ ...base, servername: host, ca: edge.caPem }, onResponse);
    req.setTimeout(WAIT_BUDGET_MS, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Parsed JSON access-log lines written so far. */
export function accessLogEntries(edge: Edge): Record<string, unknown>[] {
  return readFileSync(edge.accessLog, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

export const SECURITY_HEADERS = [
  'x-content-type-options',
  'x-frame-options',
  'referrer-policy',
  'content-security-policy',
  'permissions-policy',
  'cross-origin-opener-policy',
  'cross-origin-resource-policy',
  'x-request-id',
] as const;
