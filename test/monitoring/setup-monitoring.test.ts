import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { freePort, WAIT_BUDGET_MS, waitFor } from '../helpers/net.js';
import { nodeWithTsx, REPO, repoCopy, runScriptAsync } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import { type Daemon, prodEnvArgs, startAlertmanager, startPrometheus, type TestServer, testServer, writeInitialConfigs } from './helpers.js';

interface ContractMetric {
  name: string;
  type: string;
  labels: string[];
}

/** A /metrics body with one sample of every contract metric, as the backend must serve it. */
function contractExposition(): string {
  const { metrics } = parse(readFileSync(join(REPO, 'monitoring', 'metrics-contract.yml'), 'utf8')) as { metrics: ContractMetric[] };
  const lines: string[] = [];
  for (const m of metrics) {
    const labels = m.labels.map((l) => `${l}="${l === 'status' ? '200' : l === 'outcome' ? 'success' : 'x'}"`).join(',');
    lines.push(`# TYPE ${m.name} ${m.type}`);
    if (m.type === 'histogram') {
      lines.push(`${m.name}_bucket{${labels}${labels ? ',' : ''}le="+Inf"} 3`, `${m.name}_sum{${labels}} 0.6`, `${m.name}_count{${labels}} 3`);
    } else {
      lines.push(`${m.name}{${labels}} 3`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** A repo copy whose templates a test may break (with the runbooks the lint checks links against). */
function editableRepo(): string {
  const copy = repoCopy(tempDir());
  cpSync(join(REPO, 'docs'), join(copy, 'docs'), { recursive: true });
  return copy;
}

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out[path.slice(dir.length)] = createHash('sha256').update(readFileSync(path)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

async function json<T>(url: string): Promise<T> {
  const response = await fetch(url);
  return (await response.json()) as T;
}

interface RulesAnswer {
  data: { groups: { rules: { name: string }[] }[] };
}

const ruleNames = async (prometheus: Daemon): Promise<string[]> =>
  (await json<RulesAnswer>(`${prometheus.url}/api/v1/rules`)).data.groups.flatMap((g) => g.rules.map((r) => r.name));

describe('setup-monitoring.ts against a real Prometheus and Alertmanager', () => {
  const root = mkdtempSync(join(tmpdir(), 'healthmate-mon-setup-'));
  const prefix = join(root, 'prefix');
  const installed = join(prefix, 'etc');
  let prometheus: Daemon;
  let alertmanager: Daemon;
  let webhook: TestServer;
  let backend: TestServer;
  let envArgs: string[];

  const setupArgs = (extra: string[] = []): string[] => [
    ...envArgs,
    '--prefix',
    prefix,
    '--prometheus-url',
    prometheus.url,
    '--alertmanager-url',
    alertmanager.url,
    '--set',
    `PROMETHEUS_ALERTMANAGER_ADDRESS=127.0.0.1:${alertmanager.port}`,
    '--set',
    `ALERT_WEBHOOK_URL=${webhook.url}/alerts`,
    '--set',
    `WATCHDOG_WEBHOOK_URL=${webhook.url}/watchdog`,
    ...extra,
  ];

  /**
   * The tests after the install keep, or roll back to, an installed set. They
   * run in order after it; run alone (vitest -t), one is installed here first.
   */
  const ensureInstalled = async (): Promise<void> => {
    if (existsSync(join(installed, 'prometheus', 'rules', 'healthmate_rules.yml'))) return;
    const result = await runScriptAsync('setup-monitoring.ts', setupArgs());
    expect(result.code, result.stderr).toBe(0);
  };

  /** A host-run service announced through the file-sd job. */
  const announceContractBackend = (): void => {
    mkdirSync(join(installed, 'prometheus', 'targets'), { recursive: true });
    writeFileSync(join(installed, 'prometheus', 'targets', 'contract.yml'), `- targets: ['127.0.0.1:${backend.port}']\n  labels: {service: contract}\n`);
  };

  beforeAll(async () => {
    const initial = writeInitialConfigs(prefix);
    // After a reload Prometheus learns its Alertmanagers within about 5 s; a firing alert sent before
    // that is dropped, and by default sent again only a minute later (--rules.alert.resend-delay).
    // This Prometheus sends firing alerts at every evaluation (15 s), so the Watchdog never waits a minute.
    prometheus = await startPrometheus(initial.prometheusConfig, join(root, 'prometheus-data'), ['--rules.alert.resend-delay=1s']);
    alertmanager = await startAlertmanager(initial.alertmanagerConfig, join(root, 'alertmanager-data'));
    webhook = await testServer((_req, res) => res.end('ok'));
    const body = contractExposition();
    backend = await testServer((_req, res) => {
      res.setHeader('content-type', 'text/plain; version=0.0.4');
      res.end(body);
    });
    envArgs = prodEnvArgs(root, join(root, 'state'));
  });

  afterAll(async () => {
    await Promise.all([prometheus?.stop(), alertmanager?.stop(), webhook?.close(), backend?.close()]);
    rmSync(root, { recursive: true, force: true });
  });

  it('--dry-run prints the checks, copies and reloads and changes nothing', async () => {
    const before = snapshot(installed);
    const result = await runScriptAsync('setup-monitoring.ts', ['--dry-run', ...setupArgs()]);
    expect(result.stderr).not.toMatch(/error:/);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('validate: promtool check rules');
    expect(result.stdout).toContain('validate: amtool check-config');
    expect(result.stdout).toContain(`copy monitoring/rules/healthmate_rules.yml -> ${join(installed, 'prometheus', 'rules', 'healthmate_rules.yml')}`);
    expect(result.stdout).toContain(`POST ${prometheus.url}/-/reload`);
    expect(snapshot(installed)).toEqual(before);
  });

  it('installs and reloads both services; Prometheus serves the new rules', async () => {
    const result = await runScriptAsync('setup-monitoring.ts', setupArgs());
    expect(result.stderr).not.toMatch(/error:/);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/monitoring installed: \d+ files changed/);
    expect(existsSync(join(installed, 'prometheus', 'rules', 'healthmate_rules.yml'))).toBe(true);
    expect(existsSync(join(installed, 'alertmanager', 'templates', 'email.tmpl'))).toBe(true);
    expect(existsSync(join(prefix, 'var', 'lib', 'grafana', 'dashboards', 'healthmate-overview.json'))).toBe(true);
    expect(await ruleNames(prometheus)).toEqual(expect.arrayContaining(['BackendAllReplicasDown', 'Watchdog', 'healthmate:http_errors:ratio_rate5m']));
    announceContractBackend();
  });

  it('a second run with nothing changed rewrites nothing and still verifies both reloads', async () => {
    await ensureInstalled();
    const before = snapshot(installed);
    const result = await runScriptAsync('setup-monitoring.ts', setupArgs());
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/monitoring installed: 0 files changed, \d+ unchanged/);
    expect(result.stderr).toContain('Prometheus reloaded and verified');
    expect(result.stderr).toContain('Alertmanager reloaded and verified');
    expect(snapshot(installed)).toEqual(before);
  });

  it('refuses a broken rule file before installing anything; Prometheus keeps the old rules', async () => {
    await ensureInstalled();
    const copy = editableRepo();
    appendFileSync(
      join(copy, 'monitoring', 'rules', 'healthmate_rules.yml'),
      ['  - name: broken', '    rules:', '      - alert: BrokenRule', '        expr: rate(up[5m]', '        labels:', '          severity: warning', ''].join(
        '\n',
      ),
    );
    const before = snapshot(installed);
    const result = await runScriptAsync('setup-monitoring.ts', setupArgs(), { root: copy });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('nothing was installed');
    expect(result.stderr).toContain('promtool check rules failed');
    expect(result.stderr).toMatch(/BrokenRule: expr does not parse/);
    expect(result.stderr).toMatch(/alert BrokenRule: annotations\.summary is missing/);
    expect(result.stderr).toMatch(/alert BrokenRule: annotations\.runbook_url is missing/);
    expect(snapshot(installed)).toEqual(before);
    expect(await ruleNames(prometheus)).toContain('Watchdog');
    expect(await ruleNames(prometheus)).not.toContain('BrokenRule');
  });

  it('refuses an alert without severity and a dashboard naming an unknown metric (exit 2)', async () => {
    const copy = editableRepo();
    const rules = join(copy, 'monitoring', 'rules', 'healthmate_rules.yml');
    writeFileSync(rules, readFileSync(rules, 'utf8').replace('          severity: info\n', '          team: sre\n'));
    const dashboard = join(copy, 'monitoring', 'grafana', 'prod', 'dashboards', 'healthmate-overview.json');
    writeFileSync(dashboard, readFileSync(dashboard, 'utf8').replace('sum(healthmate_active_users)', 'sum(healthmate_active_userz)'));
    const result = await runScriptAsync('setup-monitoring.ts', setupArgs(), { root: copy });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/alert Watchdog: labels\.severity must be one of critical, warning, info/);
    expect(result.stderr).toMatch(/healthmate-overview\.json: panel "Active users" query A: metric healthmate_active_userz is not in metrics-contract\.yml/);
  });

  it('rolls back when Prometheus answers 500 on reload, and exits 1 with the reason', async () => {
    await ensureInstalled();
    const fake = await testServer((req, res) => {
      if (req.url === '/-/reload') {
        res.statusCode = 500;
        res.end('failed to reload config: simulated failure');
        return;
      }
      res.end(`prometheus_config_last_reload_successful 1\nprometheus_config_last_reload_success_timestamp_seconds ${Math.floor(Date.now() / 1000) - 60}\n`);
    });
    try {
      const before = snapshot(installed);
      const backupDir = join(root, 'backups-500');
      const args = setupArgs(['--set', 'PROMETHEUS_RETENTION=90d', '--set', 'ALERT_EMAIL_TO=pager@healthmate-ci.net', '--backup-dir', backupDir]);
      args[args.indexOf('--prometheus-url') + 1] = fake.url;
      const result = await runScriptAsync('setup-monitoring.ts', args);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/Prometheus at http:\/\/127\.0\.0\.1:\d+ refused the reload \(HTTP 500\): failed to reload config: simulated failure/);
      expect(result.stderr).toMatch(
        /rolled back: Prometheus could not be reloaded with the previous files either .*; Alertmanager runs the previous configuration again/,
      );
      expect(snapshot(installed)).toEqual(before);
      // The replaced Alertmanager config was kept before it was overwritten.
      expect(readFileSync(join(backupDir, installed.slice(1), 'alertmanager', 'alertmanager.yml'), 'utf8')).toContain(`${webhook.url}/alerts`);
      const status = await json<{ data: { original: string } }>(`${alertmanager.url}/api/v2/status`).catch(() => undefined);
      expect(JSON.stringify(status)).not.toContain('pager@healthmate-ci.net');
    } finally {
      await fake.close();
    }
  });

  it('rolls back when Prometheus is unreachable, and exits 1', async () => {
    await ensureInstalled();
    const before = snapshot(installed);
    const args = setupArgs(['--set', 'ALERT_EMAIL_TO=pager@healthmate-ci.net']);
    args[args.indexOf('--prometheus-url') + 1] = `http://127.0.0.1:${await freePort()}`;
    const result = await runScriptAsync('setup-monitoring.ts', args);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot reach Prometheus at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
    expect(result.stderr).toContain('rolled back');
    expect(snapshot(installed)).toEqual(before);
    expect(await ruleNames(prometheus)).toContain('Watchdog');
  });

  it('Ctrl-C while waiting for the reload puts the previous files back', async () => {
    await ensureInstalled();
    let reloadSeen = false;
    const hanging = await testServer((req, res) => {
      if (req.url === '/-/reload') {
        reloadSeen = true;
        return; // never answers: the operator gives up and presses Ctrl-C
      }
      res.end(`prometheus_config_last_reload_successful 1\nprometheus_config_last_reload_success_timestamp_seconds ${Math.floor(Date.now() / 1000) - 60}\n`);
    });
    try {
      const before = snapshot(installed);
      const args = setupArgs(['--set', 'ALERT_EMAIL_TO=pager@healthmate-ci.net']);
      args[args.indexOf('--prometheus-url') + 1] = hanging.url;
      const [node, ...nodeArgs] = nodeWithTsx(join(REPO, 'scripts', 'setup-monitoring.ts'), ...args);
      const child = spawn(node, nodeArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
      await waitFor('the reload request', () => reloadSeen, WAIT_BUDGET_MS, 200);
      expect(snapshot(installed)).not.toEqual(before);
      child.kill('SIGINT');
      const result = await exited;
      expect(result.code === 0).toBe(false);
      expect(stderr).toContain('interrupted by SIGINT: cleaning up');
      expect(snapshot(installed)).toEqual(before);
    } finally {
      await hanging.close();
    }
  });

  // Last: Prometheus' scrape and evaluation intervals (15 s) run out while the tests above run.
  it('the installed set scrapes a contract backend and delivers the Watchdog to the webhook', async () => {
    await ensureInstalled();
    announceContractBackend();
    interface Targets {
      data: { activeTargets: { scrapeUrl: string; health: string; labels: Record<string, string> }[] };
    }
    await waitFor(
      'the contract backend to be up in /api/v1/targets',
      async () =>
        (await json<Targets>(`${prometheus.url}/api/v1/targets`)).data.activeTargets.some(
          (t) => t.scrapeUrl.includes(`:${backend.port}/`) && t.health === 'up' && t.labels.environment === undefined,
        ),
      WAIT_BUDGET_MS,
      500,
    );
    const query = await json<{ data: { result: { metric: Record<string, string> }[] } }>(
      `${prometheus.url}/api/v1/query?query=${encodeURIComponent('healthmate_celery_tasks_total')}`,
    );
    expect(query.data.result[0]?.metric).toMatchObject({ service: 'contract', outcome: 'success' });

    // Prometheus sends the firing Watchdog at each evaluation (15 s; see its resend delay above).
    await waitFor(
      'the Watchdog to reach the webhook',
      () =>
        webhook.requests.some((r) => {
          if (r.path !== '/watchdog') return false;
          const alerts = (JSON.parse(r.body) as { alerts: { labels: Record<string, string> }[] }).alerts;
          return alerts.some((a) => a.labels.alertname === 'Watchdog' && a.labels.environment === 'prod');
        }),
      WAIT_BUDGET_MS,
      500,
    );
  });
});
