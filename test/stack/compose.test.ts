import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { capacityProblem, connectionCapacity } from '../../scripts/lib/compose/capacity.js';
import { COMPOSE_V1, composeConfig, detectCompose } from '../../scripts/lib/compose/engine.js';
import { healthGates, parseCompose, readCompose, secretOwners } from '../../scripts/lib/compose/model.js';
import { checkPolicy } from '../../scripts/lib/compose/policy.js';
import { registeredSecrets } from '../../scripts/lib/log.js';
import { listBundle, planBundle, writeBundle } from '../../scripts/lib/render/bundle.js';
import { runScript } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';
import { exampleEnvFile, testEnv } from './env.js';
// Every area's template derivers, registered with render.
import '../../scripts/lib/derivers.js';

function renderStack(name: 'prod' | 'dev', overrides: Record<string, string> = {}) {
  const { env } = testEnv(name, overrides);
  const dir = writeBundle(planBundle(env), tempDir());
  return { env, dir, file: join(dir, 'docker-compose.yml') };
}

describe('rendered compose files', () => {
  for (const name of ['prod', 'dev'] as const) {
    it(`${name}: docker-compose config accepts the render (real tool)`, async () => {
      needTool('docker-compose');
      const { file } = renderStack(name);
      const result = await composeConfig(COMPOSE_V1, 'healthmate-test', file);
      expect(result.message).toBe('');
      expect(result.ok).toBe(true);
    });

    it(`${name}: passes every policy rule`, () => {
      const { dir, file } = renderStack(name);
      const findings = checkPolicy(readCompose(file), { bundleFiles: listBundle(dir), secretValues: registeredSecrets() });
      expect(findings).toEqual([]);
    });
  }

  it('prefers Compose v2 and falls back to docker-compose v1', async () => {
    needTool('docker-compose');
    const flavor = await detectCompose();
    expect(flavor?.argv.join(' ')).toMatch(/^(docker compose|docker-compose)$/);
  });

  it('docker-compose config refuses a broken file (the validator is not a rubber stamp)', async () => {
    needTool('docker-compose');
    const { file } = renderStack('prod');
    writeFileSync(file, readFileSync(file, 'utf8').replace('restart: unless-stopped', 'restrat: unless-stopped'));
    const result = await composeConfig(COMPOSE_V1, 'healthmate-test', file);
    expect(result.ok).toBe(false);
    expect(result.message).toMatch(/Unsupported config option for services\.[\w-]+: 'restrat'/);
  });

  it('prod: only nginx publishes ports beyond loopback; the app network is internal; every image pinned', () => {
    const { file } = renderStack('prod');
    const model = readCompose(file);
    const publishing = model.services.filter((s) => s.ports.some((p) => !p.hostIp?.startsWith('127.'))).map((s) => s.name);
    expect(publishing).toEqual(['nginx']);
    expect(readFileSync(file, 'utf8')).toMatch(/app:\n\s+# [^\n]*\n\s+internal: true/);
    for (const s of model.services) expect(s.image, s.name).toMatch(/:[A-Za-z0-9_.-]+$/);
    const names = model.services.map((s) => s.name).sort();
    expect(names).toEqual(
      [
        'alertmanager',
        'backend',
        'beat',
        'blackbox-exporter',
        'certbot',
        'etcd',
        'grafana',
        'haproxy',
        'nginx',
        'nginx-exporter',
        'node-exporter',
        'pgbackrest',
        'postgres',
        'postgres-exporter',
        'postgres-pitr',
        'prometheus',
        'redis',
        'redis-exporter',
        'worker',
      ].sort(),
    );
  });

  it('prod: the application reaches PostgreSQL only through HAProxy over app (a replica cut off from app loses it)', () => {
    const { file } = renderStack('prod');
    const services = (parse(readFileSync(file, 'utf8')) as { services: Record<string, { networks: string[] | Record<string, unknown> }> }).services;
    const networks = (name: string) => {
      const given = services[name]?.networks ?? [];
      return Array.isArray(given) ? given : Object.keys(given);
    };
    const shared = (a: string, b: string) => networks(a).filter((n) => networks(b).includes(n));
    for (const client of ['backend', 'worker', 'beat', 'postgres-exporter']) {
      expect(shared(client, 'haproxy'), `${client} and haproxy`).toEqual(['app']);
      expect(shared(client, 'postgres'), `${client} and postgres`).toEqual([]);
    }
  });

  it('names the services others wait on healthy (compose starts nothing behind an unhealthy one); the list form of depends_on only waits for a start', () => {
    const model = parseCompose(
      [
        'services:',
        '  web: {image: "nginx:1", depends_on: {api: {condition: service_healthy}, cache: {condition: service_started}}}',
        '  api: {image: "api:1", depends_on: {db: {condition: service_healthy}}}',
        '  worker: {image: "api:1", depends_on: [db, cache]}',
        '  db: {image: "postgres:15"}',
        '  cache: {image: "redis:7"}',
      ].join('\n'),
    );
    expect(model.services.find((s) => s.name === 'web')?.waitsHealthyFor).toEqual(['api']);
    expect(healthGates(model)).toEqual(['api', 'db']);
    expect(healthGates(readCompose(renderStack('prod').file))).toEqual(['backend', 'haproxy', 'postgres', 'redis']);
  });

  it('gives every secret file exactly one reader uid, so the deploy can chown it', () => {
    const { file } = renderStack('prod');
    const { owners, conflicts } = secretOwners(readCompose(file));
    expect(conflicts).toEqual([]);
    const uid = Object.fromEntries(owners.map((o) => [o.file, o.uid]));
    expect(uid['./secrets/postgres_password']).toBe(999);
    expect(uid['./secrets/database_url']).toBe(10001);
    expect(uid['./secrets/grafana_admin_password']).toBe(472);
    expect(uid['./secrets/postgres_exporter_password']).toBe(65534);
  });

  it('writes connection URLs and the redis password only into secret files', () => {
    const secret = 'p@ss/word:with"special#chars-1234';
    const { dir } = renderStack('prod', { POSTGRES_PASSWORD: secret, REDIS_PASSWORD: secret });
    // Through HAProxy: its write port leads to the Patroni leader, its read port to the replicas.
    const url = (name: string) => readFileSync(join(dir, 'secrets', name), 'utf8');
    expect(url('database_url')).toBe(`postgresql+asyncpg://healthmate_user:${encodeURIComponent(secret)}@haproxy:5000/healthmate`);
    expect(url('database_read_url')).toBe(`postgresql+asyncpg://healthmate_user:${encodeURIComponent(secret)}@haproxy:5001/healthmate`);
    expect(readFileSync(join(dir, 'secrets/redis_auth.conf'), 'utf8')).toBe(`requirepass "p@ss/word:with\\"special#chars-1234"\n`);
    for (const f of listBundle(dir).filter((f) => !f.startsWith('secrets/'))) {
      expect(readFileSync(join(dir, f), 'utf8'), f).not.toContain(secret);
    }
  });
});

describe('compose policy catches', () => {
  const base = `
x-logging: &logging
  driver: json-file
  options: { max-size: "10m", max-file: "3" }
services:
  web:
    image: nginx:1.26.2
    restart: unless-stopped
    logging: *logging
    healthcheck: { test: ["CMD", "true"] }
`;
  const check = (text: string, files: string[] = [], secrets: string[] = []) =>
    checkPolicy(parseCompose(text), { bundleFiles: files, secretValues: secrets }).map((f) => `${f.service ?? '-'}: ${f.message}`);

  it('accepts a clean service', () => {
    expect(check(base)).toEqual([]);
  });
  it('latest and untagged images', () => {
    expect(check(base.replace('nginx:1.26.2', 'nginx:latest')).join()).toMatch(/uses latest/);
    expect(check(base.replace('nginx:1.26.2', 'nginx')).join()).toMatch(/has no tag/);
  });
  it('a missing healthcheck, restart policy or log limit', () => {
    expect(check(base.replace(/ {4}healthcheck.*\n/, '')).join()).toMatch(/has no healthcheck/);
    expect(check(base.replace(/ {4}restart.*\n/, '')).join()).toMatch(/no restart policy/);
    expect(check(base.replace(/ {4}logging.*\n/, '')).join()).toMatch(/no log limits/);
    expect(check(`${base}    labels: { io.healthmate.healthcheck-exempt: "scratch image" }\n`.replace(/ {4}healthcheck.*\n/, ''))).toEqual([]);
  });
  it('a port published beyond loopback by anything but nginx', () => {
    expect(check(`${base}    ports: ["9090:9090"]\n`).join()).toMatch(/web: publishes 9090:9090 beyond loopback/);
    expect(check(`${base}    ports: ["127.0.0.1:9090:9090"]\n`)).toEqual([]);
  });
  it('cluster ports on the host address: only the listed services and ports, the same port on both sides', () => {
    const onAddress = { address: '10.0.0.11', ports: { web: [2379, 8008] } };
    const withPorts = (ports: string, service = 'web') => `${base.replace('  web:', `  ${service}:`)}    ports: [${ports}]\n`;
    const checkOn = (text: string) => checkPolicy(parseCompose(text), { bundleFiles: [], secretValues: [], onAddress }).map((f) => f.message);
    expect(checkOn(withPorts('"10.0.0.11:2379:2379", "10.0.0.11:8008:8008", "127.0.0.1::9999"'))).toEqual([]);
    // Another port, another address, a different host port, another service: refused, with the way out.
    expect(checkOn(withPorts('"10.0.0.11:5432:5432"')).join()).toMatch(
      /publishes 10\.0\.0\.11:5432:5432 beyond loopback; .* or to 10\.0\.0\.11 with the same port/,
    );
    expect(checkOn(withPorts('"10.0.0.12:2379:2379"')).join()).toMatch(/beyond loopback/);
    expect(checkOn(withPorts('"10.0.0.11:12379:2379"')).join()).toMatch(/beyond loopback/);
    // An allowed host port leading to another container port is still refused.
    expect(checkOn(withPorts('"10.0.0.11:2379:8008"')).join()).toMatch(/beyond loopback/);
    expect(checkOn(withPorts('"10.0.0.11:2379:2379"', 'other')).join()).toMatch(
      /publishes 10\.0\.0\.11:2379:2379 beyond loopback; only nginx may, bind it to 127\.0\.0\.1 instead/,
    );
    // Without an inventory address nothing but loopback is allowed.
    expect(check(withPorts('"10.0.0.11:2379:2379"')).join()).toMatch(/beyond loopback/);
  });
  it('secrets in environment literals', () => {
    expect(check(`${base}    environment: { DB_PASSWORD: hunter2hunter2 }\n`).join()).toMatch(/DB_PASSWORD looks like a secret/);
    expect(check(`${base}    environment: { DB_PASSWORD_FILE: /run/secrets/x }\n`)).toEqual([]);
    expect(check(`${base}    environment: { DSN: "postgres://u:pw@db/x" }\n`).join()).toMatch(/URL with credentials/);
    expect(check(`${base}    environment: { NOTE: "the-value-xyz" }\n`, [], ['the-value-xyz']).join()).toMatch(/contains a secret value/);
  });
  it('mounts and secret files missing from the bundle', () => {
    expect(check(`${base}    volumes: ["./nginx:/etc/nginx:ro"]\n`).join()).toMatch(/mounts \.\/nginx, which is not in the bundle/);
    expect(check(`${base}    volumes: ["./nginx:/etc/nginx:ro"]\n`, ['nginx/nginx.conf'])).toEqual([]);
    expect(check(`${base}    volumes: ["./nginx/nginx.conf:/etc/nginx/nginx.conf:ro"]\n`, ['nginx/nginx.conf']).join()).toMatch(
      /mounts the single file .*mount its folder/,
    );
    const withSecret = `${base}    secrets: [db]\nsecrets:\n  db: { file: ./secrets/db }\n`;
    expect(check(withSecret).join()).toMatch(/secret db reads \.\/secrets\/db, which the render did not produce/);
    expect(check(withSecret, ['secrets/db'])).toEqual([]);
  });
  it('PostgreSQL archiving through pgBackRest without init: true (PostgreSQL as PID 1 would reap the detached archive-push)', () => {
    const db = `${base}    command: ["postgres", "-c", "archive_mode=on"]\n    environment: { PGBACKREST_CONFIG: /etc/pgbackrest/conf/pgbackrest.conf }\n`;
    expect(check(db).join()).toMatch(/web: runs PostgreSQL with pgBackRest.*set init: true/);
    expect(check(`${db}    init: true\n`)).toEqual([]);
    // `pgbackrest server` is not PostgreSQL; it needs no init.
    expect(check(db.replace('["postgres", "-c", "archive_mode=on"]', '["pgbackrest", "server"]'))).toEqual([]);
  });
  it('one secret file read by two uids', () => {
    const text = `${base}    user: "1000"\n    secrets: [db]\n  other:\n    image: x:1\n    user: "2000"\n    restart: always\n    logging: *logging\n    healthcheck: { test: ["CMD", "true"] }\n    secrets: [db]\nsecrets:\n  db: { file: ./secrets/db }\n`;
    expect(check(text, ['secrets/db']).join()).toMatch(/secret db is read by web \(uid 1000\) and other \(uid 2000\)/);
  });
});

describe('PostgreSQL connection capacity', () => {
  it('fits with the defaults, counting the rolling-update peak', () => {
    const { env } = testEnv('prod');
    const report = connectionCapacity(env.values);
    expect(report.needed).toBe(2 * 3 * 50 + 2 * 2 * 10 + 4);
    expect(report.needed).toBeLessThanOrEqual(report.available);
  });

  it('fails the render and says by how much', () => {
    const { env } = testEnv('prod');
    const values = { ...env.values, BACKEND_REPLICAS: 4 };
    expect(capacityProblem(values)).toMatch(/may open 444 but max_connections allows 397 \(short by 47/);
    const dir = tempDir();
    const result = runScript('render.ts', [
      '--env',
      'prod',
      '--env-file',
      exampleEnvFile(dir),
      '--out',
      dir,
      '--set',
      `STATE_DIR=${dir}/s`,
      '--set',
      'BACKEND_REPLICAS=4',
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/short by 47/);
  });
});
