import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '../helpers/net.js';
import { runScriptAsync, type ScriptResult } from '../helpers/run.js';
import { needTool } from '../helpers/tools.js';
import { docker, dockerProbe } from './harness/docker.js';
import { type Dockerd, startDockerd } from './harness/dockerd.js';
import { buildBackend, buildStandIns, type StandInImages } from './harness/images.js';
import { type Load, type LoadReport, startLoad } from './harness/load.js';
import { alertmanagerAlerts, auditLines, getJson, httpsGet, prometheusTargets, promQuery } from './harness/probe.js';
import { composeProbe, prepareStack, removeProject, type Stack } from './harness/stack.js';
import { Timings } from './harness/timings.js';

/**
 * The faults operators meet, on one production stack under the load generator:
 * PostgreSQL killed mid-deploy, the backup disk full, the backend cut off from
 * PostgreSQL, a replica removed, and the Docker daemon restarted. Each scenario
 * prints what an operator wants to know and keeps its figures (time to alert,
 * time to recover, requests lost) in timings-chaos.json for docs/e2e.md.
 */

const TAG_1 = '1.0.0';
const TAG_2 = '1.1.0';
const REPLICAS = 2;

// Test-only timings, as in prod.test.ts: 5 s scrapes (÷3) and, for the alerts these scenarios wait
// for, `for: 1m` → 20s. Only those: check.ts runs the promtool unit tests against this copy too.
const CHAOS_ALERTS = ['PostgresDown', 'BackendDependencyDown', 'BackendReplicasMissing'];
const scaleChaosAlerts = (text: string): string =>
  CHAOS_ALERTS.reduce((out, name) => out.replace(new RegExp(`(alert: ${name}\\n(?:.*\\n)*?\\s+for: )1m`), '$120s'), text);
const FAST_MONITORING: Record<string, (text: string) => string> = {
  'monitoring/prometheus.yml': (text) =>
    text
      .replace(/scrape_interval: 15s/, 'scrape_interval: 5s')
      .replace(/evaluation_interval: 15s/, 'evaluation_interval: 5s')
      .replace(/scrape_timeout: 10s/, 'scrape_timeout: 4s')
      .replace(/refresh_interval: 15s/g, 'refresh_interval: 5s'),
  'monitoring/rules/healthmate_rules.yml': scaleChaosAlerts,
};

// Scenario 1. PostgresDown resolves one scrape and one evaluation (5 s each here) after the exporter
// reaches PostgreSQL again: two minutes is room for a busy box, not a figure (the figure is reported).
const POSTGRES_DOWN_RESOLVES_WITHIN_MS = 120_000;
// The goal is at most 2 s of failed traffic after the database answers again (docs/e2e.md reports the
// figure): PostgreSQL runs under Patroni, so "answers" is the member leading with PostgreSQL taking
// writes, what HAProxy's write backend checks. The test allows more, for a busy box, and still fails
// on the old behaviour: nginx then rested both replicas for up to fail_timeout (10 s) after they were
// healthy again.
const FAILED_AFTER_DATABASE_BACK_LIMIT_S = 5;

/** One scenario's figures, printed and kept for docs/e2e.md. */
interface Figures {
  outcome: string;
  timeToAlertSeconds?: number;
  timeToRecoverSeconds?: number;
  /** Requests the load generator saw fail while the fault lasted and after it (goal 0 once recovered). */
  lostDuringFault?: number;
  /** From the fix until every healthcheck is green again (reported, not asserted). */
  lostWhileRecovering?: number;
  /** Scenario 1: from the database leading again (Patroni's /primary) until the last failed request (goal ≤ 2 s). */
  failedAfterDatabaseBack?: FailuresSince;
  lostAfterRecovery?: number;
  load?: Partial<LoadReport>;
}

interface FailuresSince {
  /** From the moment until the last failure seen (0 when none). */
  seconds: number;
  requests: number;
  /** Statuses and error codes, with counts. */
  what: Record<string, number>;
}

const seconds = (ms: number): number => Math.round(ms / 100) / 10;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The failures a load saw from `since` (ms since the epoch) on. */
function failuresSince(report: LoadReport, since: number): FailuresSince {
  const late = report.failures.filter((failure) => failure.at >= since);
  const what: Record<string, number> = {};
  for (const failure of late) what[failure.what] = (what[failure.what] ?? 0) + 1;
  const last = late.reduce((latest, failure) => Math.max(latest, failure.at), since);
  return { seconds: seconds(last - since), requests: late.length, what };
}

describe('chaos: the faults operators meet, on one production stack under load', () => {
  const timings = new Timings();
  let daemon: Dockerd;
  let images: StandInImages;
  let stack: Stack;
  let ageIdentity: string;
  let backupFs: string;
  const loads: Load[] = [];

  const report = (scenario: string, figures: Figures): void => {
    console.log(`\nchaos ${scenario}:\n${JSON.stringify(figures, null, 2)}\n`);
    timings.note(scenario, figures);
  };
  const load = (path = '/health'): Load => {
    const started = startLoad({ url: `https://${stack.domain}:${stack.httpsPort}${path}`, ca: stack.caFile });
    loads.push(started);
    return started;
  };
  const brief = (r: LoadReport): Partial<LoadReport> => ({
    requests: r.requests,
    failed: r.failed,
    rawFailed: r.rawFailed,
    retries: r.retries,
    statuses: r.statuses,
    errors: r.errors,
  });
  /** A script of the stack's repo copy as a background process, so the test can act while it runs. */
  const runAsync = (script: string, args: string[]): Promise<ScriptResult> =>
    runScriptAsync(script, args, { root: stack.repo, env: stack.scriptEnv, timeoutMs: 600_000 });
  const repoProject = (): string => `${stack.project}-pgbackrest`;
  const deployArgs = (tag: string): string[] => ['--env', 'prod', '--env-file', stack.envFile, '--set', `BACKEND_TAG=${tag}`, '--skip-backup'];
  const containers = (service: string, all = false): string[] =>
    docker(daemon, [
      'ps',
      ...(all ? ['-a'] : []),
      '-q',
      '--filter',
      `label=com.docker.compose.project=${stack.project}`,
      '--filter',
      `label=com.docker.compose.service=${service}`,
    ])
      .split('\n')
      .filter(Boolean);
  const inspect = (id: string, format: string): string => dockerProbe(daemon, ['inspect', '--format', format, id]).stdout.trim();
  const backendImages = (): string[] => containers('backend').map((id) => inspect(id, '{{.Config.Image}}'));
  const projectStates = (): string[] =>
    docker(daemon, ['ps', '-a', '--filter', `label=com.docker.compose.project=${stack.project}`, '--format', '{{.Names}} {{.State}} {{.Status}}'])
      .split('\n')
      .filter(Boolean);
  const allHealthy = (): boolean => projectStates().every((line) => / running /.test(line) && !/unhealthy|starting/.test(line));
  const healthThroughNginx = async (): Promise<number> => (await httpsGet(stack.domain, stack.httpsPort, '/health', stack.caFile)).status;
  /** The replica's own /health, asked inside its container (nginx would hide which replica answered). */
  const replicaHealth = (id: string): { status: number; body: { status?: string; checks?: Record<string, string> } } => {
    const probe = dockerProbe(daemon, [
      'exec',
      id,
      'python',
      '-c',
      [
        'import urllib.request, urllib.error',
        'try:',
        "    r = urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=5); print(r.status); print(r.read().decode())",
        'except urllib.error.HTTPError as e:',
        '    print(e.code); print(e.read().decode())',
      ].join('\n'),
    ]);
    const [status = '0', body = '{}'] = probe.stdout.trim().split('\n');
    return { status: Number(status), body: JSON.parse(body) };
  };
  const activeAlerts = async (name: string, labels: Record<string, string> = {}) =>
    (await alertmanagerAlerts()).filter((a) => a.labels.alertname === name && Object.entries(labels).every(([k, v]) => a.labels[k] === v));
  /** Milliseconds from `since` until the alert is at Alertmanager (active or inhibited). */
  const alertReached = async (name: string, since: number, labels: Record<string, string> = {}, timeoutMs = 180_000): Promise<number> => {
    await waitFor(`${name} ${JSON.stringify(labels)} at Alertmanager`, async () => (await activeAlerts(name, labels)).length > 0, timeoutMs, 1_000).catch(
      async (error) => {
        const seen = (await alertmanagerAlerts()).map((a) => a.labels.alertname).join(', ');
        throw new Error(`${error}; Alertmanager has: ${seen || 'nothing'}`);
      },
    );
    return Date.now() - since;
  };
  const alertGone = (name: string, labels: Record<string, string> = {}, timeoutMs = 180_000): Promise<void> =>
    waitFor(`${name} resolved at Alertmanager`, async () => (await activeAlerts(name, labels)).length === 0, timeoutMs, 1_000);
  /**
   * Every scenario starts from a healthy stack, also after an earlier one failed half-way
   * (a killed PostgreSQL stays down until started): otherwise one failure hides the others.
   */
  const healthyBaseline = async (): Promise<void> => {
    for (const id of containers('postgres', true)) if (inspect(id, '{{.State.Status}}') !== 'running') docker(daemon, ['start', id]);
    await waitFor('every container running and healthy before the scenario', allHealthy, 300_000, 2_000).catch((error) => {
      throw new Error(`${error}:\n${projectStates().join('\n')}`);
    });
  };
  /**
   * When the database answers again (ms since the epoch), seen from inside the postgres container:
   * when PostgreSQL accepts connections (pg_isready), and when Patroni's REST API says this member
   * leads with PostgreSQL taking writes (GET /primary 200, what HAProxy's write backend checks):
   * PostgreSQL may accept connections first as a standby. Polled every 0.1 s, then the clock the
   * container shares with the host; through the engine, as nothing publishes these ports; one
   * `docker exec`, so its own start-up costs nothing.
   */
  const databaseBackAt = (id: string): { acceptingAt: number; leadingAt: number } => {
    const script = [
      'import ssl, subprocess, sys, time, urllib.request',
      "context = ssl.create_default_context(cafile='/etc/ssl/cluster/ca.pem')",
      'accepting, deadline = None, time.time() + 300',
      'while time.time() < deadline:',
      "    if accepting is None and subprocess.call(['pg_isready', '-q', '-h', '127.0.0.1']) == 0: accepting = int(time.time() * 1000)",
      '    try:',
      "        urllib.request.urlopen('https://127.0.0.1:8008/primary', timeout=2, context=context)",
      '        now = int(time.time() * 1000); print(accepting or now, now); sys.exit(0)',
      '    except Exception:',
      '        time.sleep(0.1)',
      'sys.exit(1)',
    ].join('\n');
    const probe = dockerProbe(daemon, ['exec', id, 'python3', '-c', script]);
    const [acceptingAt, leadingAt] = probe.stdout.trim().split(' ').map(Number);
    if (probe.code !== 0 || !Number.isSafeInteger(acceptingAt) || !Number.isSafeInteger(leadingAt))
      throw new Error(`the database did not lead again within 5 minutes: ${probe.stderr.trim()}`);
    return { acceptingAt: acceptingAt as number, leadingAt: leadingAt as number };
  };
  /** Load for a while on a recovered stack: every request must succeed. */
  const loadAfterRecovery = async (ms = 15_000): Promise<LoadReport> => {
    const after = load();
    await sleep(ms);
    return after.stop();
  };

  /** What nginx sees of the backend: the replicas' addresses now, what nginx resolves and used, its errors, the replicas' logs. */
  const edgeView = (): string => {
    const replicas = containers('backend');
    const addresses = replicas.map((id) => `${inspect(id, '{{.Name}}')} ${inspect(id, '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}')}`);
    const [nginx] = containers('nginx');
    if (!nginx) return `backend replicas: ${addresses.join('; ')}; no nginx container`;
    const resolved = dockerProbe(daemon, ['exec', nginx, 'getent', 'ahostsv4', 'backend']).stdout.match(/^\S+(?=\s+STREAM)/gm) ?? [];
    const logs = dockerProbe(daemon, ['logs', '--since', '30s', nginx]);
    const upstreams = new Map<string, number>();
    for (const line of logs.stdout.split('\n')) {
      const entry = /"upstream_addr":"([^"]*)","upstream_status":"([^"]*)"/.exec(line);
      if (entry) upstreams.set(`${entry[1] || '-'} ${entry[2] || '-'}`, (upstreams.get(`${entry[1] || '-'} ${entry[2] || '-'}`) ?? 0) + 1);
    }
    const errors = new Map<string, number>();
    for (const line of logs.stderr.split('\n').filter(Boolean)) {
      const key = line.replace(/^\S+ \S+ \[(\w+)\] \d+#\d+: \*\d+ /, '[$1] ').replace(/, client: .*?(, upstream: "[^"]*")?, host: .*$/, '$1');
      errors.set(key, (errors.get(key) ?? 0) + 1);
    }
    const watcher = dockerProbe(daemon, ['logs', nginx])
      .stderr.split('\n')
      .filter((line) => line.includes('reloading nginx'));
    const backendLogs = replicas.map(
      (id) => `${inspect(id, '{{.Name}}')} started ${inspect(id, '{{.State.StartedAt}}')}:\n${dockerProbe(daemon, ['logs', '--tail', '5', id]).stderr.trim()}`,
    );
    return [
      `backend replicas: ${addresses.join('; ')}`,
      `nginx (started ${inspect(nginx, '{{.State.StartedAt}}')}) resolves backend to: ${resolved.join(' ')}`,
      `nginx upstream_addr upstream_status in the last 30 s: ${[...upstreams].map(([k, n]) => `${k} ×${n}`).join('; ')}`,
      `nginx errors in the last 30 s:\n${[...errors].map(([k, n]) => `  ${n}× ${k}`).join('\n')}`,
      `watcher reloads: ${watcher.join(' | ') || 'none'}`,
      ...backendLogs,
      ...containers('postgres').map(
        (id) =>
          `postgres (started ${inspect(id, '{{.State.StartedAt}}')}, restarts ${inspect(id, '{{.RestartCount}}')}):\n${dockerProbe(daemon, ['logs', '--tail', '25', id]).stderr.trim()}`,
      ),
    ].join('\n');
  };

  beforeAll(async () => {
    needTool('docker-compose');
    needTool('age-keygen');
    daemon = await timings.time('dockerd start', startDockerd);
    images = await timings.time('image build (base + stand-ins)', () => buildStandIns(daemon, (line) => console.log(`e2e: ${line}`)));
    await timings.time('image build (backend releases)', () => {
      buildBackend(daemon, images, TAG_1);
      buildBackend(daemon, images, TAG_2);
    });
    const keys = join(daemon.root, 'age');
    mkdirSync(keys, { mode: 0o700 });
    ageIdentity = join(keys, 'identity.txt');
    const keygen = spawnSync('age-keygen', ['-o', ageIdentity], { encoding: 'utf8' });
    const recipient = /Public key: (age1\w+)/.exec(keygen.stderr)?.[1];
    if (!recipient) throw new Error(`age-keygen failed: ${keygen.stderr}`);
    writeFileSync(join(keys, 'recipients.txt'), `${recipient}\n`);
    // The backup folder on its own small filesystem (scenario 2 fills it). Under the daemon's
    // root, so the harness unmounts it at teardown whatever happens.
    backupFs = join(daemon.root, 'backup-fs');
    mkdirSync(backupFs);
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1g,mode=0700', 'tmpfs', backupFs], { encoding: 'utf8' });
    if (mount.status !== 0) throw new Error(`mounting a tmpfs for the backups needs root: ${mount.stderr}`);
    // WAL archiving works as in production: a repository-host container on the same engine (single-host),
    // its folder owned by its uid. Without it every archive-push fails, and PostgreSQL's shutdown (a
    // daemon restart) waits on the archiver.
    const repoDir = join(daemon.root, 'pgbackrest-repo');
    mkdirSync(repoDir, { mode: 0o750 });
    chownSync(repoDir, 999, 999);
    stack = await prepareStack(daemon, images, {
      env: 'prod',
      vars: {
        BACKEND_TAG: TAG_1,
        BACKEND_REPLICAS: String(REPLICAS),
        WORKER_REPLICAS: '1',
        BACKEND_HEALTH_TIMEOUT: '45',
        BACKUP_AGE_RECIPIENTS_FILE: join(keys, 'recipients.txt'),
        BACKUP_DIR: join(backupFs, 'backups'),
        PGBACKREST_TOPOLOGY: 'single-host',
        PGBACKREST_REPO_DIR: repoDir,
        PGBACKREST_DB_PORT: String(await freePort()),
        PGBACKREST_REPO_PORT: String(await freePort()),
        // No offsite remote in this harness (prod's default names one): a failed offsite copy would make every
        // backup exit 1. test/backup/offsite.test.ts proves the copy against a real SFTP server.
        BACKUP_OFFSITE_REMOTE: '',
      },
      edit: FAST_MONITORING,
    });
    const bringUp = () => stack.run('deploy-prod.ts', ['--env', 'prod', '--env-file', stack.envFile, '--set', `BACKEND_TAG=${TAG_1}`], 600_000);
    let first = await timings.time('bring-up (deploy-prod.ts from nothing)', bringUp);
    // The bring-up is these scenarios' precondition, not their subject (prod.test.ts asserts a first deploy):
    // a first deploy whose Prometheus reload met reset connections (seen in 2 of 4 runs, open in issue 13)
    // is deployed once more, and the failure is printed and kept in the timings.
    if (first.code !== 0 && /cannot reach Prometheus .*ECONNRESET/.test(first.stderr)) {
      console.log(
        `chaos bring-up: the first deploy failed at the Prometheus reload; deploying again:\n${first.stderr.trim().split('\n').slice(-3).join('\n')}`,
      );
      timings.note('bring-up: first deploy failed at the Prometheus reload (ECONNRESET), deployed again', first.stderr.trim().split('\n').slice(-1).join(''));
      first = await timings.time('bring-up, second deploy', bringUp);
    }
    if (first.code !== 0) throw new Error(`the first deploy failed:\n${first.stdout}\n${first.stderr}`);
    const repo = composeProbe(daemon, ['-p', repoProject(), '-f', join(stack.stateDir, 'deploy', 'current', 'repo-host', 'docker-compose.yml'), 'up', '-d']);
    if (repo.code !== 0) throw new Error(`the repository host did not start:\n${repo.stderr}`);
    await waitFor('every container running and healthy', allHealthy, 180_000, 2_000).catch((error) => {
      throw new Error(`${error}:\n${projectStates().join('\n')}`);
    });
    await waitFor(
      'every Prometheus target up',
      async () => {
        const targets = await prometheusTargets();
        return targets.length > 0 && targets.every((t) => t.health === 'up');
      },
      120_000,
      2_000,
    );
  });

  afterAll(async () => {
    for (const l of loads) l.kill();
    if (daemon) {
      if (stack) {
        removeProject(daemon, repoProject());
        removeProject(daemon, stack.project);
      }
      await timings.time('teardown', () => daemon.stop());
    }
    timings.write('timings-chaos.json');
  });

  it('1. PostgreSQL (the postgres container: Patroni and PostgreSQL of the one-member cluster) killed in the middle of a rolling deploy: the deploy rolls back (exit 1, names PostgreSQL), lock released, audit line, PostgresDown reaches Alertmanager and resolves, few failed requests once the database leads again, 0 once recovered', {
    timeout: 1_200_000,
  }, async () => {
    await healthyBaseline();
    const during = load();
    await sleep(2_000);
    const deploy = runAsync('deploy-prod.ts', deployArgs(TAG_2));
    // The moment the new replicas exist, beside the old ones: the middle of the rollout.
    const newImage = `${images.backendRepository}:${TAG_2}`;
    await waitFor('the new replicas to start', () => containers('backend', true).some((id) => inspect(id, '{{.Config.Image}}') === newImage), 300_000, 250);
    const [postgres] = containers('postgres');
    expect(postgres).toBeTruthy();
    docker(daemon, ['kill', postgres as string]);
    const killedAt = Date.now();
    console.log('chaos 1: PostgreSQL killed (docker kill of the postgres container: Patroni and PostgreSQL) while the new replicas start');

    const alertMs = await alertReached('PostgresDown', killedAt);
    const result = await deploy;
    const duringReport = await during.stop();
    console.log(`chaos 1: deploy exit ${result.code}; its last words:\n${result.stderr.trim().split('\n').slice(-4).join('\n')}`);

    // Rolled back, not completed: the new replicas could never be proven healthy without a database,
    // and the old ones were never stopped. The exit code and the message say so, and name the cause.
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`deploy of ${TAG_2.replace(/\./g, '\\.')} failed at step \\d+ .*rolled back to ${TAG_1.replace(/\./g, '\\.')}`));
    expect(result.stderr).toMatch(/postgres is exited \(exit code 137\) and nothing restarts it/);
    expect(existsSync(join(stack.stateDir, 'deploy', 'lock')), 'the deploy lock is released').toBe(false);
    const audit = auditLines(stack.stateDir).at(-1);
    expect(audit).toMatchObject({ action: 'deploy', tag: TAG_2, result: 'rolled-back', previousTag: TAG_1 });
    expect(audit?.error).toMatch(/postgres is exited/);
    expect(backendImages()).toEqual(Array(REPLICAS).fill(`${images.backendRepository}:${TAG_1}`));
    // Docker keeps a container it was told to kill down (restart policy suspended until the next start).
    expect(inspect(postgres as string, '{{.State.Status}}')).toBe('exited');
    const dependencyAlerts = (await activeAlerts('BackendDependencyDown')).length;

    // The operator's one step, as the deploy's message says: start PostgreSQL again.
    const recovering = load();
    docker(daemon, ['start', postgres as string]);
    const startedAt = Date.now();
    const { acceptingAt, leadingAt } = databaseBackAt(postgres as string);
    await waitFor('/health through nginx answers 200 again', async () => (await healthThroughNginx()) === 200, 180_000, 500);
    const recoverMs = Date.now() - startedAt;
    // PostgresDown resolves once the exporter's scrapes reach PostgreSQL again.
    const postgresDownGone = await alertGone('PostgresDown', {}, POSTGRES_DOWN_RESOLVES_WITHIN_MS).then(
      () => ({ resolvedMs: Date.now() - leadingAt }),
      (error: Error) => ({ error }),
    );
    // "Back" is every healthcheck green again; what failed until then is reported.
    await waitFor('every container healthy again', allHealthy, 300_000, 2_000);
    const recoveringReport = await recovering.stop();
    const afterDatabaseBack = failuresSince(recoveringReport, leadingAt);
    if (afterDatabaseBack.seconds > FAILED_AFTER_DATABASE_BACK_LIMIT_S) console.log(`chaos 1: the edge after PostgreSQL came back:\n${edgeView()}`);
    const after = await loadAfterRecovery();

    report('scenario 1: PostgreSQL killed mid-deploy', {
      outcome: `rolled back to ${TAG_1} (exit 1): the new replicas could not turn healthy without PostgreSQL; PostgreSQL stays down after docker kill until started; BackendDependencyDown fired for ${dependencyAlerts} replica(s) too; PostgreSQL accepted connections ${seconds(acceptingAt - startedAt)} s and Patroni led again (GET /primary 200) ${seconds(leadingAt - startedAt)} s after docker start; PostgresDown resolved ${'resolvedMs' in postgresDownGone ? `${seconds(postgresDownGone.resolvedMs)} s after that` : `not within ${POSTGRES_DOWN_RESOLVES_WITHIN_MS / 1000} s`}`,
      timeToAlertSeconds: seconds(alertMs),
      timeToRecoverSeconds: seconds(recoverMs),
      lostDuringFault: duringReport.failed,
      lostWhileRecovering: recoveringReport.failed,
      failedAfterDatabaseBack: afterDatabaseBack,
      lostAfterRecovery: after.failed,
      load: brief(duringReport),
    });
    if ('error' in postgresDownGone) throw postgresDownGone.error;
    expect(afterDatabaseBack.seconds, `failed requests after the database led again: ${JSON.stringify(afterDatabaseBack)}`).toBeLessThanOrEqual(
      FAILED_AFTER_DATABASE_BACK_LIMIT_S,
    );
    expect(after.requests).toBeGreaterThan(50);
    expect(after.failed, JSON.stringify(after)).toBe(0);
  });

  it('3. one replica loses its network to PostgreSQL: its /health names the dependency, nginx keeps answering 200, BackendDependencyDown fires; reconnected, all green without a redeploy', {
    timeout: 900_000,
  }, async () => {
    await healthyBaseline();
    await alertGone('BackendDependencyDown');
    const [victim] = containers('backend');
    expect(victim).toBeTruthy();
    const network = `${stack.project}_app`;
    const during = load();
    await sleep(2_000);
    docker(daemon, ['network', 'disconnect', network, victim as string]);
    const cutAt = Date.now();
    console.log(`chaos 3: replica ${(victim as string).slice(0, 12)} disconnected from ${network}`);

    let seen: ReturnType<typeof replicaHealth> | undefined;
    await waitFor(
      'the replica /health to name the database',
      () => {
        seen = replicaHealth(victim as string);
        return seen.status === 503 && seen.body.checks?.database !== 'ok';
      },
      120_000,
      1_000,
    );
    const reportMs = Date.now() - cutAt;
    console.log(`chaos 3: the replica's /health after ${seconds(reportMs)}s: ${JSON.stringify(seen?.body)}`);
    expect(seen?.body.status).toBe('unhealthy');
    expect(seen?.body.checks?.database).toMatch(/\w+Error/);
    // nginx retries a 503 on the next replica: what the other replica can serve, users get.
    for (let i = 0; i < 10; i++) expect(await healthThroughNginx()).toBe(200);
    const alertMs = await alertReached('BackendDependencyDown', cutAt, { dependency: 'database' });

    // Reattach it as compose had it (the service name as alias); nothing else.
    docker(daemon, ['network', 'connect', '--alias', 'backend', network, victim as string]);
    const reconnectedAt = Date.now();
    await waitFor('the replica healthy again', () => replicaHealth(victim as string).status === 200, 120_000, 1_000);
    await waitFor('Docker reports it healthy', () => inspect(victim as string, '{{.State.Health.Status}}') === 'healthy', 120_000, 1_000);
    const recoverMs = Date.now() - reconnectedAt;
    await alertGone('BackendDependencyDown');
    const duringReport = await during.stop();
    expect(duringReport.failed, JSON.stringify(duringReport)).toBe(0);
    expect(containers('backend')).toContain(victim);

    report('scenario 3: backend cut off from PostgreSQL', {
      outcome: `/health of the cut-off replica answered 503 naming database after ${seconds(reportMs)}s; nginx answered 200 throughout; healthy again after the reconnect without a redeploy`,
      timeToAlertSeconds: seconds(alertMs),
      timeToRecoverSeconds: seconds(recoverMs),
      lostDuringFault: duringReport.failed,
      lostAfterRecovery: 0,
      load: brief(duringReport),
    });
  });

  it('5. a backend replica removed (not paused): BackendReplicasMissing reaches Alertmanager; a redeploy of the running tag restores the count with 0 failed requests', {
    timeout: 900_000,
  }, async () => {
    await healthyBaseline();
    await alertGone('BackendReplicasMissing');
    const expected = await promQuery('healthmate:backend_replicas:expected');
    expect(expected.map((r) => r.value[1])).toEqual([String(REPLICAS)]);
    const [victim] = containers('backend');
    const during = load();
    await sleep(2_000);
    docker(daemon, ['rm', '-f', victim as string]);
    const removedAt = Date.now();
    console.log(`chaos 5: replica ${(victim as string).slice(0, 12)} removed (docker rm -f)`);
    const alertMs = await alertReached('BackendReplicasMissing', removedAt);
    const stillThere = (await prometheusTargets()).filter((t) => t.labels.job === 'backend').length;
    expect(stillThere).toBe(REPLICAS - 1);

    const redeployAt = Date.now();
    const result = await runAsync('deploy-prod.ts', deployArgs(TAG_1));
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(backendImages()).toEqual(Array(REPLICAS).fill(`${images.backendRepository}:${TAG_1}`));
    await alertGone('BackendReplicasMissing');
    const recoverMs = Date.now() - redeployAt;
    const duringReport = await during.stop();
    expect(duringReport.failed, JSON.stringify(duringReport)).toBe(0);

    report('scenario 5: backend replica removed', {
      outcome: `BackendReplicasMissing fired with ${stillThere} of ${REPLICAS} targets; deploy-prod.ts with the running tag restored ${REPLICAS} replicas and the alert resolved`,
      timeToAlertSeconds: seconds(alertMs),
      timeToRecoverSeconds: seconds(recoverMs),
      lostDuringFault: duringReport.failed,
      lostAfterRecovery: duringReport.failed,
      load: brief(duringReport),
    });
  });

  it('2. the backup filesystem full: backup-db.ts fails with one sentence, earlier backups intact, BackupFailed reaches Alertmanager; space freed, the next backup succeeds', {
    timeout: 900_000,
  }, async () => {
    await healthyBaseline();
    const backups = join(backupFs, 'backups');
    const backup = (): ScriptResult => stack.run('backup-db.ts', ['--env', 'prod', '--env-file', stack.envFile, '--compose'], 300_000);
    const earlier = backup();
    expect(earlier.code, `${earlier.stdout}\n${earlier.stderr}`).toBe(0);
    const snapshot = (): Record<string, string> =>
      Object.fromEntries(
        readdirSync(backups)
          .filter((name) => !name.startsWith('.') && statSync(join(backups, name)).isFile())
          .sort()
          .map((name) => [
            name,
            createHash('sha256')
              .update(readFileSync(join(backups, name)))
              .digest('hex'),
          ]),
      );
    const before = snapshot();
    expect(Object.keys(before).length).toBeGreaterThanOrEqual(2);
    // A running backup reports status 0 until it succeeds: let that settle before timing the alert.
    await alertGone('BackupFailed');

    // Fill every byte left (the filler sits beside BACKUP_DIR, on the same filesystem).
    const filler = join(backupFs, 'filler');
    const fill = spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=1M'], { encoding: 'utf8' });
    expect(fill.stderr).toMatch(/No space left on device/);
    const failed = backup();
    const failedAt = Date.now();
    const errors = failed.stderr.split('\n').filter((line) => line.startsWith('error:'));
    console.log(`chaos 2: backup-db.ts exit ${failed.code}: ${errors.join(' | ')}`);
    expect(failed.code).toBe(1);
    expect(errors).toEqual([expect.stringMatching(/^error: (the disk holding .* is full|only .* free in .*)/)]);
    expect(failed.stderr).not.toMatch(/\n\s+at /);
    expect(snapshot()).toEqual(before);
    const verify = stack.run('restore-db.ts', ['--env', 'prod', '--env-file', stack.envFile, '--latest', '--verify', '--identity', ageIdentity]);
    expect(verify.code, `${verify.stdout}\n${verify.stderr}`).toBe(0);

    await waitFor(
      'healthmate_backup_last_status 0 in Prometheus',
      async () => (await promQuery('healthmate_backup_last_status')).some((r) => r.value[1] === '0'),
      60_000,
      1_000,
    );
    const alertMs = await alertReached('BackupFailed', failedAt);

    rmSync(filler);
    const freedAt = Date.now();
    const again = backup();
    expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
    await alertGone('BackupFailed');
    const recoverMs = Date.now() - freedAt;

    report('scenario 2: backup filesystem full', {
      outcome: `backup-db.ts exit 1: "${errors[0]}"; earlier backups byte-identical and restorable; the next backup after freeing space succeeded`,
      timeToAlertSeconds: seconds(alertMs),
      timeToRecoverSeconds: seconds(recoverMs),
      lostDuringFault: 0,
      lostAfterRecovery: 0,
    });
  });

  it('4. the Docker daemon restarted: restart policies bring every container back without a manual step; Prometheus shows the gap; 0 failed requests afterwards', {
    timeout: 1_200_000,
  }, async () => {
    await healthyBaseline();
    const during = load();
    await sleep(2_000);
    const restartAt = Date.now();
    const restart = await daemon.restart();
    console.log(`chaos 4: dockerd stopped in ${restart.stopSeconds.toFixed(1)}s and answered again ${restart.startSeconds.toFixed(1)}s after its start`);
    await waitFor('every container running and healthy (restart policies only)', allHealthy, 300_000, 2_000).catch((error) => {
      throw new Error(`${error}:\n${projectStates().join('\n')}`);
    });
    expect(projectStates().length).toBeGreaterThanOrEqual(14);
    await waitFor(
      '/health through nginx and every Prometheus target up',
      async () => (await healthThroughNginx()) === 200 && (await prometheusTargets()).every((t) => t.health === 'up'),
      180_000,
      2_000,
    ).catch(async (error) => {
      const down = (await prometheusTargets().catch(() => [])).filter((t) => t.health !== 'up').map((t) => `${t.scrapeUrl}: ${t.lastError}`);
      throw new Error(`${error}: ${down.join('; ')}`);
    });
    const recoverMs = Date.now() - restartAt;
    const duringReport = await during.stop();

    // The raw samples of Prometheus' own scrape: the longest silence is the outage.
    const raw = await getJson<{ data: { result: { values: [number, string][] }[] } }>(
      `http://127.0.0.1:9090/api/v1/query?query=${encodeURIComponent('up{job="prometheus"}[30m]')}`,
    );
    const stamps = (raw.data.result[0]?.values ?? []).map(([t]) => t);
    const gaps = stamps.slice(1).map((t, i) => t - (stamps[i] as number));
    const gapSeconds = Math.max(...gaps);
    console.log(`chaos 4: Prometheus' longest gap between samples: ${gapSeconds.toFixed(1)}s (scrapes every 5s)`);
    expect(gapSeconds).toBeGreaterThan(10);

    const after = await loadAfterRecovery();
    console.log(`chaos 4: the edge after recovery:\n${edgeView()}`);
    expect(after.failed, JSON.stringify(after)).toBe(0);
    const restarts = containers('nginx').map((id) => inspect(id, '{{.RestartCount}}'));
    const watcherReloads = containers('nginx').flatMap((id) =>
      dockerProbe(daemon, ['logs', id])
        .stderr.split('\n')
        .filter((line) => line.includes('reloading nginx to resolve')),
    );
    console.log(`chaos 4: the nginx entrypoint watcher reloaded nginx ${watcherReloads.length} time(s):\n${watcherReloads.join('\n')}`);

    report('scenario 4: dockerd restarted', {
      outcome: `every container back by its restart policy, no manual step; dockerd stopped in ${restart.stopSeconds.toFixed(1)}s and answered ${restart.startSeconds.toFixed(1)}s after its start; Prometheus gap ${gapSeconds.toFixed(1)}s; nginx restart count ${restarts.join(',')}; nginx reloaded ${watcherReloads.length} time(s) by its watcher because a backend address went away`,
      timeToAlertSeconds: undefined,
      timeToRecoverSeconds: seconds(recoverMs),
      lostDuringFault: duringReport.failed,
      lostAfterRecovery: after.failed,
      load: brief(duringReport),
    });
  });
});
