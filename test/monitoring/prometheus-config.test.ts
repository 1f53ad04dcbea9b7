import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runValidators } from '../../scripts/lib/check/runner.js';
import { monitoringValidators } from '../../scripts/lib/check/validators/monitoring.js';
import { loadEnv } from '../../scripts/lib/env/load.js';
import { withoutKubernetesSd } from '../../scripts/lib/monitoring/validate.js';
import { listBundle } from '../../scripts/lib/render/bundle.js';
import { REPO, runScript } from '../helpers/run.js';
import { needTool } from '../helpers/tools.js';

interface ScrapeConfig {
  job_name: string;
  static_configs?: { targets: string[] }[];
  dns_sd_configs?: { names: string[]; type: string; port: number }[];
  kubernetes_sd_configs?: { role: string }[];
  relabel_configs?: { source_labels?: string[]; regex?: string; action?: string; replacement?: string }[];
}
interface PrometheusConfig {
  global: { scrape_interval: string; evaluation_interval: string; external_labels: Record<string, string> };
  rule_files: string[];
  alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
  scrape_configs: ScrapeConfig[];
}

const out = mkdtempSync(join(tmpdir(), 'healthmate-promcfg-'));
const bundle = (env: 'prod' | 'dev') => join(out, env);
const config = (env: 'prod' | 'dev', file = 'prometheus.yml') => parse(readFileSync(join(bundle(env), 'monitoring', file), 'utf8')) as PrometheusConfig;
const job = (c: PrometheusConfig, name: string) => c.scrape_configs.find((j) => j.job_name === name);

beforeAll(() => {
  for (const args of [
    ['--env', 'prod', '--env-file', '.env.example'],
    ['--env', 'dev'],
  ]) {
    const result = runScript('render.ts', [...args, '--set', `STATE_DIR=${join(out, 'state')}`, '--out', out]);
    expect(result.code, result.stderr).toBe(0);
  }
});
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('Prometheus configs', () => {
  it.each(['prod', 'dev'] as const)('%s passes promtool check config with its rule files', (env) => {
    const result = spawnSync(needTool('promtool'), ['check', 'config', join(bundle(env), 'monitoring', 'prometheus.yml')], { encoding: 'utf8' });
    expect(result.stdout + result.stderr).toMatch(/SUCCESS: 4 rule files found/);
    expect(result.status).toBe(0);
  });

  it('prod scrapes every 15s every service of the compose contract; dev every 30s with fewer jobs', () => {
    const prod = config('prod');
    expect(prod.global).toMatchObject({ scrape_interval: '15s', evaluation_interval: '15s', external_labels: { environment: 'prod' } });
    expect(job(prod, 'backend')?.dns_sd_configs).toEqual([{ names: ['backend'], type: 'A', port: 8000, refresh_interval: '15s' }]);
    const targets = Object.fromEntries(prod.scrape_configs.map((j) => [j.job_name, j.static_configs?.[0]?.targets]));
    expect(targets).toMatchObject({
      postgres: ['postgres-exporter:9187'],
      redis: ['redis-exporter:9121'],
      node: ['node-exporter:9100'],
      nginx: ['nginx-exporter:9113'],
      alertmanager: ['alertmanager:9093'],
      grafana: ['grafana:3000'],
      blackbox: [`https://${loadEnv({ env: 'prod', envFile: join(REPO, '.env.example'), purpose: 'plan' }).values.DOMAIN}/health`],
    });
    expect(job(prod, 'blackbox')?.relabel_configs?.at(-1)).toMatchObject({ replacement: 'blackbox-exporter:9115' });
    expect(prod.alerting.alertmanagers[0]?.static_configs[0]?.targets).toEqual(['alertmanager:9093']);
    const dev = config('dev');
    expect(dev.global).toMatchObject({ scrape_interval: '30s', evaluation_interval: '30s', external_labels: { environment: 'dev' } });
    expect(dev.scrape_configs.length).toBeLessThan(prod.scrape_configs.length);
  });

  it('the Kubernetes render discovers annotated pods and passes promtool once discovery is stubbed', () => {
    const k8s = config('prod', 'prometheus-kubernetes.yml');
    const pods = job(k8s, 'kubernetes-pods');
    expect(pods?.kubernetes_sd_configs?.[0]?.role).toBe('pod');
    expect(pods?.relabel_configs?.[0]).toEqual({ source_labels: ['__meta_kubernetes_pod_annotation_prometheus_io_scrape'], regex: 'true', action: 'keep' });
    const dir = mkdtempSync(join(bundle('prod'), 'monitoring', '.k8s-'));
    const stubbed = join(dir, '..', 'prometheus-kubernetes.promtool.yml');
    writeFileSync(stubbed, withoutKubernetesSd(readFileSync(join(bundle('prod'), 'monitoring', 'prometheus-kubernetes.yml'), 'utf8')));
    const result = spawnSync(needTool('promtool'), ['check', 'config', stubbed], { encoding: 'utf8' });
    rmSync(stubbed);
    rmSync(dir, { recursive: true });
    expect(result.stdout + result.stderr).toMatch(/SUCCESS: 4 rule files found/);
    expect(result.status).toBe(0);
  });
});

describe('check.ts monitoring validators', () => {
  const run = async (env: 'prod' | 'dev') => {
    const loaded = loadEnv({ env, ...(env === 'prod' ? { envFile: join(REPO, '.env.example') } : {}), purpose: 'plan' });
    return runValidators({ bundleDir: bundle(env), env: loaded, files: listBundle(bundle(env)), secretValues: [] }, monitoringValidators);
  };

  it('pass on the rendered bundles', async () => {
    for (const env of ['prod', 'dev'] as const) {
      const report = await run(env);
      expect(report.results.flatMap((r) => r.problems)).toEqual([]);
    }
  });

  it('report amtool and lint failures in a broken bundle', async () => {
    const am = join(bundle('dev'), 'monitoring', 'alertmanager', 'alertmanager.yml');
    const original = readFileSync(am, 'utf8');
    writeFileSync(am, original.replace('receiver: team-email\n', 'receiver: no-such-receiver\n'));
    const dashboard = join(bundle('dev'), 'monitoring', 'grafana', 'dashboards', 'healthmate-dev-overview.json');
    const dashboardText = readFileSync(dashboard, 'utf8');
    writeFileSync(dashboard, dashboardText.replace('"unit": "reqps"', '"unit": ""'));
    try {
      const report = await run('dev');
      const messages = report.results.flatMap((r) => r.problems.map((p) => `${p.file ?? ''}: ${p.message}`));
      expect(messages).toEqual([
        expect.stringMatching(/^monitoring: amtool check-config failed:[\s\S]*no-such-receiver/),
        'monitoring/grafana/dashboards/healthmate-dev-overview.json: panel "Request rate": set a unit (fieldConfig.defaults.unit).',
      ]);
    } finally {
      writeFileSync(am, original);
      writeFileSync(dashboard, dashboardText);
    }
  });

  it("check the PrometheusRule Kubernetes loads: broken PromQL in it fails promtool, and groups other than monitoring/rules' fail the lint", async () => {
    const file = join(bundle('dev'), 'k8s', 'prometheus-rules.yaml');
    const original = readFileSync(file, 'utf8');
    // The same expression in monitoring/rules is caught by promtool check rules; here only the PrometheusRule holds it.
    writeFileSync(file, original.replace('expr: vector(1)', 'expr: sum(rate(up[5m]) by'));
    try {
      const report = await run('dev');
      const messages = report.results.flatMap((r) => r.problems.map((p) => `${p.file ?? ''}: ${p.message}`));
      expect(messages).toEqual([
        expect.stringMatching(
          /^k8s\/prometheus-rules\.yaml: promtool check rules k8s\/prometheus-rules\.yaml \(its spec\.groups\) failed:[\s\S]*could not parse expression/,
        ),
        'k8s/prometheus-rules.yaml: holds other rule groups than monitoring/rules/*.yml, the files promtool tests: render the bundle again, never edit it.',
      ]);
      // A valid expression that differs from the tested rules is still not what was tested.
      writeFileSync(file, original.replace('expr: vector(1)', 'expr: vector(2)'));
      const drifted = (await run('dev')).results.flatMap((r) => r.problems.map((p) => p.message));
      expect(drifted).toEqual([expect.stringMatching(/^holds other rule groups than monitoring\/rules/)]);
    } finally {
      writeFileSync(file, original);
    }
  });
});
