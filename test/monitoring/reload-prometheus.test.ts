import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/net.js';
import { REPO, runScript } from '../helpers/run.js';
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
  });

  it('exits 1 with Prometheus own reason when the config is broken, and Prometheus keeps the old one', async () => {
    writeFileSync(config, 'global:\n  scrape_interval: twenty\n');
    const result = reload(prometheus.url);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/Prometheus at http:\/\/127\.0\.0\.1:\d+ refused the reload \(HTTP 500\): .*twenty/);
    const status = (await (await fetch(`${prometheus.url}/api/v1/status/config`)).json()) as { data: { yaml: string } };
    expect(status.data.yaml).toContain('scrape_interval: 20s');
  });

  it('retries a connection that is accepted and reset (a service still starting), then reloads', async () => {
    // In front of the real Prometheus: the first ten connections are reset, later ones forwarded. Node 20 fetch
    // left its promise unsettled on some resets (exit 13); ten resets made that likely.
    let seen = 0;
    const proxy = createServer((socket) => {
      if (seen++ < 10) return socket.resetAndDestroy();
      const upstream = connect(Number(new URL(prometheus.url).port), '127.0.0.1');
      socket.pipe(upstream).pipe(socket);
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
    });
    const port = await freePort();
    await new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve));
    try {
      writeFileSync(config, 'global:\n  scrape_interval: 25s\n');
      // Asynchronous: the proxy lives in this process.
      const child = spawn(
        join(REPO, 'node_modules', '.bin', 'tsx'),
        [join(REPO, 'scripts', 'reload-prometheus.ts'), '--env', 'dev', '--set', `STATE_DIR=${join(root, 'state')}`, '--url', `http://127.0.0.1:${port}`],
        { cwd: REPO },
      );
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
      });
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(code, stderr).toBe(0);
      expect(seen).toBeGreaterThan(10);
    } finally {
      proxy.close();
    }
  });

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
