import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyClusterCerts, clusterCertRequest, describeClusterPlan, planClusterCerts } from '../../scripts/lib/certs/cluster.js';
import { certificateSans, readCertificate } from '../../scripts/lib/certs/inspect.js';
import { runScript } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';
import { testEnv } from '../stack/env.js';

const THREE = {
  HOST_DB1: 'engine=ssh://deploy@db1.internal roles=db,app address=10.0.0.11',
  HOST_DB2: 'engine=ssh://deploy@db2.internal roles=db address=10.0.0.12',
  HOST_DB3: 'engine=ssh://deploy@db3.internal roles=db address=10.0.0.13',
  HOST_WEB: 'engine=ssh://deploy@web.internal roles=app address=10.0.0.20',
};
const OPTIONS = { extraSans: [], bits: 2048, days: 90, force: false };

function withCa(overrides: Record<string, string> = {}) {
  const { env, stateDir } = testEnv('prod', overrides);
  const ca = runScript('generate-certs.ts', ['--env', 'dev', '--set', `STATE_DIR=${stateDir}`, '--mode', 'ca']);
  expect(ca.code, ca.stderr).toBe(0);
  return { env, stateDir };
}

describe('generate-certs.ts --profile cluster', () => {
  it('issues an etcd and a Patroni certificate per db host (service name, address, loopback), the CA copy, and keeps them on a second run', async () => {
    const { env, stateDir } = withCa(THREE);
    const plan = planClusterCerts(clusterCertRequest(env, OPTIONS));
    expect(plan.certs.map((c) => `${c.host}/${c.component}:${c.action}`)).toEqual([
      'db1/etcd:issue',
      'db1/postgres:issue',
      'db2/etcd:issue',
      'db2/postgres:issue',
      'db3/etcd:issue',
      'db3/postgres:issue',
    ]);
    await applyClusterCerts(plan);
    const cert = (host: string, component: string) => readCertificate(join(stateDir, 'cluster', 'tls', host, component, 'cert.pem'));
    expect(certificateSans(cert('db2', 'etcd') as never)).toEqual(['DNS:etcd', 'DNS:localhost', 'IP:10.0.0.12', 'IP:127.0.0.1']);
    expect(certificateSans(cert('db3', 'postgres') as never)).toEqual(['DNS:localhost', 'DNS:postgres', 'IP:10.0.0.13', 'IP:127.0.0.1']);
    expect(cert('db1', 'postgres')?.subject).toContain('CN=db1-postgres');
    // The app-only host gets no member certificate.
    expect(readdirSync(join(stateDir, 'cluster', 'tls')).sort()).toEqual(['db1', 'db2', 'db3']);
    // Signed by the project CA: openssl verifies server and client use against the CA copy HAProxy and Prometheus mount.
    const ca = join(stateDir, 'cluster', 'ca', 'ca.pem');
    expect(readFileSync(ca, 'utf8')).toBe(readFileSync(join(stateDir, 'ca', 'ca.pem'), 'utf8'));
    for (const purpose of ['sslserver', 'sslclient']) {
      const verify = spawnSync(needTool('openssl'), ['verify', '-purpose', purpose, '-CAfile', ca, join(stateDir, 'cluster/tls/db1/etcd/cert.pem')], {
        encoding: 'utf8',
      });
      expect(verify.stdout + verify.stderr).toMatch(/: OK/);
    }
    const key = statSync(join(stateDir, 'cluster/tls/db1/postgres/key.pem'));
    expect(key.mode & 0o777).toBe(process.getuid?.() === 0 ? 0o640 : 0o600);
    // Idempotent: everything kept; --force issues them all again.
    const again = planClusterCerts(clusterCertRequest(env, OPTIONS));
    expect([...again.certs.map((c) => c.action), again.ca.action]).toEqual([...Array(6).fill('keep'), 'keep']);
    expect(await applyClusterCerts(again)).toEqual([]);
    expect(planClusterCerts(clusterCertRequest(env, { ...OPTIONS, force: true })).certs.every((c) => c.action === 'issue')).toBe(true);
  });

  it('issues again what a changed address or a new CA makes stale', async () => {
    const { env, stateDir } = withCa(THREE);
    await applyClusterCerts(planClusterCerts(clusterCertRequest(env, OPTIONS)));
    const moved = testEnv('prod', { ...THREE, HOST_DB2: 'engine=ssh://deploy@db2.internal roles=db address=10.0.0.22', STATE_DIR: stateDir }).env;
    const plan = planClusterCerts(clusterCertRequest(moved, OPTIONS));
    expect(plan.certs.filter((c) => c.action === 'issue').map((c) => `${c.host}/${c.component}: ${c.reason}`)).toEqual([
      'db2/etcd: SANs change to DNS:etcd, DNS:localhost, IP:10.0.0.22, IP:127.0.0.1',
      'db2/postgres: SANs change to DNS:localhost, DNS:postgres, IP:10.0.0.22, IP:127.0.0.1',
    ]);
    const ca = runScript('generate-certs.ts', ['--env', 'dev', '--set', `STATE_DIR=${stateDir}`, '--mode', 'ca', '--force']);
    expect(ca.code, ca.stderr).toBe(0);
    // --force keeps the CA: nothing to do. A new CA (folder removed) makes every certificate and the copy stale.
    expect(planClusterCerts(clusterCertRequest(env, OPTIONS)).ca.action).toBe('keep');
    spawnSync('rm', ['-rf', join(stateDir, 'ca')]);
    expect(runScript('generate-certs.ts', ['--env', 'dev', '--set', `STATE_DIR=${stateDir}`, '--mode', 'ca']).code).toBe(0);
    const renewed = planClusterCerts(clusterCertRequest(env, OPTIONS));
    expect(new Set(renewed.certs.map((c) => c.reason))).toEqual(new Set(['not signed by the current local CA']));
    expect(renewed.ca).toMatchObject({ action: 'write', reason: 'the local CA changed' });
  });

  it('--dry-run prints the plan and writes nothing; no CA: one sentence, exit 2', () => {
    const dir = tempDir();
    const state = join(dir, 'state');
    const none = runScript('generate-certs.ts', ['--env', 'dev', '--set', `STATE_DIR=${state}`, '--profile', 'cluster']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no local CA in .*: the cluster certificates are signed by it; run generate-certs\.ts --mode ca first\./);
    expect(runScript('generate-certs.ts', ['--env', 'dev', '--set', `STATE_DIR=${state}`, '--mode', 'ca']).code).toBe(0);
    const dry = runScript('generate-certs.ts', ['--env', 'dev', '--set', `STATE_DIR=${state}`, '--profile', 'cluster', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(
      /^would issue the etcd member certificate of host main .*CN=main-etcd SANs etcd, localhost, 127\.0\.0\.1 .*: no certificate yet$/m,
    );
    expect(dry.stdout).toMatch(/^would write the CA certificate for HAProxy and Prometheus .*cluster\/ca\/ca\.pem: no copy yet$/m);
    expect(existsSync(join(state, 'cluster'))).toBe(false);
    expect(describeClusterPlan(planClusterCerts(clusterCertRequest(testEnv('dev', { STATE_DIR: state }).env, OPTIONS)))).toHaveLength(3);
  });
});
