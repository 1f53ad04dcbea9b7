import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { envExampleText } from '../../scripts/lib/env/example.js';
import { SECRET_NAMES } from '../../scripts/lib/env/schema.js';
import { freePort, waitFor } from '../helpers/net.js';
import { needTool } from '../helpers/tools.js';

export interface Daemon {
  url: string;
  port: number;
  output: () => string;
  stop: () => Promise<void>;
}

export async function startDaemon(bin: string, args: string[], port: number, readyPath: string, env: NodeJS.ProcessEnv = {}): Promise<Daemon> {
  const child: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let output = '';
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  try {
    await waitFor(`${bin} on ${url}`, async () => (await fetch(`${url}${readyPath}`)).ok);
  } catch (error) {
    await stop();
    throw new Error(`${bin} did not start: ${String(error)}\n${output.slice(-2000)}`);
  }
  return { url, port, output: () => output, stop };
}

/** Debian's Prometheus on a loopback port with temp storage and the lifecycle API. */
export async function startPrometheus(configFile: string, dataDir: string, flags: string[] = []): Promise<Daemon> {
  const port = await freePort();
  return startDaemon(
    needTool('prometheus'),
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${dataDir}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-lifecycle',
      '--log.level=warn',
      ...flags,
    ],
    port,
    '/-/ready',
  );
}

/** Debian's Alertmanager on a loopback port, clustering off. */
export async function startAlertmanager(configFile: string, dataDir: string): Promise<Daemon> {
  const port = await freePort();
  return startDaemon(
    needTool('prometheus-alertmanager'),
    [`--config.file=${configFile}`, `--storage.path=${dataDir}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=warn'],
    port,
    '/-/ready',
  );
}

/** Configs a freshly installed host starts with, before setup-monitoring runs. */
export function writeInitialConfigs(prefix: string): { prometheusConfig: string; alertmanagerConfig: string } {
  const prometheusDir = join(prefix, 'etc', 'prometheus');
  const alertmanagerDir = join(prefix, 'etc', 'alertmanager');
  mkdirSync(prometheusDir, { recursive: true });
  mkdirSync(alertmanagerDir, { recursive: true });
  const prometheusConfig = join(prometheusDir, 'prometheus.yml');
  const alertmanagerConfig = join(alertmanagerDir, 'alertmanager.yml');
  writeFileSync(prometheusConfig, 'global:\n  scrape_interval: 15s\n');
  writeFileSync(alertmanagerConfig, 'route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n');
  return { prometheusConfig, alertmanagerConfig };
}

export interface TestServer {
  url: string;
  port: number;
  requests: { method: string; path: string; body: string }[];
  close: () => Promise<void>;
}

/** A loopback HTTP server whose handler the test writes; every request is recorded. */
export async function testServer(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<TestServer> {
  const requests: TestServer['requests'] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', body });
      handler(req, res, body);
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Arguments that make a valid production env in a temp folder: the generated
 * example file, a strong random value for every secret and a public-looking domain.
 */
export function prodEnvArgs(dir: string, stateDir: string): string[] {
  const envFile = join(dir, 'env.prod');
  writeFileSync(envFile, envExampleText());
  const secrets = SECRET_NAMES.flatMap((name) => ['--set', `${name}=${randomBytes(24).toString('base64url')}`]);
  return ['--env', 'prod', '--env-file', envFile, ...secrets, '--set', 'DOMAIN=api.healthmate-ci.net', '--set', `STATE_DIR=${stateDir}`];
}
