import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, PG_BIN, startCluster } from '../backup/cluster.js';
import { waitFor } from '../helpers/net.js';
import { needTool } from '../helpers/tools.js';
import { docker } from './harness/docker.js';
import { type Dockerd, startDockerd } from './harness/dockerd.js';
import { buildBackend, buildStandIns, type StandInImages } from './harness/images.js';
import { type Load, type LoadReport, startLoad } from './harness/load.js';
import { alertmanagerAlerts, auditLines, httpsGet, prometheusTargets, promQuery } from './harness/probe.js';
import { prepareStack, removeProject, type Stack } from './harness/stack.js';
import { Timings } from './harness/timings.js';

/**
 * The production stack for real: deploy-prod.ts against a private dockerd with
 * stand-in images, then redeploys under load, a failing release, a backup that
 * restores, and an alert that reaches Alertmanager. Scenarios run in order on one stack.
 */

const TAG_1 = '1.0.0';
const TAG_2 = '1.1.0';
const TAG_BROKEN = '1.2.0';
const REPLICAS = 2;

// Test-only timings (the repo copy only): every monitoring timing divided by three (15s → 5s,
// for: 1m → 20s), so an alert fires in seconds while the ratios between them stay as in production.
const FAST_MONITORING: Record<string, (text: string) => string> = {
  'monitoring/prometheus.yml': (text) =>
    text
      .replace(/scrape_interval: 15s/, 'scrape_interval: 5s')
      .replace(/evaluation_interval: 15s/, 'evaluation_interval: 5s')
      .replace(/scrape_timeout: 10s/, 'scrape_timeout: 4s')
      .replace(/refresh_interval: 15s/g, 'refresh_interval: 5s'),
  'monitoring/rules/healthmate_rules.yml': (text) => text.replace(/(alert: BackendReplicaDown\n(?:.*\n)*?\s+for: )1m/, '$120s'),
};

describe('production stack (deploy-prod.ts, docker-compose, stand-in images)', () => {
  const timings = new Timings();
  let daemon: Dockerd;
  let images: StandInImages;
  let stack: Stack;
  let ageIdentity: string;
  const loads: Load[] = [];

  // Redeploys skip the pre-migration backup: scenario 4 runs the same `backup-db.ts --compose` on its
  // own, so a backup problem shows there and does not hide the rolling-update results.
  const deploy = (tag: string, extra: string[] = []): ReturnType<Stack['run']> =>
    stack.run('deploy-prod.ts', ['--env', 'prod', '--env-file', stack.envFile, '--set', `BACKEND_TAG=${tag}`, ...extra], 600_000);
  const backendImages = (): string[] =>
    docker(daemon, [
      'ps',
      '--filter',
      `label=com.docker.compose.project=${stack.project}`,
      '--filter',
      'label=com.docker.compose.service=backend',
      '--format',
      '{{.Image}}',
    ])
      .split('\n')
      .filter(Boolean);
  const versionsThroughNginx = async (count: number): Promise<string[]> => {
    const seen: string[] = [];
    for (let i = 0; i < count; i++) {
      const answer = await httpsGet(stack.domain, stack.httpsPort, '/version', stack.caFile);
      seen.push((JSON.parse(answer.body) as { version: string }).version);
    }
    return seen;
  };
  const underLoad = async (what: string, fn: () => ReturnType<Stack['run']>): Promise<{ result: ReturnType<Stack['run']>; report: LoadReport }> => {
    const load = startLoad({ url: `https://${stack.domain}:${stack.httpsPort}/health`, ca: stack.caFile });
    loads.push(load);
    // The generator must be sending before the deploy starts.
    await new Promise((r) => setTimeout(r, 2_000));
    const result = await timings.time(what, fn);
    const report = await load.stop();
    timings.note(`${what}: load`, report);
    return { result, report };
  };

  beforeAll(async () => {
    needTool('docker-compose');
    needTool('age-keygen');
    daemon = await timings.time('dockerd start', startDockerd);
    images = await timings.time('image build (base + stand-ins)', () => buildStandIns(daemon, (line) => console.log(`e2e: ${line}`)));
    await timings.time('image build (backend releases)', () => {
      buildBackend(daemon, images, TAG_1);
      buildBackend(daemon, images, TAG_2);
      buildBackend(daemon, images, TAG_BROKEN, false);
    });
    // Backups are encrypted in prod: a throwaway age key pair.
    const keys = join(daemon.root, 'age');
    mkdirSync(keys, { mode: 0o700 });
    ageIdentity = join(keys, 'identity.txt');
    const keygen = spawnSync('age-keygen', ['-o', ageIdentity], { encoding: 'utf8' });
    const recipient = /Public key: (age1\w+)/.exec(keygen.stderr)?.[1];
    if (!recipient) throw new Error(`age-keygen failed: ${keygen.stderr}`);
    writeFileSync(join(keys, 'recipients.txt'), `${recipient}\n`);
    stack = await prepareStack(daemon, images, {
      env: 'prod',
      vars: {
        BACKEND_TAG: TAG_1,
        BACKEND_REPLICAS: String(REPLICAS),
        WORKER_REPLICAS: '1',
        BACKEND_HEALTH_TIMEOUT: '45',
        BACKUP_AGE_RECIPIENTS_FILE: join(keys, 'recipients.txt'),
        // No offsite remote in this harness; test/backup/offsite.test.ts proves the copy against a real SFTP server.
        BACKUP_OFFSITE_REMOTE: '',
      },
      edit: FAST_MONITORING,
    });
  });

  afterAll(async () => {
    for (const load of loads) load.kill();
    if (daemon) {
      if (stack) removeProject(daemon, stack.project);
      await timings.time('teardown', () => daemon.stop());
    }
    timings.write('timings-prod.json');
  });

  it('1. deploy-prod.ts from nothing: every container healthy, HTTPS /health verifies against the generated CA, every Prometheus target up, Alertmanager ready', async () => {
    const result = await timings.time('scenario 1: first deploy (bring-up)', () => deploy(TAG_1));
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);

    // Every container running, and every healthcheck passing (exporters finish starting just after the deploy).
    const states = (): string[] =>
      docker(daemon, ['ps', '-a', '--filter', `label=com.docker.compose.project=${stack.project}`, '--format', '{{.Names}} {{.State}} {{.Status}}'])
        .split('\n')
        .filter(Boolean);
    await waitFor(
      'every container running and healthy',
      () => states().every((line) => / running /.test(line) && !/unhealthy|starting/.test(line)),
      120_000,
      2_000,
    ).catch((error) => {
      throw new Error(`${error}:\n${states().join('\n')}`);
    });
    expect(states().length).toBeGreaterThanOrEqual(14);
    expect(backendImages()).toEqual(Array(REPLICAS).fill(`${images.backendRepository}:${TAG_1}`));

    // Verified against the CA generate-certs.ts made, with the production name (SNI + Host).
    const health = await httpsGet(stack.domain, stack.httpsPort, '/health', stack.caFile);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'healthy', version: TAG_1 });

    await waitFor(
      'every Prometheus target up',
      async () => {
        const targets = await prometheusTargets();
        return targets.length > 0 && targets.every((t) => t.health === 'up');
      },
      90_000,
      2_000,
    ).catch(async (error) => {
      const down = (await prometheusTargets()).filter((t) => t.health !== 'up').map((t) => `${t.scrapeUrl}: ${t.lastError}`);
      throw new Error(`${error}: ${down.join('; ')}`);
    });
    const jobs = new Set((await prometheusTargets()).map((t) => t.labels.job));
    for (const job of ['prometheus', 'backend', 'postgres', 'redis', 'node', 'nginx', 'blackbox', 'alertmanager', 'grafana']) expect(jobs).toContain(job);
    expect((await prometheusTargets()).filter((t) => t.labels.job === 'backend')).toHaveLength(REPLICAS);

    const ready = await fetch('http://127.0.0.1:9093/-/ready');
    expect(ready.status).toBe(200);

    // The blackbox probe of the public endpoint must succeed too, or PublicEndpointDown pages forever.
    await waitFor(
      'probe_success of the public HTTPS endpoint',
      async () => (await promQuery('probe_success')).some((r) => r.value[1] === '1'),
      60_000,
      2_000,
    ).catch(async (error) => {
      throw new Error(`${error}: ${JSON.stringify(await promQuery('probe_success'))}`);
    });
  });

  it('2. redeploy with a new backend tag under continuous load: 0 failed requests, every replica on the new tag, audit log records it', async () => {
    const { result, report } = await underLoad('scenario 2: rolling redeploy', () => deploy(TAG_2, ['--skip-backup']));
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(report.requests).toBeGreaterThan(100);
    expect(report.failed, JSON.stringify(report)).toBe(0);
    // Both releases answered during the rollout: the switch happened under load.
    expect(Object.keys(report.versions).sort()).toEqual([TAG_1, TAG_2]);

    expect(backendImages()).toEqual(Array(REPLICAS).fill(`${images.backendRepository}:${TAG_2}`));
    expect(new Set(await versionsThroughNginx(10))).toEqual(new Set([TAG_2]));
    const last = auditLines(stack.stateDir).at(-1);
    expect(last).toMatchObject({ action: 'deploy', tag: TAG_2, result: 'success', previousTag: TAG_1 });
  });

  it('3. a release that fails its health check: automatic rollback, the old tag keeps serving with 0 failed requests, exit code != 0, audit log records the failure', async () => {
    const { result, report } = await underLoad('scenario 3: failing release and rollback', () => deploy(TAG_BROKEN, ['--skip-backup']));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/health/i);
    expect(report.requests).toBeGreaterThan(100);
    expect(report.failed, JSON.stringify(report)).toBe(0);
    expect(Object.keys(report.versions)).toEqual([TAG_2]);

    expect(backendImages()).toEqual(Array(REPLICAS).fill(`${images.backendRepository}:${TAG_2}`));
    expect(new Set(await versionsThroughNginx(10))).toEqual(new Set([TAG_2]));
    const last = auditLines(stack.stateDir).at(-1);
    expect(last?.tag).toBe(TAG_BROKEN);
    expect(last?.result).toMatch(/failed|rolled-back/);
  });

  it('4. backup-db.ts --compose against the running stack: a verified artifact that restore-db.ts restores', async () => {
    const marker = `e2e-${Date.now()}`;
    const psql = (sql: string) =>
      stack.compose(['exec', '-T', 'postgres', 'psql', '-v', 'ON_ERROR_STOP=1', '-X', '-A', '-t', '-U', 'healthmate_user', '-d', 'healthmate', '-c', sql]);
    const created = psql(
      `CREATE TABLE e2e_marker (id serial PRIMARY KEY, note text); INSERT INTO e2e_marker (note) SELECT '${marker}-' || g FROM generate_series(1, 500) g;`,
    );
    expect(created.code, created.stderr).toBe(0);

    const backup = await timings.time('scenario 4: backup-db --compose', () =>
      stack.run('backup-db.ts', ['--env', 'prod', '--env-file', stack.envFile, '--compose'], 240_000),
    );
    expect(backup.code, `${backup.stdout}\n${backup.stderr}`).toBe(0);
    const verify = stack.run('restore-db.ts', ['--env', 'prod', '--env-file', stack.envFile, '--latest', '--verify', '--identity', ageIdentity]);
    expect(verify.code, `${verify.stdout}\n${verify.stderr}`).toBe(0);

    // Restore into a separate PostgreSQL 15 on the host, then compare the marker rows.
    // Not under the daemon's 0700 root: initdb runs as the postgres user and must reach its folder.
    const clusterDir = mkdtempSync(join(tmpdir(), 'hm-e2e-restore-'));
    let cluster: Cluster | undefined;
    try {
      cluster = await startCluster(clusterDir);
      const target = cluster;
      // The prod policy refuses the test cluster's fixed password ("...Password..."): give the role a strong one.
      const password = randomBytes(24).toString('base64url');
      target.sql(`ALTER ROLE ${target.user} PASSWORD '${password}'`);
      // restore-db.ts connects to POSTGRES_DB first, as on the production server.
      target.sql('CREATE DATABASE healthmate');
      // The target's address and role come from the process env, which beats the env file.
      const restored = await timings.time('scenario 4: restore-db', () =>
        spawnSync(
          'npx',
          ['tsx', 'scripts/restore-db.ts', '--env', 'prod', '--env-file', stack.envFile, '--latest', '--identity', ageIdentity, '--target-db', 'restored'],
          {
            cwd: stack.repo,
            encoding: 'utf8',
            env: {
              ...stack.scriptEnv,
              PATH: `${PG_BIN}:${process.env.PATH ?? ''}`,
              BACKUP_DB_HOST: '127.0.0.1',
              BACKUP_DB_PORT: String(target.port),
              POSTGRES_USER: target.user,
              POSTGRES_PASSWORD: password,
            },
          },
        ),
      );
      expect(restored.status, `${restored.stdout}\n${restored.stderr}`).toBe(0);
      expect(cluster.sql(`SELECT count(*) FROM e2e_marker WHERE note LIKE '${marker}-%'`, 'restored')).toBe('500');
    } finally {
      cluster?.stop('immediate');
      rmSync(clusterDir, { recursive: true, force: true });
    }
  });

  it('5. reload-prometheus.ts against the running Prometheus; a frozen backend replica makes BackendReplicaDown reach Alertmanager', async () => {
    const reload = stack.run('reload-prometheus.ts', ['--env', 'prod', '--env-file', stack.envFile, '--url', 'http://127.0.0.1:9090']);
    expect(reload.code, `${reload.stdout}\n${reload.stderr}`).toBe(0);

    const [victim] = docker(daemon, [
      'ps',
      '-q',
      '--filter',
      `label=com.docker.compose.project=${stack.project}`,
      '--filter',
      'label=com.docker.compose.service=backend',
    ])
      .split('\n')
      .filter(Boolean);
    expect(victim).toBeTruthy();
    // A frozen replica (every process stopped by the cgroup freezer) keeps its DNS name, so
    // Prometheus keeps scraping it and sees up == 0. A removed container leaves Docker's DNS,
    // and dns_sd drops its target instead: see docs/e2e.md (known gaps).
    docker(daemon, ['pause', victim as string]);
    try {
      await timings.time('scenario 5: replica frozen → alert at Alertmanager', () =>
        waitFor(
          'BackendReplicaDown at Alertmanager',
          async () => (await alertmanagerAlerts()).some((a) => a.labels.alertname === 'BackendReplicaDown'),
          120_000,
          2_000,
        ).catch(async (error) => {
          const targets = (await prometheusTargets()).filter((t) => t.labels.job === 'backend').map((t) => `${t.scrapeUrl} ${t.health}`);
          throw new Error(`${error}; backend targets Prometheus sees now: ${targets.join(', ') || 'none'}`);
        }),
      );
    } finally {
      docker(daemon, ['unpause', victim as string]);
    }
  });
});
