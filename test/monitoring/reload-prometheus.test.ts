import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/net.js';
import { runScript } from '../helpers/run.js';
import { type Daemon, startPrometheus, writeInitialConfigs } from './helpers.js';

describe('reload-prometheus.ts against a real Prometheus', () => {
  const root = mkdtempSync(join(tmpdir(), 'healthmate-reload-'));
  let prometheus: Daemon;
  let config: string;
  const reload = (url: string) => runScript('reload-prometheus.ts', ['--env', 'dev', '--set', `STATE_DIR=${join(root, 'state')}`, '--url', url]);

  beforeAll(async () => {
    config = writeInitialConfigs(root).prometheusConfig;
    prometheus = await startPrometheus(config, join(root, 'data'));
  });
  afterAll(async () => {
    await prometheus?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('reloads and verifies the success gauge and timestamp', async () => {
    writeFileSync(config, 'global:\n  scrape_interval: 20s\n');
    const result = reload(prometheus.url);
    expect(result.stderr).not.toMatch(/error:/);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('prometheus_config_last_reload_successful = 1');
    const status = (await (await fetch(`${prometheus.url}/api/v1/status/config`)).json()) as { data: { yaml: string } };
    expect(status.data.yaml).toContain('scrape_interval: 20s');
  }, 30_000);

  it('exits 1 with Prometheus own reason when the config is broken, and Prometheus keeps the old one', async () => {
    writeFileSync(config, 'global:\n  scrape_interval: twenty\n');
    const result = reload(prometheus.url);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/Prometheus at http:\/\/127\.0\.0\.1:\d+ refused the reload \(HTTP 500\): .*twenty/);
    const status = (await (await fetch(`${prometheus.url}/api/v1/status/config`)).json()) as { data: { yaml: string } };
    expect(status.data.yaml).toContain('scrape_interval: 20s');
  }, 30_000);

  it('exits 1 when Prometheus is unreachable', async () => {
    const result = reload(`http://127.0.0.1:${await freePort()}`);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot reach Prometheus at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  });

  it('--dry-run prints the call and reloads nothing', () => {
    const result = runScript('reload-prometheus.ts', ['--env', 'dev', '--url', prometheus.url, '--dry-run']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      `POST ${prometheus.url}/-/reload and verify prometheus_config_last_reload_successful = 1 and prometheus_config_last_reload_success_timestamp_seconds advanced\n`,
    );
  });
});
