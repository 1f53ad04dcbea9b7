import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, relative } from 'node:path';
import { $ } from 'zx/core';
import { SERVER_FILES } from '../certs/plan.js';
import { buildServerCertificate, generateRsaKey } from '../certs/x509.js';
import { privateTempDir } from '../cleanup.js';
import { requireTool } from '../tools.js';

export interface NginxProblem {
  /** Path relative to the tested nginx folder, when nginx names one. */
  file?: string;
  line?: number;
  message: string;
}

// Container names such as backend:8000 resolve only inside the compose network,
// and nginx -t resolves upstream servers, so the copy under test points them at loopback.
const UPSTREAM_SERVER = /^(\s*server\s+)([^\s:;]+)(:\d+)/gm;

function confFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return confFiles(path);
    return name.endsWith('.conf') ? [path] : [];
  });
}

function pointUpstreamsAtLoopback(dir: string): void {
  for (const path of confFiles(dir)) {
    const text = readFileSync(path, 'utf8');
    const patched = text.replace(UPSTREAM_SERVER, (whole, head: string, host: string, port: string) => (isIP(host) ? whole : `${head}127.0.0.1${port}`));
    if (patched !== text) writeFileSync(path, patched);
  }
}

/**
 * A throwaway self-signed certificate (file name → PEM) where the config
 * expects the real one: its key protects nothing, so it may go anywhere.
 */
export async function standInCertificateFiles(): Promise<Record<string, string>> {
  const keys = await generateRsaKey(2048);
  const cert = buildServerCertificate({ keys, commonName: 'nginx-config-test', sans: [{ type: 'DNS', value: 'nginx-config-test' }], days: 1 });
  return {
    [SERVER_FILES.privkey]: keys.privateKeyPem,
    ...Object.fromEntries([SERVER_FILES.fullchain, SERVER_FILES.chain, SERVER_FILES.ca].map((name) => [name, cert])),
  };
}

async function writeStandInCertificate(certsDir: string): Promise<void> {
  mkdirSync(certsDir, { recursive: true });
  for (const [name, content] of Object.entries(await standInCertificateFiles())) writeFileSync(join(certsDir, name), content, { mode: 0o600 });
}

/**
 * Runs the real `nginx -t` on a copy of a rendered nginx/ folder, with a
 * stand-in certificate and a private -p prefix, as the container would start it.
 */
export async function testNginxConfig(nginxDir: string): Promise<NginxProblem[]> {
  const nginx = requireTool('nginx');
  const staged = privateTempDir('healthmate-nginx-t-');
  const scratch = staged.path;
  try {
    const conf = join(scratch, 'nginx');
    cpSync(nginxDir, conf, { recursive: true });
    if (!existsSync(join(conf, 'certs', SERVER_FILES.fullchain))) await writeStandInCertificate(join(conf, 'certs'));
    pointUpstreamsAtLoopback(conf);
    const prefix = join(scratch, 'run');
    mkdirSync(prefix);
    // stdout is /dev/null, not a socket: nginx opens /dev/stdout for the access log,
    // which fails on the socketpair Node gives a child for 'pipe'. Asynchronous, so a
    // Ctrl-C meanwhile is answered at once (tsx kills a script that does not answer).
    const args = ['-t', '-q', '-e', 'stderr', '-p', `${prefix}/`, '-c', join(conf, 'nginx.conf')];
    const result = await $({ quiet: true, nothrow: true, stdio: ['ignore', 'ignore', 'pipe'], timeout: '60s' })`${nginx} ${args}`;
    if (result.exitCode === 0) return [];
    const problems: NginxProblem[] = [];
    for (const line of result.stderr.split('\n')) {
      const match = /\[(emerg|alert|crit|error)\] \d+#\d+: (.*?)(?: in (\S+):(\d+))?$/.exec(line);
      if (!match) continue;
      const [, , message, file, lineNo] = match;
      problems.push({
        message: (message as string).replaceAll(scratch, '<tmp>'),
        ...(file ? { file: relative(conf, file), line: Number(lineNo) } : {}),
      });
    }
    return problems.length > 0 ? problems : [{ message: `nginx -t failed: ${result.stderr.trim().replaceAll(scratch, '<tmp>')}` }];
  } finally {
    staged.remove();
  }
}
