import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScript } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';
import { PROD_DOMAIN, writeProdEnvFile } from './harness.js';

function openssl(args: string[]): { code: number; out: string } {
  const result = spawnSync(needTool('openssl'), args, { encoding: 'utf8' });
  return { code: result.status ?? 1, out: `${result.stdout}${result.stderr}` };
}

function generate(state: string, args: string[], env = ['--env', 'dev']) {
  return runScript('generate-certs.ts', [...env, '--set', `STATE_DIR=${state}`, ...args]);
}

function snapshot(state: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const rel of ['certs/fullchain.pem', 'certs/privkey.pem', 'certs/ca.pem', 'certs/chain.pem', 'ca/ca.pem', 'ca/ca.key']) {
    const path = join(state, rel);
    if (existsSync(path)) files[rel] = readFileSync(path, 'utf8');
  }
  return files;
}

const mode = (path: string) => statSync(path).mode & 0o777;

describe('generate-certs.ts --mode ca', () => {
  it('creates a CA apart from what nginx mounts and a server certificate openssl verifies', () => {
    const root = tempDir();
    const state = join(root, 'state');
    const env = ['--env', 'prod', '--env-file', writeProdEnvFile(root)];
    const result = generate(state, ['--mode', 'ca', '--san', 'api2.healthmate.internal', '--san', '10.1.2.3'], env);
    expect(result.code, result.stderr).toBe(0);
    const certs = join(state, 'certs');
    const fullchain = join(certs, 'fullchain.pem');

    // The CA key never lands in the folder nginx mounts.
    expect(existsSync(join(state, 'ca', 'ca.key'))).toBe(true);
    expect(existsSync(join(certs, 'ca.key'))).toBe(false);
    expect(mode(join(state, 'ca', 'ca.key'))).toBe(0o600);
    expect(mode(join(state, 'ca'))).toBe(0o700);
    expect(mode(join(certs, 'privkey.pem'))).toBe(0o600);

    expect(openssl(['verify', '-purpose', 'sslserver', '-CAfile', join(certs, 'ca.pem'), fullchain])).toMatchObject({ code: 0 });
    const text = openssl(['x509', '-in', fullchain, '-noout', '-text']).out;
    expect(text).toMatch(new RegExp(`DNS:${PROD_DOMAIN.replaceAll('.', '\\.')}, DNS:api2\\.healthmate\\.internal, IP Address:10\\.1\\.2\\.3`));
    expect(text).toMatch(/X509v3 Extended Key Usage: *\n *TLS Web Server Authentication\n/);
    expect(text).toMatch(/X509v3 Key Usage: critical\n *Digital Signature, Key Encipherment\n/);
    expect(text).toMatch(/CA:FALSE/);
    expect(text).toContain('Public-Key: (2048 bit)');
    expect(text).toContain('sha256WithRSAEncryption');
    const caText = openssl(['x509', '-in', join(state, 'ca', 'ca.pem'), '-noout', '-text']).out;
    expect(caText).toMatch(/CA:TRUE, pathlen:0/);
    expect(caText).toMatch(/Certificate Sign, CRL Sign/);

    // 397 days: valid now, still valid in 396 days, not in 398.
    const day = 86_400;
    expect(openssl(['x509', '-in', fullchain, '-noout', '-checkend', String(396 * day)]).code).toBe(0);
    expect(openssl(['x509', '-in', fullchain, '-noout', '-checkend', String(398 * day)]).code).toBe(1);
  });

  it('is idempotent, reissues on --force or new SANs, and keeps the CA', () => {
    const state = join(tempDir(), 'state');
    expect(generate(state, []).code).toBe(0);
    const first = snapshot(state);

    const again = generate(state, []);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('certificates unchanged');
    expect(snapshot(state)).toEqual(first);

    expect(generate(state, ['--force']).code).toBe(0);
    const forced = snapshot(state);
    expect(forced['certs/fullchain.pem']).not.toBe(first['certs/fullchain.pem']);
    expect(forced['certs/privkey.pem']).not.toBe(first['certs/privkey.pem']);
    expect(forced['ca/ca.key']).toBe(first['ca/ca.key']);

    const plan = generate(state, ['--san', 'extra.localhost', '--dry-run']);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/would issue .*fullchain\.pem for DNS:extra\.localhost, DNS:localhost, IP:127\.0\.0\.1 .*SANs change/);
    expect(snapshot(state)).toEqual(forced);
    expect(generate(state, ['--san', 'extra.localhost']).code).toBe(0);
    expect(snapshot(state)['certs/fullchain.pem']).not.toBe(forced['certs/fullchain.pem']);
  });

  it('reissues a certificate inside the renewal window', () => {
    const state = join(tempDir(), 'state');
    expect(generate(state, ['--days', '10']).code).toBe(0);
    const result = generate(state, []);
    expect(result.stderr).toMatch(/only 9 days left/);
    expect(openssl(['x509', '-in', join(state, 'certs', 'fullchain.pem'), '-noout', '-checkend', String(300 * 86_400)]).code).toBe(0);
  });

  it('never replaces a certificate it did not issue (certbot) unless --force', () => {
    const state = join(tempDir(), 'state');
    const certs = join(state, 'certs');
    mkdirSync(certs, { recursive: true });
    // Like a Let's Encrypt certificate: signed by another CA.
    openssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=Other CA',
      '-days',
      '30',
      '-keyout',
      join(state, 'other.key'),
      '-out',
      join(state, 'other.pem'),
    ]);
    openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', join(certs, 'privkey.pem'), '-out', join(state, 'leaf.csr')]);
    openssl([
      'x509',
      '-req',
      '-in',
      join(state, 'leaf.csr'),
      '-CA',
      join(state, 'other.pem'),
      '-CAkey',
      join(state, 'other.key'),
      '-days',
      '2',
      '-out',
      join(certs, 'fullchain.pem'),
    ]);
    const before = snapshot(state)['certs/fullchain.pem'];
    const kept = generate(state, []);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stderr).toMatch(/keep .*fullchain\.pem: issued by CN=Other CA, not by this script; pass --force to replace it/);
    expect(snapshot(state)['certs/fullchain.pem']).toBe(before);
    expect(generate(state, ['--force']).code).toBe(0);
    expect(snapshot(state)['certs/fullchain.pem']).not.toBe(before);
  });
});

describe('generate-certs.ts --mode self-signed', () => {
  it('makes one self-signed certificate with the dev names, trusted as its own CA', () => {
    const state = join(tempDir(), 'state');
    const result = generate(state, ['--mode', 'self-signed']);
    expect(result.code, result.stderr).toBe(0);
    const certs = join(state, 'certs');
    expect(existsSync(join(state, 'ca', 'ca.key'))).toBe(false);
    expect(openssl(['verify', '-purpose', 'sslserver', '-CAfile', join(certs, 'ca.pem'), join(certs, 'fullchain.pem')]).code).toBe(0);
    const text = openssl(['x509', '-in', join(certs, 'fullchain.pem'), '-noout', '-subject', '-issuer', '-ext', 'subjectAltName']).out;
    expect(text).toContain('subject=CN = localhost, O = HealthMate');
    expect(text).toContain('issuer=CN = localhost, O = HealthMate');
    expect(text).toContain('DNS:localhost, IP Address:127.0.0.1');
    // Switching to the CA mode replaces the self-signed certificate.
    expect(generate(state, ['--mode', 'ca']).stderr).toMatch(/not signed by the current local CA/);
  });
});

describe('generate-certs.ts refuses bad input, changing nothing (exit 2)', () => {
  it('an invalid --san or domain', () => {
    const state = join(tempDir(), 'state');
    const bad = generate(state, ['--san', 'not a name']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--san "not a name" is neither a DNS name nor an IP address');
    const domain = generate(state, ['--set', 'DOMAIN=-bad-.example']);
    expect(domain.code).toBe(2);
    expect(domain.stderr).toContain('DOMAIN (from --set) must be a DNS name');
    expect(existsSync(state)).toBe(false);
  });

  it('an unwritable certificate folder', () => {
    const root = tempDir();
    // A file where a folder should be: unwritable even for root.
    writeFileSync(join(root, 'not-a-folder'), '');
    const result = generate(join(root, 'not-a-folder', 'state'), []);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/certificate folder .*not-a-folder\/state\/ca is not writable \(ENOTDIR\); nothing was changed\./);
  });

  it('an existing key that does not match its certificate, even with --force', () => {
    const state = join(tempDir(), 'state');
    expect(generate(state, []).code).toBe(0);
    const otherKey = openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']);
    writeFileSync(join(state, 'certs', 'privkey.pem'), otherKey.out);
    const before = snapshot(state);
    for (const extra of [[], ['--force']]) {
      const result = generate(state, extra);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/privkey\.pem does not match the certificate .*fullchain\.pem; nothing was changed/);
    }
    expect(snapshot(state)).toEqual(before);
  });
});

describe('check-certs.ts', () => {
  it('reports each certificate, writes the expiry metric and fails inside --warn-days', () => {
    const state = join(tempDir(), 'state');
    expect(generate(state, ['--days', '30']).code).toBe(0);
    const ok = runScript('check-certs.ts', ['--env', 'dev', '--set', `STATE_DIR=${state}`]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/certs\/fullchain\.pem: ok\n {2}subject: CN=localhost, O=HealthMate\n {2}issuer: {2}CN=HealthMate dev local CA/);
    expect(ok.stdout).toMatch(/SANs: {4}DNS:localhost, IP:127\.0\.0\.1/);
    expect(ok.stdout).toMatch(/\((29|30) days left\)/);

    const metrics = readFileSync(join(state, 'textfile', 'healthmate_certificates.prom'), 'utf8');
    expect(metrics).toContain('# TYPE healthmate_certificate_expiry_timestamp_seconds gauge');
    const line = metrics.split('\n').find((l) => l.includes('file="certs/fullchain.pem"')) as string;
    expect(line).toMatch(/^healthmate_certificate_expiry_timestamp_seconds\{file="certs\/fullchain\.pem",subject="CN=localhost, O=HealthMate"\} \d+$/);
    const notAfter = openssl(['x509', '-in', join(state, 'certs', 'fullchain.pem'), '-noout', '-enddate'])
      .out.replace('notAfter=', '')
      .trim();
    expect(Number(line.split(' ').at(-1))).toBe(Date.parse(notAfter) / 1000);
    // promtool accepts the file as exposition format.
    const lint = spawnSync(needTool('promtool'), ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
    expect(lint.status, lint.stdout + lint.stderr).toBe(0);

    const warned = runScript('check-certs.ts', ['--env', 'dev', '--set', `STATE_DIR=${state}`, '--warn-days', '45']);
    expect(warned.code).toBe(1);
    expect(warned.stdout).toMatch(/certs\/fullchain\.pem: PROBLEM: expires in (29|30) days \(under 45\)/);
    expect(warned.stderr).toContain('certs/fullchain.pem');
  });

  it('fails when there is no certificate at all', () => {
    const state = join(tempDir(), 'state');
    const result = runScript('check-certs.ts', ['--env', 'dev', '--set', `STATE_DIR=${state}`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no server certificate in .*state\/certs\./);
    expect(result.stderr).toContain('generate-certs.ts --env dev');
  });
});

describe('generate-certs.ts --mode import (a certbot certificate)', () => {
  /** A live/<domain>-like folder: leaf for `name` signed by another CA, fullchain = leaf + issuer. */
  function certbotFolder(root: string, name: string): string {
    const live = join(root, 'live');
    mkdirSync(live, { recursive: true });
    const ext = join(root, 'ext.cnf');
    writeFileSync(ext, `subjectAltName=DNS:${name}\nextendedKeyUsage=serverAuth\n`);
    openssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=Fake LE R3',
      '-days',
      '30',
      '-keyout',
      join(root, 'issuer.key'),
      '-out',
      join(live, 'chain.pem'),
    ]);
    openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', join(live, 'privkey.pem'), '-out', join(root, 'leaf.csr')]);
    openssl([
      'x509',
      '-req',
      '-in',
      join(root, 'leaf.csr'),
      '-CA',
      join(live, 'chain.pem'),
      '-CAkey',
      join(root, 'issuer.key'),
      '-days',
      '90',
      '-extfile',
      ext,
      '-out',
      join(root, 'leaf.pem'),
    ]);
    writeFileSync(join(live, 'fullchain.pem'), readFileSync(join(root, 'leaf.pem'), 'utf8') + readFileSync(join(live, 'chain.pem'), 'utf8'));
    return live;
  }

  it('installs a checked certificate, which generate-certs then keeps', () => {
    const root = tempDir();
    const state = join(root, 'state');
    expect(generate(state, []).code).toBe(0);
    const live = certbotFolder(root, 'localhost');
    const imported = generate(state, ['--mode', 'import', '--from', live]);
    expect(imported.code, imported.stderr).toBe(0);
    expect(readFileSync(join(state, 'certs', 'fullchain.pem'), 'utf8')).toBe(readFileSync(join(live, 'fullchain.pem'), 'utf8'));
    expect(mode(join(state, 'certs', 'privkey.pem'))).toBe(0o600);
    expect(generate(state, ['--mode', 'import', '--from', live]).stdout).toContain('certificates unchanged');
    const kept = generate(state, ['--mode', 'ca']);
    expect(kept.stderr).toMatch(/keep .*fullchain\.pem: issued by CN=Fake LE R3/);
    expect(readFileSync(join(state, 'certs', 'fullchain.pem'), 'utf8')).toBe(readFileSync(join(live, 'fullchain.pem'), 'utf8'));
  });

  it('refuses a certificate for another name or with a foreign key, changing nothing', () => {
    const root = tempDir();
    const state = join(root, 'state');
    expect(generate(state, []).code).toBe(0);
    const before = snapshot(state);
    const other = certbotFolder(join(root, 'other'), 'api.somewhere-else.org');
    const wrongName = generate(state, ['--mode', 'import', '--from', other]);
    expect(wrongName.code).toBe(2);
    expect(wrongName.stderr).toMatch(/does not cover DOMAIN localhost \(its names: DNS:api\.somewhere-else\.org\); nothing was changed\./);

    const live = certbotFolder(join(root, 'mine'), 'localhost');
    writeFileSync(join(live, 'privkey.pem'), openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']).out);
    const wrongKey = generate(state, ['--mode', 'import', '--from', live]);
    expect(wrongKey.code).toBe(2);
    expect(wrongKey.stderr).toMatch(/privkey\.pem does not match .*fullchain\.pem; nothing was changed\./);
    expect(snapshot(state)).toEqual(before);
  });
});
