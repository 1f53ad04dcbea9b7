import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WAIT_BUDGET_MS } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';
import { type Backend, type Edge, startBackend, startEdge } from './harness.js';

let edge: Edge;
let backend: Backend;

beforeAll(async () => {
  backend = await startBackend('tls');
  edge = await startEdge({ env: 'prod', backends: [backend.address] });
});

afterAll(async () => {
  await edge?.stop();
  await backend?.close();
});

/** Mozilla intermediate: the six ECDHE AEAD suites for TLS 1.2. */
const INTENDED_TLS12 = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
];

function run(tool: string, args: string[], timeoutMs = WAIT_BUDGET_MS): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(needTool(tool), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, out });
    });
  });
}

/** A TLS handshake with openssl s_client, verifying against the generated CA. */
function handshake(extra: string[], caFile = join(edge.state, 'certs', 'ca.pem')) {
  return run('openssl', [
    's_client',
    '-connect',
    `127.0.0.1:${edge.ports.https}`,
    '-servername',
    edge.domain,
    '-CAfile',
    caFile,
    '-verify_return_error',
    '-brief',
    ...extra,
  ]);
}

/** Runs `jobs` with at most `limit` at a time (two cores are shared). */
async function pool<T, R>(items: T[], limit: number, job: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await job(items[index] as T);
      }
    }),
  );
  return results;
}

describe('TLS of the prod config against the real nginx', () => {
  it('serves a chain that verifies against the generated CA, and only against it', async () => {
    const ok = await handshake([]);
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out).toContain('Verification: OK');
    expect(ok.out).toContain(`Peer certificate: CN = ${edge.domain}`);
    // Another trust store rejects it: the verification above is real.
    const other = join(tempDir(), 'other-ca.pem');
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=Other', '-keyout', `${other}.key`, '-out', other]);
    const untrusted = await handshake([], other);
    expect(untrusted.code).not.toBe(0);
    expect(untrusted.out).toMatch(/unable to get local issuer certificate|self-signed certificate|verify error/);
  });

  it('refuses TLS 1.0 and 1.1 (the server answers protocol_version) and accepts 1.2 and 1.3', async () => {
    for (const old of ['-tls1', '-tls1_1']) {
      // The client is told to allow anything, so the refusal is the server's.
      const refused = await handshake([old, '-cipher', 'DEFAULT@SECLEVEL=0']);
      expect(refused.code).not.toBe(0);
      expect(refused.out).toContain('alert protocol version');
    }
    for (const [flag, name] of [
      ['-tls1_2', 'TLSv1.2'],
      ['-tls1_3', 'TLSv1.3'],
    ] as const) {
      const accepted = await handshake([flag]);
      expect(accepted.code, accepted.out).toBe(0);
      expect(accepted.out).toContain(`Protocol version: ${name}`);
    }
  });

  it('offers only the intended TLS 1.2 ciphers and AEAD TLS 1.3 suites', async () => {
    const list = await run('openssl', ['ciphers', '-v', 'ALL:COMPLEMENTOFALL:@SECLEVEL=0']);
    const tls12 = list.out
      .split('\n')
      .filter((line) => line.trim() && !line.includes('TLSv1.3'))
      .map((line) => line.trim().split(/\s+/)[0] as string);
    expect(tls12.length).toBeGreaterThan(50);
    const results = await pool(tls12, 4, async (cipher) => ({ cipher, ok: (await handshake(['-tls1_2', '-cipher', `${cipher}:@SECLEVEL=0`])).code === 0 }));
    const accepted = results.filter((r) => r.ok).map((r) => r.cipher);
    // An RSA certificate can use the three ECDHE-RSA suites of the six.
    expect(accepted.sort()).toEqual(INTENDED_TLS12.filter((c) => c.includes('-RSA-')).sort());

    const suites = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_CCM_SHA256', 'TLS_AES_128_CCM_8_SHA256'];
    const tls13 = await pool(suites, 4, async (suite) => ({ suite, ok: (await handshake(['-tls1_3', '-ciphersuites', suite])).code === 0 }));
    expect(
      tls13
        .filter((r) => r.ok)
        .map((r) => r.suite)
        .sort(),
    ).toEqual(['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']);
  });

  it('negotiates only the configured curves', async () => {
    for (const curve of ['X25519', 'prime256v1', 'secp384r1']) expect((await handshake(['-tls1_3', '-groups', curve])).code, curve).toBe(0);
    expect((await handshake(['-tls1_3', '-groups', 'secp521r1'])).code).not.toBe(0);
  });

  it('speaks HTTP/2 over TLS (ALPN h2) to a client that offers it', async () => {
    const url = `https://${edge.domain}:${edge.ports.https}/health`;
    const resolve = `${edge.domain}:${edge.ports.https}:127.0.0.1`;
    const caFile = join(edge.state, 'certs', 'ca.pem');
    const result = await run('curl', [
      '-sS',
      '--http2',
      '--resolve',
      resolve,
      '--cacert',
      caFile,
      '-o',
      '/dev/null',
      '-w',
      '%{http_version} %{http_code}',
      url,
    ]);
    expect(result.out.trim()).toBe('2 200');
  });

  it('resumes TLS 1.2 sessions from the shared cache and issues no session tickets', async () => {
    const session = join(tempDir(), 'session.pem');
    const connect = (extra: string[]) =>
      run('openssl', [
        's_client',
        '-connect',
        `127.0.0.1:${edge.ports.https}`,
        '-servername',
        edge.domain,
        '-CAfile',
        join(edge.state, 'certs', 'ca.pem'),
        '-tls1_2',
        ...extra,
      ]);
    const first = await connect(['-sess_out', session]);
    expect(first.out).toMatch(/New, TLSv1\.2/);
    expect(first.out).not.toMatch(/TLS session ticket/);
    const second = await connect(['-sess_in', session]);
    expect(second.out).toMatch(/Reused, TLSv1\.2/);
  });

  it('testssl.sh finds no weak protocol or cipher', async () => {
    const json = join(tempDir(), 'testssl.json');
    const result = await run(
      'testssl',
      [
        '--quiet',
        '--color',
        '0',
        '--warnings',
        'batch',
        '--ip',
        '127.0.0.1',
        '-p',
        '-s',
        '-f',
        '--jsonfile',
        json,
        `https://${edge.domain}:${edge.ports.https}`,
      ],
      540_000,
    );
    expect(result.code, result.out).toBe(0);
    const findings = JSON.parse(readFileSync(json, 'utf8')) as { id: string; severity: string; finding: string }[];
    const byId = new Map(findings.map((f) => [f.id, f]));
    for (const id of ['SSLv2', 'SSLv3', 'TLS1', 'TLS1_1']) expect(byId.get(id)?.finding, id).toBe('not offered');
    for (const id of ['TLS1_2', 'TLS1_3']) expect(byId.get(id)?.finding, id).toMatch(/^offered/);
    for (const id of ['cipherlist_NULL', 'cipherlist_aNULL', 'cipherlist_EXPORT', 'cipherlist_LOW', 'cipherlist_3DES_IDEA', 'cipherlist_AVERAGE']) {
      expect(byId.get(id)?.finding, id).toBe('not offered');
    }
    expect(byId.get('PFS')?.severity).toBe('OK');
    const weak = findings.filter((f) => /^(SSLv|TLS1|cipher|PFS)/.test(f.id) && ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'].includes(f.severity));
    expect(weak).toEqual([]);
  });
});
