import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { readExporterMetrics } from '../../scripts/lib/monitoring/catalog.js';
import { startCluster } from '../backup/cluster.js';
import { freePort, WAIT_BUDGET_MS, waitFor } from '../helpers/net.js';
import { REPO } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';
import { startAlertmanager, startDaemon, writeInitialConfigs } from './helpers.js';

const EXPECTED = readExporterMetrics(join(REPO, 'monitoring'));

/** Metric names in a Prometheus text exposition. */
async function scrapeNames(url: string): Promise<Set<string>> {
  const text = await (await fetch(url)).text();
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    names.add(line.split(/[{ ]/)[0] as string);
  }
  return names;
}

async function expectExposes(source: string, metricsUrl: string): Promise<void> {
  expect(EXPECTED[source]?.length).toBeGreaterThan(0);
  const names = await scrapeNames(metricsUrl);
  const missing = (EXPECTED[source] ?? []).filter((n) => !names.has(n));
  expect(missing, `${source} does not expose these`).toEqual([]);
}

/** An exporter on a loopback port, stopped when the test ends. */
async function exporter(tool: string, args: (port: number) => string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const port = await freePort();
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const daemon = await startDaemon(needTool(tool), args(port), port, '/metrics');
    onTestFinished(() => daemon.stop());
  } finally {
    process.env = saved;
  }
  return `http://127.0.0.1:${port}/metrics`;
}

/** A plain process (not HTTP), ready when its TCP port accepts; stopped when the test ends. */
async function background(bin: string, args: string[], port: number): Promise<ChildProcess> {
  const child = spawn(bin, args, { stdio: 'ignore' });
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  );
  await waitFor(
    `${bin} on port ${port}`,
    () =>
      new Promise<boolean>((resolve) => {
        const socket = connect(port, '127.0.0.1');
        socket.once('connect', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      }),
  );
  return child;
}

const SCRAPED_HERE = ['node_exporter', 'redis_exporter', 'postgres_exporter', 'nginx_exporter', 'blackbox_exporter', 'prometheus', 'alertmanager'];
/** Scraped from the native PostgreSQL cluster of test/ha/cluster.test.ts (Patroni, etcd and HAProxy need the whole cluster running). */
const SCRAPED_IN_HA = ['patroni', 'etcd', 'haproxy'];

describe('exporter-metrics.yml names what the real Debian exporters expose', () => {
  it('lists only sources a test below scrapes, the textfile metrics, or ones marked container-only', () => {
    const unchecked = Object.keys(EXPECTED).filter(
      (s) => !SCRAPED_HERE.includes(s) && !SCRAPED_IN_HA.includes(s) && s !== 'textfile' && !s.endsWith('_container_only'),
    );
    expect(unchecked).toEqual([]);
  });

  it('textfile metrics are the names the certificate, backup, offsite and pgBackRest scripts write', () => {
    const writers = [
      'scripts/lib/certs/metrics.ts',
      'scripts/lib/backup/metrics.ts',
      'scripts/lib/backup/offsite-metrics.ts',
      'scripts/lib/pgbackrest/metrics.ts',
    ]
      .map((f) => readFileSync(join(REPO, f), 'utf8'))
      .join('\n');
    expect((EXPECTED.textfile ?? []).filter((name) => !writers.includes(name))).toEqual([]);
  });

  it('node_exporter, with the textfile collector', async () => {
    const dir = tempDir();
    const url = await exporter('prometheus-node-exporter', (p) => [`--web.listen-address=127.0.0.1:${p}`, `--collector.textfile.directory=${dir}`]);
    await expectExposes('node_exporter', url);
  });

  it('redis_exporter against redis-server with maxmemory', async () => {
    const redisPort = await freePort();
    await background(
      needTool('redis-server'),
      ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory', '10mb'],
      redisPort,
    );
    const url = await exporter('prometheus-redis-exporter', (p) => [`--redis.addr=redis://127.0.0.1:${redisPort}`, `--web.listen-address=127.0.0.1:${p}`]);
    await expectExposes('redis_exporter', url);
  });

  it('postgres_exporter against PostgreSQL 15', async () => {
    const cluster = await startCluster(tempDir());
    onTestFinished(() => cluster.stop('immediate'));
    const dsn = `postgresql://${cluster.user}:${cluster.password}@127.0.0.1:${cluster.port}/postgres?sslmode=disable`;
    const url = await exporter('prometheus-postgres-exporter', (p) => [`--web.listen-address=127.0.0.1:${p}`], { DATA_SOURCE_NAME: dsn });
    await expectExposes('postgres_exporter', url);
  });

  it('nginx-prometheus-exporter against nginx stub_status', async () => {
    const dir = tempDir();
    const nginxPort = await freePort();
    writeFileSync(
      join(dir, 'nginx.conf'),
      `daemon off;\nworker_processes 1;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n  access_log off;\n  client_body_temp_path ${dir};\n  proxy_temp_path ${dir};\n  fastcgi_temp_path ${dir};\n  uwsgi_temp_path ${dir};\n  scgi_temp_path ${dir};\n  server {\n    listen 127.0.0.1:${nginxPort};\n    location = /stub_status { stub_status; }\n  }\n}\n`,
    );
    await background(needTool('nginx'), ['-p', dir, '-c', join(dir, 'nginx.conf')], nginxPort);
    const url = await exporter('prometheus-nginx-exporter', (p) => [
      `-nginx.scrape-uri=http://127.0.0.1:${nginxPort}/stub_status`,
      `-web.listen-address=127.0.0.1:${p}`,
    ]);
    await expectExposes('nginx_exporter', url);
  });

  it('blackbox_exporter probing an HTTPS endpoint', async () => {
    const dir = tempDir();
    const openssl = spawnSync(
      needTool('openssl'),
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '30',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { encoding: 'utf8' },
    );
    expect(openssl.status, openssl.stderr).toBe(0);
    const server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (_req, res) => res.end('ok'));
    const httpsPort = await freePort();
    await new Promise<void>((resolve) => server.listen(httpsPort, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
    // The repo's module, trusting the test certificate where the stack mounts the CA.
    const config = join(dir, 'blackbox.yml');
    writeFileSync(config, readFileSync(join(REPO, 'monitoring', 'blackbox.yml'), 'utf8').replace('/etc/ssl/healthmate/ca.pem', join(dir, 'cert.pem')));
    const metrics = await exporter('prometheus-blackbox-exporter', (p) => [`--config.file=${config}`, `--web.listen-address=127.0.0.1:${p}`]);
    const probe = metrics.replace('/metrics', `/probe?module=https_health&target=${encodeURIComponent(`https://127.0.0.1:${httpsPort}/health`)}`);
    const text = await (await fetch(probe)).text();
    expect(text).toMatch(/^probe_success 1$/m);
    await expectExposes('blackbox_exporter', probe);
  });

  it('Prometheus (scraping itself, with a rule group) and Alertmanager', async () => {
    const dir = tempDir();
    const initial = writeInitialConfigs(dir);
    const port = await freePort();
    // `up` exists only as a scraped series and the rule metrics only once a group is loaded.
    writeFileSync(join(dir, 'rules.yml'), 'groups:\n  - name: g\n    rules:\n      - record: test:one\n        expr: vector(1)\n');
    writeFileSync(
      initial.prometheusConfig,
      `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [${join(dir, 'rules.yml')}]\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:${port}']\n`,
    );
    const prometheus = await startDaemon(
      needTool('prometheus'),
      [`--config.file=${initial.prometheusConfig}`, `--storage.tsdb.path=${join(dir, 'p')}`, `--web.listen-address=127.0.0.1:${port}`],
      port,
      '/-/ready',
    );
    onTestFinished(() => prometheus.stop());
    const names = async (): Promise<string[]> => ((await (await fetch(`${prometheus.url}/api/v1/label/__name__/values`)).json()) as { data: string[] }).data;
    await waitFor('Prometheus to scrape itself', async () => (await names()).includes('up'), WAIT_BUDGET_MS, 250);
    const stored = await names();
    expect((EXPECTED.prometheus ?? []).filter((n) => !stored.includes(n))).toEqual([]);
    const alertmanager = await startAlertmanager(initial.alertmanagerConfig, join(dir, 'a'));
    onTestFinished(() => alertmanager.stop());
    await expectExposes('alertmanager', `${alertmanager.url}/metrics`);
  });
});
