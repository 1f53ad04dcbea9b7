import { describe, expect, it } from 'vitest';
import { COMPOSE_V1, COMPOSE_V2 } from '../../scripts/lib/compose/engine.js';
import { hostTargets } from '../../scripts/lib/deploy/hosts.js';
import { buildPlan, formatPlan, type PlanInput, scriptArgv, shellQuote } from '../../scripts/lib/deploy/plan.js';
import { testEnv } from './env.js';

/** A plan input for the example env; `callerDockerHost` is what `local` means (the caller's DOCKER_HOST). */
function input(overrides: Partial<PlanInput> = {}, envOverrides: Record<string, string> = {}, callerDockerHost?: string): PlanInput {
  const { env, envFile } = testEnv('prod', envOverrides);
  return {
    env,
    ...(envFile ? { envFile } : {}),
    overrides: {},
    flavor: COMPOSE_V1,
    hosts: hostTargets(env, overrides.flavor ?? COMPOSE_V1, callerDockerHost),
    releaseId: '20260101T000000Z-1.0.0',
    skipBackup: false,
    skipChecks: [],
    asRoot: false,
    ...overrides,
  };
}

describe('deploy plan (one host: the inventory of one)', () => {
  it('has the 17 steps in order: here, every engine asked, then every host staged, the db hosts, then each app host', () => {
    const plan = buildPlan(input());
    expect(plan.steps.map((s) => s.id)).toEqual([
      'env',
      'lock',
      'engines',
      'render',
      'check',
      'certs',
      'backup',
      'pull',
      'cluster',
      'datastores',
      'migrate',
      'backend',
      'workers',
      'monitoring',
      'smoke',
      'audit',
      'unlock',
    ]);
    expect(plan.steps.map((s) => s.index)).toEqual(Array.from({ length: 17 }, (_, i) => i + 1));
    expect(plan.steps.filter((s) => s.host).map((s) => s.host)).toEqual(Array(6).fill('main'));
  });

  it('decides at each failure point: abort before any change, restore files before the rolling update, roll back from step 12 on', () => {
    const plan = buildPlan(input());
    const policy = Object.fromEntries(plan.steps.map((s) => [s.id, s.onFailure]));
    expect(policy).toEqual({
      env: 'abort',
      lock: 'abort',
      engines: 'abort',
      render: 'abort',
      check: 'abort',
      certs: 'abort',
      backup: 'abort',
      pull: 'restore',
      cluster: 'restore',
      datastores: 'restore',
      migrate: 'restore',
      backend: 'rollback',
      workers: 'rollback',
      monitoring: 'rollback',
      smoke: 'rollback',
      audit: 'report',
      unlock: 'report',
    });
    const firstRollback = plan.steps.find((s) => s.onFailure === 'rollback');
    expect(firstRollback?.index).toBe(12);
  });

  it('runs only steps 1-6 (and the unlock) in a dry run', () => {
    const plan = buildPlan(input());
    expect(plan.steps.filter((s) => s.inDryRun).map((s) => s.index)).toEqual([1, 2, 3, 4, 5, 6, 17]);
  });

  it('rolls the backend with --no-recreate beside the old replicas, reloads nginx, then stops the old ones gracefully', () => {
    const plan = buildPlan(input({}, { BACKEND_REPLICAS: '4', BACKEND_STOP_GRACE: '45s' }));
    const lines = plan.steps.find((s) => s.id === 'backend')?.lines ?? [];
    const scaleUp = lines.findIndex((l) => l.includes('--no-recreate') && l.includes("'backend=<old+4>'"));
    // exec nginx -s reload, never docker kill -s HUP: Docker 20.10 then treats nginx as stopped by hand
    // and its restart policy no longer brings it back after a daemon restart (e2e chaos scenario 4).
    expect(lines.some((l) => l.includes(' kill '))).toBe(false);
    const firstReload = lines.findIndex((l) => l.includes('exec -T nginx nginx -p /var/cache/nginx/ -c /etc/nginx/nginx.conf -e stderr -s reload'));
    const stop = lines.findIndex((l) => l.startsWith('docker stop --time 45'));
    const lastReload = lines.map((l) => l.includes('nginx -s reload') || l.includes('-s reload')).lastIndexOf(true);
    expect(scaleUp).toBeGreaterThanOrEqual(0);
    expect(scaleUp).toBeLessThan(firstReload);
    expect(firstReload).toBeLessThan(stop);
    expect(stop).toBeLessThan(lastReload);
    expect(lines.some((l) => l.includes('healthy'))).toBe(true);
  });

  it('uses the Compose it detected, v2 or v1, on the stack folder as always (STATE_DIR/deploy/current)', () => {
    const [v2] = buildPlan(input({ flavor: COMPOSE_V2 })).hosts;
    const [v1] = buildPlan(input({ flavor: COMPOSE_V1 })).hosts;
    expect(v2?.compose.slice(0, 2)).toEqual(['docker', 'compose']);
    expect(v1?.compose[0]).toBe('docker-compose');
    expect(v2?.compose.at(-1)).toMatch(/\/state\/deploy\/current\/docker-compose\.yml$/);
    expect(v2?.folder).toBe('');
  });

  it('marks the backup skipped with --skip-backup', () => {
    expect(buildPlan(input({ skipBackup: true })).steps.find((s) => s.id === 'backup')?.skipped).toBe('--skip-backup');
    expect(buildPlan(input()).steps.find((s) => s.id === 'backup')?.skipped).toBeUndefined();
  });

  it('runs the migration command from the env in a one-off container', () => {
    const plan = buildPlan(input({}, { MIGRATION_COMMAND: 'python -m app.migrate --all' }));
    const line = plan.steps.find((s) => s.id === 'migrate')?.lines[0] ?? '';
    expect(plan.steps.filter((s) => s.id === 'migrate')).toHaveLength(1);
    expect(line).toMatch(/ run --rm --no-deps -T backend python -m app\.migrate --all$/);
  });

  it('never prints a secret: not in the plan, not in the commands passed to other scripts', () => {
    const secret = 'Sup3r-Secret-Value-For-This-Test-Only';
    const base = input({}, { POSTGRES_PASSWORD: secret });
    const withSecretFlag = { ...base, overrides: { POSTGRES_PASSWORD: secret, BACKEND_TAG: '2.0.0' } };
    const text = formatPlan(buildPlan(withSecretFlag), { dryRun: true });
    expect(text).not.toContain(secret);
    const argv = scriptArgv('backup-db.ts', withSecretFlag, ['--compose']);
    expect(argv.join(' ')).not.toContain(secret);
    expect(argv).toContain('BACKEND_TAG=2.0.0');
  });

  it('shows what a failure at step 10 or later does, with and without a previous release', () => {
    const first = formatPlan(buildPlan(input()), { dryRun: false });
    expect(first).toContain('no previous release recorded');
    const again = formatPlan(buildPlan(input({ previous: { release: '20251201T000000Z-0.9.0', tag: '0.9.0', at: '2025-12-01T00:00:00Z' } })), {
      dryRun: false,
    });
    expect(again).toContain('back to 0.9.0');
  });

  it("copies files over ssh when the caller's DOCKER_HOST is remote, and keeps the lock there", () => {
    const plan = buildPlan(input({}, {}, 'ssh://deploy@api.healthmate.org:2222'));
    expect(plan.hosts[0]?.engine).toEqual({ kind: 'ssh', target: 'deploy@api.healthmate.org', sshArgs: ['-p', '2222'] });
    expect(plan.steps.find((s) => s.id === 'pull')?.lines.join('\n')).toContain('to deploy@api.healthmate.org (tar over ssh)');
    expect(plan.steps.find((s) => s.id === 'lock')?.lines[0]).toMatch(/^# on the inventory's first host main \(deploy@api\.healthmate\.org\): ln /);
    // `local` is the caller's engine: no DOCKER_HOST= of its own in front of its commands.
    expect(plan.steps.find((s) => s.id === 'cluster')?.lines.some((l) => l.includes('DOCKER_HOST='))).toBe(false);
    expect(() => buildPlan(input({}, {}, 'tcp://10.0.0.5:2376'))).toThrow(/not supported/);
  });

  it('quotes for display like a POSIX shell', () => {
    expect(shellQuote('plain-arg_1.2')).toBe('plain-arg_1.2');
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote('a b')).toBe("'a b'");
  });

  it('checks with the tools of the pinned images through the engine; --skip-check leaves a check out and says it is recorded', () => {
    const env = { NGINX_IMAGE: 'nginx:1.99.1', PROMETHEUS_IMAGE: 'prom/prometheus:v9.9.9', ALERTMANAGER_IMAGE: 'prom/alertmanager:v8.8.8' };
    const lines = buildPlan(input({}, env)).steps.find((s) => s.id === 'check')?.lines ?? [];
    expect(lines).toContain('# nginx: nginx:1.99.1 nginx -t -p /var/cache/nginx/ -c /etc/nginx/nginx.conf -e stderr');
    expect(lines).toContain('# promtool: prom/prometheus:v9.9.9 /bin/promtool check config /etc/prometheus/prometheus.yml');
    expect(lines).toContain('# amtool: prom/alertmanager:v8.8.8 /bin/amtool check-config /etc/alertmanager/alertmanager.yml');
    expect(lines.some((l) => l.includes('docker cp') && l.includes('secrets as empty placeholders'))).toBe(true);
    const skipped = buildPlan(input({ skipChecks: ['amtool', 'nginx'] }, env)).steps.find((s) => s.id === 'check')?.lines ?? [];
    expect(skipped.filter((l) => l.startsWith('# amtool:') || l.startsWith('# nginx:'))).toEqual([]);
    expect(skipped).toContain('# skipped by --skip-check (recorded in the audit log): amtool, nginx');
  });
});
