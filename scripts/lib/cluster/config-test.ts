import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { $ } from 'zx/core';
import { buildServerCertificate, generateRsaKey } from '../certs/x509.js';
import { privateTempDir } from '../cleanup.js';
import { requireTool } from '../tools.js';
import { CLUSTER_CONTAINER_PATHS } from './topology.js';

/**
 * The real `haproxy -c` and `patroni --validate-config` on copies of the rendered
 * configs, natively (check.ts) and in the stack's images (the deploy's check step).
 * Both tools also look at the machine they run on (certificate files, names and ports
 * of the running cluster), which is not where the configs will run: the copies point
 * those at stand-ins, and everything else is checked as rendered.
 */

export interface ConfigProblem {
  /** Bundle-relative file, when the tool names a line. */
  file?: string;
  line?: number;
  message: string;
}

export const HAPROXY_CONFIG = 'haproxy/haproxy.cfg';
export const PATRONI_CONFIG = 'patroni/patroni.yml';
/** The CA HAProxy's health checks verify Patroni's certificate with (a host folder mounted there). */
export const HAPROXY_CA_FILE = `${CLUSTER_CONTAINER_PATHS.CLUSTER_TLS_PATH}/ca.pem`;
/** Beside the real one in the check container: the copy patroni --validate-config reads. */
export const PATRONI_CHECK_COPY = `${CLUSTER_CONTAINER_PATHS.PATRONI_CONFIG_PATH}/.patroni.check.yml`;

/** A throwaway self-signed certificate to stand in for the project CA (it protects nothing). */
export async function standInCaPem(): Promise<string> {
  const keys = await generateRsaKey(2048);
  return buildServerCertificate({ keys, commonName: 'cluster-config-test', sans: [{ type: 'DNS', value: 'cluster-config-test' }], days: 1 });
}

/** HAProxy's ALERT lines, with the bundle file and line when it names one. */
export function haproxyProblems(output: string, configPath: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const line of output.split('\n')) {
    const alert = /\[ALERT\]\s+\(\d+\) : (?:config : )?(.*)$/.exec(line);
    if (!alert) continue;
    const text = alert[1] as string;
    // The closing summary lines add nothing to the ones before them.
    if (/^(Error\(s\) found in configuration file|Fatal errors found in configuration)/.test(text)) continue;
    const at = /^(?:parsing )?\[([^\]:]+):(\d+)\] ?: ?(.*)$/.exec(text);
    if (at && at[1] === configPath) problems.push({ file: HAPROXY_CONFIG, line: Number(at[2]), message: at[3] as string });
    else problems.push({ message: text.replaceAll(configPath, HAPROXY_CONFIG) });
  }
  return problems.length > 0 ? problems : [{ message: `haproxy -c failed: ${output.trim().replaceAll(configPath, HAPROXY_CONFIG)}` }];
}

/** Patroni's validator: one problem per line it prints. */
export function patroniProblems(output: string): ConfigProblem[] {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return (lines.length > 0 ? lines : ['patroni --validate-config failed without a message']).map((message) => ({ file: PATRONI_CONFIG, message }));
}

/** The real `haproxy -c` on a copy of the rendered haproxy.cfg, the CA file a stand-in. */
export async function testHaproxyConfig(bundleDir: string): Promise<ConfigProblem[]> {
  const haproxy = requireTool('haproxy');
  const staged = privateTempDir('healthmate-haproxy-c-');
  try {
    const ca = join(staged.path, 'ca.pem');
    writeFileSync(ca, await standInCaPem());
    const config = join(staged.path, 'haproxy.cfg');
    writeFileSync(config, readFileSync(join(bundleDir, HAPROXY_CONFIG), 'utf8').replaceAll(HAPROXY_CA_FILE, ca));
    const result = await $({ quiet: true, nothrow: true, timeout: '60s' })`${haproxy} -c -f ${config}`;
    if (result.exitCode === 0) return [];
    return haproxyProblems(`${result.stdout}${result.stderr}`.replaceAll(ca, HAPROXY_CA_FILE), config);
  } finally {
    staged.remove();
  }
}

interface PatroniStandIns {
  /** etcd3.hosts: every member at this host:port (something must answer there). */
  etcd: string;
  /** restapi.listen / postgresql.listen replaced (natively: free ports here), or kept. */
  listen?: { restapi: string; postgresql: string };
  /** postgresql.data_dir replaced (natively: an empty folder), or kept. */
  dataDir?: string;
}

/** Replaces the quoted value of `key:` at exactly `indent` spaces (the rendered template's form), nothing else. */
function replaceValue(text: string, indent: number, key: string, value: (old: string) => string): string {
  return text.replace(new RegExp(`^( {${indent}}${key}: )'([^']*)'$`, 'm'), (_whole, head: string, old: string) => `${head}'${value(old)}'`);
}

/**
 * A copy of patroni.yml for the validator, edited as text so every other byte is as rendered:
 * etcd's members at a listener that answers (Patroni dials each one; the real members are not
 * where the check runs), the other machine-bound values as given. The etcd list keeps its length.
 */
export function patroniCheckCopy(text: string, standIns: PatroniStandIns): string {
  let out = replaceValue(text, 2, 'hosts', (old) =>
    old
      .split(',')
      .map(() => standIns.etcd)
      .join(','),
  );
  const { listen, dataDir } = standIns;
  if (listen) {
    // The first `  listen:` is restapi's, the second postgresql's (the template's order).
    out = replaceValue(out, 2, 'listen', () => listen.restapi);
    out = out.replace(/^(postgresql:\n(?:.*\n)*? {2}listen: )'[^']*'$/m, `$1'${listen.postgresql}'`);
  }
  if (dataDir) out = replaceValue(out, 2, 'data_dir', () => dataDir);
  return out;
}

function listen(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}

/**
 * The real `patroni --validate-config` on a copy of the rendered patroni.yml: etcd's
 * members at a loopback listener of this check, the REST API and PostgreSQL on free
 * loopback ports (a port in use here is no fault of the config), an empty data folder;
 * bin_dir as rendered (this machine's PostgreSQL 15 binaries).
 */
export async function testPatroniConfig(bundleDir: string): Promise<ConfigProblem[]> {
  const patroni = requireTool('patroni');
  const staged = privateTempDir('healthmate-patroni-validate-');
  const listeners = await Promise.all([listen(), listen(), listen()]);
  try {
    const [etcd, restapi, postgresql] = listeners.map((l) => l.port);
    // Free again: the validator refuses a listen port that something answers on.
    await Promise.all(listeners.slice(1).map((l) => new Promise((r) => l.server.close(r))));
    const config = join(staged.path, 'patroni.yml');
    const text = readFileSync(join(bundleDir, PATRONI_CONFIG), 'utf8');
    writeFileSync(
      config,
      patroniCheckCopy(text, {
        etcd: `127.0.0.1:${etcd}`,
        listen: { restapi: `127.0.0.1:${restapi}`, postgresql: `127.0.0.1:${postgresql}` },
        dataDir: join(staged.path, 'data'),
      }),
    );
    const result = await $({ quiet: true, nothrow: true, timeout: '60s', env: patroniEnv() })`${patroni} --validate-config ${config}`;
    if (result.exitCode === 0) return [];
    return patroniProblems(`${result.stdout}${result.stderr}`.replaceAll(staged.path, '<tmp>'));
  } finally {
    listeners[0]?.server.close();
    staged.remove();
  }
}

/**
 * Patroni reads PATRONI_* from its environment over the file: none of the caller's may leak in.
 * The REST API password, which run.sh exports from its secret file, is a placeholder here:
 * Patroni needs one to build its config, and the check must never read a real secret.
 */
export const PLACEHOLDER_PASSWORDS = { PATRONI_RESTAPI_PASSWORD: 'validate-config-placeholder' };

function patroniEnv(): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('PATRONI_'))), ...PLACEHOLDER_PASSWORDS };
}
