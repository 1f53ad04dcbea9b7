import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { lintRuleFile } from '../../scripts/lib/monitoring/alert-lint.js';
import { metricCatalog } from '../../scripts/lib/monitoring/catalog.js';
import { RUNBOOK_URL_PREFIX, runbookAnchors } from '../../scripts/lib/monitoring/runbooks.js';
import { ruleFilesIn, stageUnitTests } from '../../scripts/lib/monitoring/validate.js';
import { REPO, runScript } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';

const MONITORING = join(REPO, 'monitoring');
const RUNBOOKS = join(REPO, 'docs', 'runbooks.md');
const TESTS = join(MONITORING, 'tests');

// Rule files are templates (expected_counts.yml holds @@BACKEND_REPLICAS@@): promtool and the
// lint see them as rendered, like check.ts and setup-monitoring.ts do.
const rendered = mkdtempSync(join(tmpdir(), 'healthmate-rules-'));
const renderProd = (out: string, extra: string[] = []): string => {
  const result = runScript('render.ts', ['--env', 'prod', '--env-file', '.env.example', '--set', `STATE_DIR=${join(out, 'state')}`, ...extra, '--out', out]);
  expect(result.code, result.stderr).toBe(0);
  return join(out, 'prod', 'monitoring');
};
let renderedMonitoring = '';
beforeAll(() => {
  renderedMonitoring = renderProd(rendered);
});
afterAll(() => rmSync(rendered, { recursive: true, force: true }));

interface Rule {
  alert?: string;
  record?: string;
  labels?: Record<string, string>;
}
const alertRules = (): Rule[] =>
  ruleFilesIn(MONITORING).flatMap((f) =>
    (parse(readFileSync(f, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules.filter((r) => r.alert)),
  );

interface UnitTestFile {
  tests: { alert_rule_test?: { alertname: string; exp_alerts?: { exp_labels: Record<string, string> }[] }[] }[];
}
const unitTestCases = () =>
  readdirSync(TESTS)
    .filter((f) => f.endsWith('.yml'))
    .flatMap((f) => (parse(readFileSync(join(TESTS, f), 'utf8')) as UnitTestFile).tests.flatMap((t) => t.alert_rule_test ?? []));

describe('alert rules', () => {
  it('pass promtool check rules and every promtool unit test', () => {
    const promtool = needTool('promtool');
    const check = spawnSync(promtool, ['check', 'rules', ...ruleFilesIn(renderedMonitoring)], { encoding: 'utf8' });
    expect(check.stdout + check.stderr).toMatch(/SUCCESS: \d+ rules found/);
    expect(check.status).toBe(0);
    const staged = stageUnitTests(renderedMonitoring, MONITORING);
    try {
      const files = readdirSync(TESTS).filter((f) => f.endsWith('.yml'));
      const unit = spawnSync(promtool, ['test', 'rules', ...files], { cwd: join(staged.dir, 'tests'), encoding: 'utf8' });
      expect(unit.stdout + unit.stderr).not.toContain('FAILED');
      expect(unit.status).toBe(0);
    } finally {
      staged.cleanup();
    }
  });

  it('every alert (at every severity) has a unit test where it fires and one where it stays quiet', () => {
    const cases = unitTestCases();
    const missing: string[] = [];
    for (const rule of alertRules()) {
      const name = rule.alert as string;
      const severity = rule.labels?.severity;
      const fires = cases.some((c) => c.alertname === name && (c.exp_alerts ?? []).some((a) => a.exp_labels.severity === severity));
      const quiet = cases.some((c) => c.alertname === name && !(c.exp_alerts ?? []).some((a) => a.exp_labels.severity === severity));
      if (!fires) missing.push(`${name}/${severity} never fires`);
      if (!quiet && name !== 'Watchdog') missing.push(`${name}/${severity} has no quiet case`);
    }
    expect(missing).toEqual([]);
  });

  it('pass the lint: names, severity, summary, templated description, runbook links and known metrics', () => {
    const rules = ruleFilesIn(renderedMonitoring);
    const catalog = metricCatalog(MONITORING, rules);
    const anchors = runbookAnchors(RUNBOOKS);
    expect(rules.flatMap((f) => lintRuleFile(f, catalog, anchors))).toEqual([]);
  });

  it('link every alert to its own runbook section', () => {
    const anchors = runbookAnchors(RUNBOOKS);
    for (const rule of alertRules()) expect(anchors.has((rule.alert as string).toLowerCase())).toBe(true);
    expect(RUNBOOK_URL_PREFIX).toContain('docs/runbooks.md#');
  });

  it('cover the areas the issue asks for', () => {
    const names = new Set(alertRules().map((r) => r.alert));
    for (const name of [
      'BackendReplicaDown',
      'BackendAllReplicasDown',
      'BackendHighErrorRatio',
      'PostgresWalArchivingFailing',
      'RedisMemoryNearLimit',
      'HostDiskWillFillIn24h',
      'TlsCertificateExpiring',
      'TlsCertificateFileExpiring',
      'BackupTooOld',
      'BackupFailed',
      'HealthDataIngestionStalled',
      'PrometheusConfigReloadFailed',
      'AlertmanagerNotificationsFailing',
      'Watchdog',
    ])
      expect(names).toContain(name);
  });
});

describe('the expected backend count (rules/expected_counts.yml)', () => {
  // The rendered file itself, not a fed series: BACKEND_REPLICAS=3 through the renderer.
  it('is rendered from BACKEND_REPLICAS; BackendReplicasMissing fires below it and stays quiet at it', () => {
    const dir = tempDir();
    const monitoring = renderProd(dir, ['--set', 'BACKEND_REPLICAS=3']);
    const expected = readFileSync(join(monitoring, 'rules', 'expected_counts.yml'), 'utf8');
    expect(expected).toContain('expr: vector(3)');
    expect(expected).not.toContain('@@');
    const up = (instances: number) =>
      Array.from({ length: 3 }, (_, i) => ({
        series: `up{job="backend", instance="10.0.0.${i + 2}:8000"}`,
        values: i < instances ? '1x6' : '1 1 stale',
      }));
    const annotations = {
      summary: 'Fewer backend replicas answer than BACKEND_REPLICAS promises.',
      description: 'Only 2 backend replicas have answered scrapes for more than 1 minute, fewer than BACKEND_REPLICAS; the rest carry more traffic.',
      runbook_url: `${RUNBOOK_URL_PREFIX}backendreplicasmissing`,
    };
    const testFile = {
      rule_files: [join(monitoring, 'rules', 'expected_counts.yml'), join(monitoring, 'rules', 'healthmate_rules.yml')],
      evaluation_interval: '1m',
      tests: [
        {
          name: 'two of three',
          interval: '1m',
          input_series: up(2),
          alert_rule_test: [
            {
              eval_time: '6m',
              alertname: 'BackendReplicasMissing',
              exp_alerts: [{ exp_labels: { severity: 'warning', job: 'backend' }, exp_annotations: annotations }],
            },
          ],
        },
        {
          name: 'three of three',
          interval: '1m',
          input_series: up(3),
          alert_rule_test: [{ eval_time: '6m', alertname: 'BackendReplicasMissing', exp_alerts: [] }],
        },
      ],
    };
    const file = join(dir, 'expected_test.yml');
    writeFileSync(file, JSON.stringify(testFile));
    const result = spawnSync(needTool('promtool'), ['test', 'rules', file], { encoding: 'utf8' });
    expect(result.stdout + result.stderr).toContain('SUCCESS');
    expect(result.status).toBe(0);
  });
});

describe('the rule lint refuses bad rules', () => {
  const lint = (rulesYaml: string) => {
    const dir = tempDir();
    const file = join(dir, 'bad.yml');
    writeFileSync(file, rulesYaml);
    return lintRuleFile(file, metricCatalog(MONITORING, ruleFilesIn(MONITORING)), runbookAnchors(RUNBOOKS), 'bad.yml').map((p) => p.message);
  };
  const good = {
    alert: 'BackendReplicaDown',
    expr: 'up{job="backend"} == 0',
    labels: { severity: 'warning' },
    annotations: {
      summary: 'A replica is down.',
      description: 'Replica {{ $labels.instance }} is down.',
      runbook_url: `${RUNBOOK_URL_PREFIX}backendreplicadown`,
    },
  };
  const yamlOf = (rule: object) => JSON.stringify({ groups: [{ name: 'g', rules: [rule] }] });

  it('accepts a complete rule', () => {
    expect(lint(yamlOf(good))).toEqual([]);
  });

  it('invalid PromQL', () => {
    expect(lint(yamlOf({ ...good, expr: 'rate(up[5m]' }))).toEqual([expect.stringMatching(/^BackendReplicaDown: expr does not parse: syntax error/)]);
  });

  it('a metric that nothing exposes', () => {
    expect(lint(yamlOf({ ...good, expr: 'healthmate_requests_total > 0' }))).toEqual([
      'BackendReplicaDown: metric healthmate_requests_total is not in metrics-contract.yml, exporter-metrics.yml or a recording rule.',
    ]);
  });

  it('missing severity, summary, runbook; untemplated description; bad name', () => {
    const messages = lint(
      yamlOf({
        alert: 'backend_down',
        expr: 'up == 0',
        labels: { severity: 'page' },
        annotations: { summary: 'Down {{ $labels.instance }}', description: 'Down.' },
      }),
    );
    expect(messages).toEqual([
      'alert backend_down: name must be CamelCase and at most 40 characters.',
      'alert backend_down: labels.severity must be one of critical, warning, info.',
      'alert backend_down: summary must be a plain sentence: capital first, ending with a period, no templates.',
      'alert backend_down: description must template a value or label ({{ $value }}, {{ $labels.x }}).',
      'alert backend_down: annotations.runbook_url is missing.',
    ]);
  });

  it('a runbook link to a section that does not exist', () => {
    const rule = { ...good, annotations: { ...good.annotations, runbook_url: `${RUNBOOK_URL_PREFIX}nosuchsection` } };
    expect(lint(yamlOf(rule))).toEqual(['alert BackendReplicaDown: runbook_url points to #nosuchsection, which is not a heading in docs/runbooks.md.']);
  });
});
