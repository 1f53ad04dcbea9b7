import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runScript } from '../helpers/run.js';
import { needTool } from '../helpers/tools.js';

interface Route {
  receiver?: string;
  matchers?: string[];
  mute_time_intervals?: string[];
  routes?: Route[];
}

/** Renders one env into a temp folder and returns its alertmanager.yml path. */
function renderAlertmanager(env: 'prod' | 'dev', out: string): string {
  const envArgs = env === 'prod' ? ['--env', 'prod', '--env-file', '.env.example'] : ['--env', 'dev'];
  const result = runScript('render.ts', [...envArgs, '--set', `STATE_DIR=${join(out, 'state')}`, '--out', out]);
  expect(result.stderr).not.toMatch(/error:/);
  expect(result.code).toBe(0);
  return join(out, env, 'monitoring', 'alertmanager', 'alertmanager.yml');
}

function routesTest(config: string, receiver: string, labels: string[]): { code: number | null; stdout: string; output: string } {
  const result = spawnSync(needTool('amtool'), ['config', 'routes', 'test', `--config.file=${config}`, `--verify.receivers=${receiver}`, ...labels], {
    encoding: 'utf8',
  });
  return { code: result.status, stdout: result.stdout, output: `${result.stdout}${result.stderr}` };
}

describe.each(['prod', 'dev'] as const)('Alertmanager config (%s)', (env) => {
  const out = mkdtempSync(join(tmpdir(), 'healthmate-am-'));
  let config: string;
  beforeAll(() => {
    config = renderAlertmanager(env, out);
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('passes amtool check-config, templates included', () => {
    const result = spawnSync(needTool('amtool'), ['check-config', config], { encoding: 'utf8' });
    expect(result.stdout).toContain('SUCCESS');
    expect(result.stdout).toMatch(/1 templates/);
    expect(result.status).toBe(0);
  });

  it.each([
    ['critical goes to the paging receiver (email and webhook)', 'team-page', ['alertname=PostgresDown', 'severity=critical']],
    ['warning goes to email', 'team-email', ['alertname=HostMemoryLow', 'severity=warning']],
    ['info goes to the webhook', 'team-webhook', ['alertname=Something', 'severity=info']],
    ['Watchdog goes to its own receiver, whatever its severity', 'watchdog', ['alertname=Watchdog', 'severity=info']],
    ['a data-loss warning pages and is never muted', 'team-page', ['alertname=BackupFailed', 'severity=warning', 'data_loss=true']],
    ['no severity falls back to email', 'team-email', ['alertname=Unlabelled']],
  ])('%s', (_title, receiver, labels) => {
    const result = routesTest(config, receiver, labels);
    expect(result.stdout.trim()).toBe(receiver);
    expect(result.code).toBe(0);
  });

  it('amtool reports a route mismatch (the route test can fail)', () => {
    const result = routesTest(config, 'team-email', ['alertname=PostgresDown', 'severity=critical']);
    expect(result.code).toBe(1);
    expect(result.output).toContain('WARNING: Expected receivers did not match resolved receivers');
  });

  it('mutes only warning and info routes in maintenance windows, and inhibits as documented', () => {
    const parsed = parse(readFileSync(config, 'utf8')) as {
      route: Route;
      inhibit_rules: { source_matchers: string[]; target_matchers: string[]; equal: string[] }[];
      receivers: { name: string; email_configs?: { to: string }[]; webhook_configs?: { url: string }[] }[];
    };
    for (const route of parsed.route.routes ?? []) {
      const muted = (route.mute_time_intervals ?? []).length > 0;
      const matchers = (route.matchers ?? []).join(',');
      expect(muted, matchers).toBe(/severity="(warning|info)"/.test(matchers));
    }
    expect(parsed.inhibit_rules).toContainEqual({
      source_matchers: ['severity="critical"'],
      target_matchers: ['severity=~"warning|info"'],
      equal: ['alertname', 'instance', 'file'],
    });
    expect(parsed.inhibit_rules).toContainEqual({
      source_matchers: ['alertname="BackendAllReplicasDown"'],
      target_matchers: ['alertname="BackendReplicaDown"'],
      equal: ['job'],
    });
    const page = parsed.receivers.find((r) => r.name === 'team-page');
    expect(page?.email_configs?.length).toBe(1);
    expect(page?.webhook_configs?.length).toBe(1);
  });

  it('reads the SMTP password from the secret file in prod and sends to Mailhog in dev', () => {
    const text = readFileSync(config, 'utf8');
    if (env === 'prod') {
      expect(text).toContain('smtp_auth_password_file: /run/secrets/smtp_password');
      expect(text).toContain('smtp_require_tls: true');
    } else {
      expect(text).toContain("smtp_smarthost: 'mailhog:1025'");
      expect(text).not.toContain('smtp_auth_password');
    }
  });
});
