/**
 * The bad-input campaign of issue 16 as a table: each row is an input a careful
 * user tried, the exit code it must give, a fragment of the one sentence it must
 * print, and "nothing changed" (the row's folder is the same before and after).
 * Rows run as real scripts (tsx), several at once, each in its own folder.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { loadEnv } from '../../scripts/lib/env/load.js';
import { log, setVerbose } from '../../scripts/lib/log.js';
import { assertRenderedParses } from '../../scripts/lib/render/syntax.js';
import { type Case, type Row, runRow } from '../helpers/bad-input.js';
import { REPO } from '../helpers/run.js';

const prod = (c: Case): string[] => ['--env', 'prod', '--env-file', c.prodEnv];
const dev = (c: Case): string[] => ['--env', 'dev', '--set', `STATE_DIR=${c.state}`];
const examplePlan = (c: Case): string[] => ['--env', 'prod', '--env-file', c.example, '--set', `STATE_DIR=${c.state}`];
const DUMP = 'healthmate-20261130T010000Z.dump';
/** A folder that looks like a rendered bundle of `env` (what the --bundle kinds read: its MANIFEST.json). */
function fakeBundle(dir: string, env: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'MANIFEST.json'), `${JSON.stringify({ env, files: [] })}\n`);
}

function writeDump(c: Case, manifest: string): void {
  mkdirSync(join(c.dir, 'b'));
  writeFileSync(join(c.dir, 'b', DUMP), 'PGDMP not really\n');
  writeFileSync(join(c.dir, 'b', `${DUMP}.json`), manifest);
}

const ROWS: Row[] = [
  // ---- Dangerous ----
  {
    name: 'deploy-dev refuses the prod env',
    script: 'deploy-dev.ts',
    args: (c) => [...prod(c), '--dry-run'],
    code: 2,
    message: 'deploy-dev.ts runs only with --env dev, not "prod"',
  },
  {
    name: 'deploy-prod refuses the dev env',
    script: 'deploy-prod.ts',
    args: (c) => [...dev(c), '--dry-run'],
    code: 2,
    message: 'deploy-prod.ts runs only with --env prod, not "dev"',
  },
  {
    name: 'init-env refuses a newline in --domain (an extra line in the file)',
    script: 'init-env.ts',
    args: (c) => ['--env', 'prod', '--out', join(c.dir, 'new.env'), '--domain', 'x\nSTATE_DIR=/'],
    code: 2,
    message: '--domain holds a control character',
  },
  {
    name: 'init-env refuses a --domain that is no DNS name',
    script: 'init-env.ts',
    args: (c) => ['--env', 'prod', '--out', join(c.dir, 'new.env'), '--domain', 'not a domain'],
    code: 2,
    message: '--domain must be a DNS name like api.example.org, not "not a domain"',
  },
  {
    name: 'init-env refuses a URL as --domain',
    script: 'init-env.ts',
    args: (c) => ['--env', 'prod', '--out', join(c.dir, 'new.env'), '--domain', 'https://api.healthmate.org/'],
    code: 2,
    message: '--domain must be a DNS name like api.example.org, not "https://api.healthmate.org/"',
  },
  {
    name: 'init-env checks --set with the schema',
    script: 'init-env.ts',
    args: (c) => ['--env', 'prod', '--out', join(c.dir, 'new.env'), '--set', 'BACKEND_REPLICAS=0'],
    code: 2,
    message: 'BACKEND_REPLICAS (from --set or --domain) must be at least 1 (got "0")',
  },
  {
    name: 'init-env refuses an unknown --set',
    script: 'init-env.ts',
    args: (c) => ['--env', 'prod', '--out', join(c.dir, 'new.env'), '--set', 'DOMIAN=api.healthmate.org'],
    code: 2,
    message: 'DOMIAN (from --set or --domain) is not a known variable',
  },
  {
    name: 'init-env takes --out, and says so for --env-file (Node 20 claims that flag)',
    script: 'init-env.ts',
    setup: (c) => writeFileSync(join(c.dir, 'given.env'), '# exists, so Node 20 lets the script start\n'),
    args: (c) => ['--env', 'prod', '--env-file', join(c.dir, 'given.env')],
    code: 2,
    message: 'init-env.ts writes its file with --out <file>',
  },
  {
    name: 'render refuses a quote that YAML cannot hold, naming variable, file and line',
    script: 'render.ts',
    setup: (c) => writeFileSync(join(c.dir, '.env.dev'), "# mail\nSMTP_USER=al'erts@healthmate.org\n"),
    args: () => ['--env', 'dev'],
    code: 2,
    message: '.env.dev:2: SMTP_USER holds a quote, backslash or $',
  },
  {
    name: 'a double quote from --set says it came from --set',
    script: 'render.ts',
    args: (c) => [...dev(c), '--set', 'ALERT_EMAIL_TO=on"call@healthmate.org', '--dry-run'],
    code: 2,
    message: 'ALERT_EMAIL_TO (from --set) holds a quote, backslash or $',
  },
  // ---- Values the schema let through ----
  {
    name: 'a duplicate key is an error in prod, with both lines',
    script: 'render.ts',
    setup: (c) => writeFileSync(c.prodEnv, `${readFileSync(c.prodEnv, 'utf8')}\nBACKEND_REPLICAS=2\nBACKEND_REPLICAS=4\n`),
    args: (c) => [...prod(c), '--dry-run'],
    code: 2,
    message: /prod\.env:\d+: BACKEND_REPLICAS is set twice, on lines \d+ and \d+ \(the last one wins\)/,
  },
  {
    name: 'a duplicate key is a warning in dev, with both lines',
    script: 'render.ts',
    setup: (c) => writeFileSync(join(c.dir, '.env.dev'), 'NGINX_BURST_API=10\n# later\nNGINX_BURST_API=30\n'),
    args: () => ['--env', 'dev', '--dry-run'],
    code: 0,
    message: 'warning: .env.dev:3: NGINX_BURST_API is set twice, on lines 1 and 3',
  },
  {
    name: 'an empty secret from --set is refused in dev',
    script: 'render.ts',
    args: (c) => [...dev(c), '--set', 'POSTGRES_PASSWORD=', '--dry-run'],
    code: 2,
    message: 'POSTGRES_PASSWORD (from --set) is an empty secret',
  },
  {
    name: 'an empty secret in the dev env file is refused',
    script: 'render.ts',
    setup: (c) => writeFileSync(join(c.dir, '.env.dev'), 'REDIS_PASSWORD=\n'),
    args: () => ['--env', 'dev', '--dry-run'],
    code: 2,
    message: '.env.dev:1: REDIS_PASSWORD is an empty secret',
  },
  {
    name: 'a 100k-character COMPOSE_PROJECT_NAME is refused in one short line',
    script: 'deploy-prod.ts',
    args: (c) => [...prod(c), '--set', `COMPOSE_PROJECT_NAME=${'a'.repeat(100_000)}`, '--dry-run'],
    code: 2,
    message: 'COMPOSE_PROJECT_NAME (from --set) is 100000 characters long; at most 4096.',
  },
  {
    name: 'COMPOSE_PROJECT_NAME longer than a DNS label',
    script: 'render.ts',
    args: (c) => [...dev(c), '--set', `COMPOSE_PROJECT_NAME=${'a'.repeat(64)}`, '--dry-run'],
    code: 2,
    message: 'COMPOSE_PROJECT_NAME (from --set) must be 1-63 lowercase letters',
  },
  {
    name: 'POSTGRES_DB longer than a PostgreSQL identifier (63)',
    script: 'render.ts',
    args: (c) => [...dev(c), '--set', `POSTGRES_DB=${'d'.repeat(64)}`, '--dry-run'],
    code: 2,
    message: 'POSTGRES_DB (from --set) must be a lowercase SQL identifier',
  },
  {
    name: 'K8S_NAMESPACE longer than a DNS label',
    script: 'render.ts',
    args: (c) => [...dev(c), '--set', `K8S_NAMESPACE=${'n'.repeat(64)}`, '--dry-run'],
    code: 2,
    message: 'K8S_NAMESPACE (from --set) must be a DNS label',
  },
  {
    name: 'invalid UTF-8 in the env file, with the line',
    script: 'render.ts',
    setup: (c) =>
      writeFileSync(
        join(c.dir, '.env.dev'),
        Buffer.concat([Buffer.from('# ok\nALERT_EMAIL_TO=oncall@healthmate.org\nSMTP_USER=al'), Buffer.from([0xff, 0xfe]), Buffer.from('x\n')]),
      ),
    args: () => ['--env', 'dev', '--dry-run'],
    code: 2,
    message: '.env.dev:3: line 3 is not valid UTF-8',
  },
  {
    name: 'invalid UTF-8 inside a secret, with the line',
    script: 'render.ts',
    setup: (c) =>
      writeFileSync(join(c.dir, '.env.dev'), Buffer.concat([Buffer.from('SECRET_KEY=abc'), Buffer.from([0xc3, 0x28]), Buffer.from('def-0123456789\n')])),
    args: () => ['--env', 'dev', '--dry-run'],
    code: 2,
    message: '.env.dev:1: line 1 is not valid UTF-8',
  },
  {
    name: 'a value from the process environment says so',
    script: 'render.ts',
    env: () => ({ BACKEND_REPLICAS: 'three' }),
    args: (c) => [...dev(c), '--dry-run'],
    code: 2,
    message: 'BACKEND_REPLICAS (from the process environment) must be a whole number (got "three")',
  },
  {
    name: 'a value from --set says so',
    script: 'render.ts',
    args: (c) => [...dev(c), '--set', 'NGINX_HTTPS_PORT=70000', '--dry-run'],
    code: 2,
    message: 'NGINX_HTTPS_PORT (from --set) must be at most 65535',
  },
  {
    name: 'DOMAIN that looks like an IP address',
    script: 'render.ts',
    args: (c) => [...dev(c), '--set', 'DOMAIN=999.1.1.1', '--dry-run'],
    code: 2,
    message: 'not something that looks like an IP address',
  },
  {
    name: '--env-file of a folder: Node 20 itself exits 9 before the script starts',
    script: 'render.ts',
    setup: (c) => mkdirSync(join(c.dir, 'envdir')),
    args: (c) => ['--env-file', join(c.dir, 'envdir'), '--dry-run'],
    code: 9,
    message: 'invalid format',
  },
  {
    name: '--env-file of a missing file: Node 20 itself exits 9',
    script: 'render.ts',
    args: (c) => ['--env-file', join(c.dir, 'nope.env'), '--dry-run'],
    code: 9,
    message: 'not found',
  },
  {
    name: 'the default .env.prod is a folder',
    script: 'render.ts',
    setup: (c) => mkdirSync(join(c.dir, '.env.prod')),
    args: () => ['--env', 'prod', '--dry-run'],
    code: 2,
    message: 'env file .env.prod is a folder, not a file',
  },
  // ---- Flags ----
  {
    name: 'reload-prometheus --url that is no URL',
    script: 'reload-prometheus.ts',
    args: (c) => [...dev(c), '--url', 'notaurl', '--dry-run'],
    code: 2,
    message: '--url must be an http(s) base URL',
  },
  {
    name: 'reload-prometheus --alertmanager-url with another scheme',
    script: 'reload-prometheus.ts',
    args: (c) => [...dev(c), '--alertmanager-url', 'ftp://127.0.0.1:9093', '--dry-run'],
    code: 2,
    message: '--alertmanager-url must be an http(s) base URL',
  },
  {
    name: 'maintenance --url that is no URL',
    script: 'maintenance.ts',
    args: (c) => [...dev(c), '--url', 'notaurl', '--list'],
    code: 2,
    message: '--url must be an http(s) base URL',
  },
  {
    name: 'setup-monitoring --prometheus-url that is no URL (real run)',
    script: 'setup-monitoring.ts',
    args: (c) => [...dev(c), '--prefix', join(c.dir, 'root'), '--prometheus-url', 'notaurl'],
    code: 2,
    message: '--prometheus-url must be an http(s) base URL',
  },
  {
    name: 'setup-monitoring rolls back and leaves no folder behind when the reload fails',
    script: 'setup-monitoring.ts',
    args: (c) => [
      ...dev(c),
      '--prefix',
      join(c.dir, 'root'),
      '--prometheus-url',
      `http://127.0.0.1:${c.port}`,
      '--alertmanager-url',
      `http://127.0.0.1:${c.port}`,
    ],
    code: 1,
    message: 'rolled back',
  },
  {
    name: 'backup-db --dry-run refuses an unencrypted prod backup like the real run',
    script: 'backup-db.ts',
    args: (c) => [...prod(c), '--set', 'BACKUP_AGE_RECIPIENTS_FILE=', '--dry-run'],
    code: 2,
    message: 'BACKUP_AGE_RECIPIENTS_FILE is empty',
  },
  {
    name: 'backup-db --dry-run refuses a missing recipients file like the real run',
    script: 'backup-db.ts',
    args: (c) => [...prod(c), '--set', `BACKUP_AGE_RECIPIENTS_FILE=${join(c.dir, 'missing.txt')}`, '--dry-run'],
    code: 2,
    message: 'cannot be read (it does not exist)',
  },
  {
    name: 'deploy-prod --rollback --dry-run with no history',
    script: 'deploy-prod.ts',
    args: (c) => [...prod(c), '--rollback', '--dry-run'],
    code: 2,
    message: 'no previous release is recorded',
  },
  {
    name: 'deploy-dev --build --dry-run without HEALTHMATE_SRC',
    script: 'deploy-dev.ts',
    args: (c) => [...dev(c), '--set', `HEALTHMATE_SRC=${join(c.dir, 'no-src')}`, '--build', '--dry-run'],
    code: 2,
    message: 'holds no HealthMate checkout to build it from',
  },
  {
    name: 'maintenance --for with --end',
    script: 'maintenance.ts',
    args: (c) => [...dev(c), '--for', '30m', '--end', 'all'],
    code: 2,
    message: '--for and --end exclude each other',
  },
  {
    name: 'maintenance --end with --reason (it would be dropped)',
    script: 'maintenance.ts',
    args: (c) => [...dev(c), '--end', 'all', '--reason', 'done'],
    code: 2,
    message: '--reason applies only with --for: it describes a new window.',
  },
  {
    name: 'maintenance --list with --end',
    script: 'maintenance.ts',
    args: (c) => [...dev(c), '--end', 'all', '--list'],
    code: 2,
    message: '--end and --list exclude each other',
  },
  {
    name: 'maintenance --matcher severity=critical can never match',
    script: 'maintenance.ts',
    args: (c) => [...dev(c), '--for', '30m', '--reason', 'db upgrade', '--matcher', 'severity=critical', '--dry-run'],
    code: 2,
    message: '--matcher severity=critical would make a silence that can never match',
  },
  {
    name: 'maintenance --for -5m',
    script: 'maintenance.ts',
    args: (c) => [...dev(c), '--for', '-5m', '--reason', 'x', '--dry-run'],
    code: 2,
    message: '--for must be a duration like 30m, 2h or 1h30m, not "-5m"',
  },
  {
    name: 'generate-certs --san 999.1.1.1 (real run)',
    script: 'generate-certs.ts',
    args: (c) => [...dev(c), '--san', '999.1.1.1'],
    code: 2,
    message: '--san "999.1.1.1" looks like an IP address but is not one',
  },
  {
    name: 'generate-certs --san 1.2.3.4.5',
    script: 'generate-certs.ts',
    args: (c) => [...dev(c), '--san', '1.2.3.4.5', '--dry-run'],
    code: 2,
    message: 'looks like an IP address but is not one',
  },
  {
    name: 'generate-certs --days -5',
    script: 'generate-certs.ts',
    args: (c) => [...dev(c), '--days', '-5'],
    code: 2,
    message: '--days must be a whole number of days from 1 to 825, not "-5"',
  },
  {
    name: 'check-certs --warn-days -1',
    script: 'check-certs.ts',
    args: (c) => [...dev(c), '--warn-days', '-1'],
    code: 2,
    message: '--warn-days must be a whole number of days from 0 to 3650, not "-1"',
  },
  {
    name: 'restore-db: a manifest that is not JSON',
    script: 'restore-db.ts',
    setup: (c) => writeDump(c, '{"name": '),
    args: (c) => [...dev(c), '--file', join(c.dir, 'b', DUMP)],
    code: 1,
    message: 'is damaged (it is not valid JSON)',
  },
  {
    name: 'restore-db: an empty manifest {}',
    script: 'restore-db.ts',
    setup: (c) => writeDump(c, '{}'),
    args: (c) => [...dev(c), '--file', join(c.dir, 'b', DUMP)],
    code: 1,
    message: 'is damaged (name is missing)',
  },
  {
    name: 'restore-db: a manifest with wrong types',
    script: 'restore-db.ts',
    setup: (c) =>
      writeDump(
        c,
        JSON.stringify({
          name: DUMP,
          database: 'healthmate',
          sha256: 'a'.repeat(64),
          dumpSha256: 'b'.repeat(64),
          size: '17',
          dumpSize: 17,
          encrypted: 'no',
          compressionLevel: 1,
          pgDumpVersion: '15',
          serverVersion: '15',
          start: '2026-11-30T01:00:00Z',
          end: '2026-11-30T01:00:01Z',
          durationSeconds: 1,
          verified: true,
        }),
      ),
    args: (c) => [...dev(c), '--file', join(c.dir, 'b', DUMP), '--dry-run'],
    code: 1,
    message: 'is damaged (size:',
  },
  {
    name: 'backup-config --bundle-dir of a missing folder',
    script: 'backup-config.ts',
    args: (c) => [...dev(c), '--bundle-dir', join(c.dir, 'nope')],
    code: 2,
    message: 'does not exist',
  },
  {
    name: 'backup-config --bundle-dir of a plain file',
    script: 'backup-config.ts',
    setup: (c) => writeFileSync(join(c.dir, 'file.txt'), 'not a bundle\n'),
    args: (c) => [...dev(c), '--bundle-dir', join(c.dir, 'file.txt')],
    code: 2,
    message: 'is a file, not a bundle folder',
  },
  {
    name: 'setup-monitoring --bundle of a missing folder',
    script: 'setup-monitoring.ts',
    args: (c) => [...dev(c), '--bundle', join(c.dir, 'nope'), '--dry-run'],
    code: 2,
    message: 'does not exist',
  },
  {
    name: 'check --env prod --bundle of a dev bundle says so once',
    script: 'check.ts',
    setup: (c) => {
      mkdirSync(join(c.dir, 'dist', 'dev'), { recursive: true });
      writeFileSync(join(c.dir, 'dist', 'dev', 'MANIFEST.json'), '{"env": "dev", "files": []}\n');
    },
    args: (c) => [...examplePlan(c), '--bundle', 'dist/dev'],
    code: 2,
    message: '--bundle "dist/dev" is a dev bundle (its MANIFEST.json says so), not a prod one',
  },
  // ---- Issue 24: hosts as data ----
  {
    name: 'check --bundle dist/prod when it holds one bundle per host: name a host bundle',
    script: 'check.ts',
    setup: (c) => {
      for (const host of ['db1', 'db2', 'db3']) {
        fakeBundle(join(c.dir, 'dist', 'prod', host), 'prod');
        writeFileSync(join(c.dir, 'dist', 'prod', host, 'MANIFEST.json'), `${JSON.stringify({ env: 'prod', host, files: [] })}\n`);
      }
    },
    args: (c) => [...examplePlan(c), '--bundle', 'dist/prod'],
    code: 2,
    message: '--bundle "dist/prod" holds one bundle per host (db1, db2, db3), not a bundle; name a host bundle, such as dist/prod/db1.',
  },
  {
    name: 'two HOST_ lines whose engines are the same host and port, named with file, line and host',
    script: 'render.ts',
    setup: (c) =>
      writeFileSync(
        c.prodEnv,
        `${readFileSync(c.prodEnv, 'utf8')}\nHOST_DB1=engine=ssh://deploy@db1.internal roles=db,app address=10.0.0.11\nHOST_DB2=engine=ssh://ops@db1.internal:22 roles=app address=10.0.0.12\n`,
      ),
    args: (c) => [...prod(c), '--dry-run'],
    code: 2,
    message: /prod\.env:\d+: HOST_DB2 \(host db2\) reaches the same engine as host db1 \(db1\.internal:22\); a host is named once\./,
  },
  // ---- Issue 25: option kinds and relations (each row failed before them) ----
  {
    name: 'N1 render --out never deletes what DIR/<env> holds that render did not write',
    script: 'render.ts',
    setup: (c) => {
      mkdirSync(join(c.dir, 'out', 'dev'), { recursive: true });
      writeFileSync(join(c.dir, 'out', 'dev', 'precious.txt'), 'keep me\n');
    },
    args: (c) => [...dev(c), '--out', join(c.dir, 'out')],
    code: 2,
    message: /dev holds no MANIFEST\.json, so it is not a bundle rendered by render\.ts; render replaces only a bundle it rendered, and deleted nothing/,
  },
  {
    name: 'N1 render --out keeps a file put by hand into a previous bundle',
    script: 'render.ts',
    setup: (c) => {
      fakeBundle(join(c.dir, 'out', 'dev'), 'dev');
      writeFileSync(join(c.dir, 'out', 'dev', 'notes.txt'), 'mine\n');
    },
    args: (c) => [...dev(c), '--out', join(c.dir, 'out')],
    code: 2,
    message: 'holds notes.txt, which its MANIFEST.json does not list',
  },
  {
    name: 'N1 deploy-dev --dry-run refuses the dist/dev its real run would not replace',
    script: 'deploy-dev.ts',
    setup: (c) => {
      mkdirSync(join(c.dir, 'dist', 'dev'), { recursive: true });
      writeFileSync(join(c.dir, 'dist', 'dev', 'precious.txt'), 'keep me\n');
    },
    args: (c) => [...dev(c), '--dry-run'],
    code: 2,
    message: /dist\/dev holds no MANIFEST\.json, so it is not a bundle rendered by render\.ts; a render replaces only a bundle it rendered/,
  },
  {
    name: "N1 render --out '' is not the working folder",
    script: 'render.ts',
    setup: (c) => writeFileSync(join(c.dir, 'dev'), 'a file named like the env\n'),
    args: (c) => [...dev(c), '--out', ''],
    code: 2,
    message: '--out is empty',
  },
  {
    name: 'N3 deploy-k8s --env prod --bundle of a dev bundle',
    script: 'deploy-k8s.ts',
    setup: (c) => fakeBundle(join(c.dir, 'dist', 'dev'), 'dev'),
    args: (c) => [...examplePlan(c), '--context', 'prod-cluster', '--bundle', 'dist/dev', '--dry-run'],
    code: 2,
    message: '--bundle "dist/dev" is a dev bundle (its MANIFEST.json says so), not a prod one',
  },
  {
    name: 'N4 restore-db --target-db template1 --force',
    script: 'restore-db.ts',
    setup: (c) => writeDump(c, '{}'),
    args: (c) => [...dev(c), '--file', join(c.dir, 'b', DUMP), '--target-db', 'template1', '--force'],
    code: 2,
    message: "--target-db template1 is one of PostgreSQL's own databases",
  },
  {
    name: 'N4 restore-db --target-db postgres',
    script: 'restore-db.ts',
    setup: (c) => writeDump(c, '{}'),
    args: (c) => [...dev(c), '--file', join(c.dir, 'b', DUMP), '--target-db', 'postgres', '--dry-run'],
    code: 2,
    message: "--target-db postgres is one of PostgreSQL's own databases",
  },
  {
    name: "N5 restore-pitr --local --target-dir '' is not the working folder",
    script: 'restore-pitr.ts',
    args: (c) => [...dev(c), '--latest', '--local', '--target-dir', '', '--dry-run'],
    code: 2,
    message: '--target-dir is empty',
  },
  {
    name: 'N6 maintenance --url with a password: refused, never printed',
    script: 'maintenance.ts',
    args: (c) => [...dev(c), '--list', '--url', 'http://admin:s3cretpw@127.0.0.1:9093'],
    code: 2,
    message: '--url holds a user name or password (not shown)',
    never: 's3cretpw',
  },
  {
    name: 'N6 reload-prometheus --url with a password',
    script: 'reload-prometheus.ts',
    args: (c) => [...dev(c), '--url', 'http://admin:s3cretpw@127.0.0.1:9091', '--dry-run'],
    code: 2,
    message: '--url holds a user name or password (not shown)',
    never: 's3cretpw',
  },
  {
    name: 'N6 setup-monitoring --alertmanager-url with a password and no host',
    script: 'setup-monitoring.ts',
    args: (c) => [...dev(c), '--prefix', join(c.dir, 'root'), '--alertmanager-url', 'http://admin:s3cretpw@', '--dry-run'],
    code: 2,
    message: '--alertmanager-url holds a user name or password (not shown)',
    never: 's3cretpw',
  },
  {
    name: 'N7 generate-certs --san with an IPv6 zone id (real run)',
    script: 'generate-certs.ts',
    args: (c) => [...dev(c), '--san', 'fe80::1%eth0'],
    code: 2,
    message: '--san "fe80::1%eth0" carries an IPv6 zone id',
  },
  {
    name: 'N12 --env given twice (the last one won: prod was rendered)',
    script: 'render.ts',
    args: (c) => ['--env', 'dev', '--env', 'prod', '--env-file', c.example, '--out', join(c.dir, 'out')],
    code: 2,
    message: '--env is given twice; pass it once.',
  },
  {
    name: 'N12 --set of the same variable twice',
    script: 'render.ts',
    args: (c) => [...dev(c), '--set', 'NGINX_BURST_API=10', '--set', 'NGINX_BURST_API=30', '--dry-run'],
    code: 2,
    message: '--set NGINX_BURST_API is given twice; pass it once.',
  },
  {
    name: 'N13 restore-db --list with --file',
    script: 'restore-db.ts',
    args: (c) => [...dev(c), '--list', '--file', join(c.dir, 'nope.dump')],
    code: 2,
    message: '--list and --file exclude each other; pass one.',
  },
  {
    name: 'N13 restore-db --list with --latest',
    script: 'restore-db.ts',
    args: (c) => [...dev(c), '--list', '--latest'],
    code: 2,
    message: '--list and --latest exclude each other; pass one.',
  },
  {
    name: 'N13 generate-certs --mode import with --days',
    script: 'generate-certs.ts',
    setup: (c) => mkdirSync(join(c.dir, 'live')),
    args: (c) => [...dev(c), '--mode', 'import', '--from', join(c.dir, 'live'), '--days', '30', '--dry-run'],
    code: 2,
    message: '--days does not apply with --mode import',
  },
  {
    name: 'N13 generate-certs --mode import with --san',
    script: 'generate-certs.ts',
    setup: (c) => mkdirSync(join(c.dir, 'live')),
    args: (c) => [...dev(c), '--mode', 'import', '--from', join(c.dir, 'live'), '--san', 'api.internal.example.org', '--dry-run'],
    code: 2,
    message: '--san does not apply with --mode import',
  },
  {
    name: 'N13 deploy-prod --status with --skip-backup',
    script: 'deploy-prod.ts',
    args: (c) => [...prod(c), '--status', '--skip-backup'],
    code: 2,
    message: '--skip-backup does not apply with --status',
  },
  {
    name: 'N14 init-env --dry-run --out of an existing file',
    script: 'init-env.ts',
    setup: (c) => writeFileSync(join(c.dir, 'existing.env'), 'DOMAIN=keep.me\n'),
    args: (c) => ['--env', 'prod', '--out', join(c.dir, 'existing.env'), '--dry-run'],
    code: 2,
    message: 'already exists; it is never overwritten',
  },
  {
    name: 'N14 maintenance --end not-a-uuid --dry-run',
    script: 'maintenance.ts',
    args: (c) => [...dev(c), '--end', 'not-a-uuid', '--dry-run'],
    code: 2,
    message: '--end must be a silence id (a UUID) or all, not "not-a-uuid"',
  },
  {
    name: 'backup-db --dry-run with an offsite idle timeout under 5 s',
    script: 'backup-db.ts',
    args: (c) => [...dev(c), '--set', 'BACKUP_OFFSITE_IDLE_TIMEOUT=2', '--dry-run'],
    code: 2,
    message: 'BACKUP_OFFSITE_IDLE_TIMEOUT (from --set) must be at least 5 (got "2").',
  },
  {
    name: 'N14 backup-db --dry-run with BACKUP_DIR a file',
    script: 'backup-db.ts',
    setup: (c) => writeFileSync(join(c.dir, 'backups-file'), 'x\n'),
    args: (c) => [...dev(c), '--set', `BACKUP_DIR=${join(c.dir, 'backups-file')}`, '--dry-run'],
    code: 2,
    message: /BACKUP_DIR .*backups-file is a file, not a folder/,
  },
  {
    name: 'N15 maintenance --matcher severity=~critical can never match',
    script: 'maintenance.ts',
    args: (c) => [...dev(c), '--for', '30m', '--reason', 'db upgrade', '--matcher', 'severity=~critical', '--dry-run'],
    code: 2,
    message: '--matcher severity=~critical would make a silence that can never match',
  },
  {
    name: 'N15 maintenance --matcher with an invalid regex',
    script: 'maintenance.ts',
    args: (c) => [...dev(c), '--for', '30m', '--reason', 'db upgrade', '--matcher', 'team=~(db', '--dry-run'],
    code: 2,
    message: '"(db" is not a regular expression Alertmanager accepts',
  },
  {
    name: 'N16 backup-config --bundle-dir /',
    script: 'backup-config.ts',
    args: (c) => [...dev(c), '--bundle-dir', '/', '--dry-run'],
    code: 2,
    message: '--bundle-dir "/" holds no MANIFEST.json, so it is not a bundle rendered by render.ts',
  },
  {
    name: 'N16 backup-config --env prod --bundle-dir of a dev bundle',
    script: 'backup-config.ts',
    setup: (c) => fakeBundle(join(c.dir, 'dist', 'dev'), 'dev'),
    args: (c) => [...prod(c), '--bundle-dir', 'dist/dev', '--no-offsite', '--dry-run'],
    code: 2,
    message: '--bundle-dir "dist/dev" is a dev bundle (its MANIFEST.json says so), not a prod one',
  },
  {
    name: "N18 setup-monitoring --prefix '' is not the working folder",
    script: 'setup-monitoring.ts',
    args: (c) => [...dev(c), '--prefix', '', '--dry-run'],
    code: 2,
    message: '--prefix is empty',
  },
  {
    name: 'N18 a .env.dev symlink loop is no "using the defaults"',
    script: 'render.ts',
    setup: (c) => symlinkSync('.env.dev', join(c.dir, '.env.dev')),
    args: () => ['--env', 'dev', '--dry-run'],
    code: 2,
    message: 'env file .env.dev is a symlink loop (ELOOP)',
  },
  {
    name: 'N21 rebuild-db-host --timeout has an upper bound',
    script: 'rebuild-db-host.ts',
    args: (c) => [...dev(c), '--timeout', '99999999999', '--dry-run'],
    code: 2,
    message: '--timeout must be a whole number of seconds from 10 to 86400',
  },
  {
    name: 'N22 setup-monitoring --prefix of a file (real run)',
    script: 'setup-monitoring.ts',
    setup: (c) => writeFileSync(join(c.dir, 'afile'), 'x\n'),
    args: (c) => [...dev(c), '--prefix', join(c.dir, 'afile')],
    code: 2,
    message: /--prefix ".*afile" is a file; pass a folder\./,
  },
  {
    name: 'N22 restore-pitr --target-dir below a file',
    script: 'restore-pitr.ts',
    setup: (c) => writeFileSync(join(c.dir, 'afile'), 'x\n'),
    args: (c) => [...dev(c), '--latest', '--local', '--target-dir', join(c.dir, 'afile', 'pitr'), '--dry-run'],
    code: 2,
    message: /--target-dir ".*afile\/pitr" is below .*afile, which is a file, not a folder/,
  },
  {
    name: 'N23 backup-db --compose without a deployed or rendered bundle',
    script: 'backup-db.ts',
    args: (c) => [...dev(c), '--compose', '--dry-run'],
    code: 2,
    message: /dist\/dev\/docker-compose\.yml does not exist: this host has no deployed release and no rendered dev bundle/,
  },
  {
    name: 'N23 verify-pitr through the engine without a bundle',
    script: 'verify-pitr.ts',
    args: (c) => [...dev(c), '--dry-run'],
    code: 2,
    message: /repo-host\/docker-compose\.yml does not exist: this host has no deployed release and no rendered dev bundle/,
  },
  {
    name: 'N24 check --bundle of a folder that is no bundle: one sentence',
    script: 'check.ts',
    setup: (c) => {
      mkdirSync(join(c.dir, 'notes'));
      writeFileSync(join(c.dir, 'notes', 'a.yml'), 'a: [\n');
    },
    args: (c) => [...dev(c), '--bundle', 'notes'],
    code: 2,
    message: '--bundle "notes" holds no MANIFEST.json, so it is not a bundle rendered by render.ts',
  },
  {
    name: 'N24 setup-monitoring --bundle not rendered yet',
    script: 'setup-monitoring.ts',
    args: (c) => [...dev(c), '--bundle', 'dist/dev', '--dry-run'],
    code: 2,
    message: '--bundle "dist/dev" does not exist; render it with npx tsx scripts/render.ts --env dev',
  },
  {
    name: 'N25 init-env --out -x.env is judged as a path, not by Node',
    script: 'init-env.ts',
    args: () => ['--env', 'prod', '--out', '-x.env', '--dry-run'],
    code: 2,
    message: '--out "-x.env" starts with a dash; to mean that path, write ./-x.env.',
  },
  {
    name: '--set NAME value (a space for the =) never prints the value',
    script: 'render.ts',
    args: (c) => [...dev(c), '--set', 'POSTGRES_PASSWORD', 'Stray-Secret-8d2f', '--dry-run'],
    code: 2,
    message: 'render.ts: unexpected word 7 on the command line (not shown)',
    never: 'Stray-Secret-8d2f',
  },
  {
    name: 'N27 a refused --rollback writes no audit line',
    script: 'deploy-prod.ts',
    args: (c) => [...prod(c), '--rollback'],
    code: 2,
    message: 'no previous release is recorded',
  },
  // ---- Usage ----
  { name: 'an unknown flag', script: 'render.ts', args: () => ['--evn', 'dev'], code: 2, message: 'render.ts: unknown option --evn.' },
  { name: 'an unknown env', script: 'render.ts', args: () => ['--env', 'staging'], code: 2, message: '--env must be one of dev, prod, not "staging"' },
  { name: '--set without =', script: 'render.ts', args: (c) => [...dev(c), '--set', 'DOMAIN'], code: 2, message: '--set expects NAME=value' },
  {
    name: 'an unknown variable in a prod env file',
    script: 'render.ts',
    setup: (c) => writeFileSync(c.prodEnv, `${readFileSync(c.prodEnv, 'utf8')}\nBACKEND_REPLICA=3\n`),
    args: (c) => [...prod(c), '--dry-run'],
    code: 2,
    message: 'BACKEND_REPLICA is not a known variable',
  },
  {
    name: 'placeholder secrets refused when prod changes something',
    script: 'generate-certs.ts',
    args: (c) => [...examplePlan(c)],
    code: 2,
    message: 'looks like a placeholder (contains "changeme")',
  },
  // ---- Newcomer ----
  {
    name: 'render --env dev without .env.dev says it uses the defaults',
    script: 'render.ts',
    args: () => ['--env', 'dev', '--dry-run'],
    code: 0,
    message: 'no .env.dev here: using the dev defaults',
  },
];

describe.concurrent('bad input: exit code, one sentence, nothing changed', () => {
  it.each(ROWS)('$name', (row) => runRow(row), 450_000);
});

describe('setup.sh', () => {
  it('answers --help without installing anything, and refuses unknown arguments', () => {
    const help = spawnSync('bash', [join(REPO, 'scripts', 'setup.sh'), '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: bash scripts\/setup.sh/);
    const bad = spawnSync('bash', [join(REPO, 'scripts', 'setup.sh'), '--yes'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('unknown argument "--yes"');
  });
});

describe('render refuses a bundle that does not parse, naming the variable', () => {
  it('finds the value that breaks a YAML file', () => {
    const env = loadEnv({ env: 'dev', overrides: { SMTP_USER: 'alerts' }, processEnv: {}, purpose: 'plan' });
    const template = "smtp:\n  user: '@@SMTP_USER@@'\n  host: '@@SMTP_HOST@@'\n";
    const values = { SMTP_USER: "al'erts", SMTP_HOST: 'mailhog' };
    const files = [
      {
        source: 'monitoring/alertmanager.yml',
        target: 'alertmanager.yml',
        template,
        content: template.replace('@@SMTP_USER@@', "al'erts").replace('@@SMTP_HOST@@', 'mailhog'),
      },
    ];
    expect(() => assertRenderedParses(files, values, new Set(), env)).toThrow(/^SMTP_USER \(from --set\) makes alertmanager\.yml invalid \(invalid YAML/);
    const fine = [{ ...files[0], content: template.replace('@@SMTP_USER@@', 'alerts').replace('@@SMTP_HOST@@', 'mailhog') }] as typeof files;
    expect(() => assertRenderedParses(fine, { ...values, SMTP_USER: 'alerts' }, new Set(), env)).not.toThrow();
  });

  it('remembers a parse that passed, and parses (and refuses) a breaking value every time', () => {
    const env = loadEnv({ env: 'dev', processEnv: {}, purpose: 'plan' });
    const template = "smtp:\n  user: '@@SMTP_USER@@'\n";
    const file = (user: string) => [
      { source: 'monitoring/alertmanager.yml', target: 'alertmanager.yml', template, content: template.replace('@@SMTP_USER@@', user) },
    ];
    const saved = process.env.HEALTHMATE_CHECK_CACHE;
    const cache = mkdtempSync(join(tmpdir(), 'healthmate-parse-cache-'));
    process.env.HEALTHMATE_CHECK_CACHE = cache;
    const written: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    setVerbose(true);
    const remembered = () => written.filter((w) => w.includes('parsed before')).length;
    try {
      assertRenderedParses(file('alerts'), { SMTP_USER: 'alerts' }, new Set(), env);
      expect(remembered()).toBe(0);
      expect(readdirSync(cache)).toHaveLength(1);
      assertRenderedParses(file('alerts'), { SMTP_USER: 'alerts' }, new Set(), env);
      expect(remembered()).toBe(1);
      for (let i = 0; i < 2; i++)
        expect(() => assertRenderedParses(file("al'erts"), { SMTP_USER: "al'erts" }, new Set(), env)).toThrow(/^SMTP_USER makes alertmanager\.yml invalid/);
      expect(remembered()).toBe(1);
      expect(readdirSync(cache)).toHaveLength(1);
    } finally {
      setVerbose(false);
      spy.mockRestore();
      process.env.HEALTHMATE_CHECK_CACHE = saved;
      if (saved === undefined) delete process.env.HEALTHMATE_CHECK_CACHE;
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it('blames the template when it does not parse whatever the values', () => {
    const env = loadEnv({ env: 'dev', processEnv: {}, purpose: 'plan' });
    const template = 'a: [\nuser: @@SMTP_USER@@\n';
    const files = [{ source: 'monitoring/x.yml', target: 'x.yml', template, content: template }];
    expect(() => assertRenderedParses(files, { SMTP_USER: 'u' }, new Set(), env)).toThrow(/monitoring\/x\.yml does not parse even without the env values/);
  });
});

describe('colour', () => {
  it('child output keeps no ANSI codes when stderr is not a terminal', () => {
    const written: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    try {
      log.passthrough('\u001b[32m✔ Container healthmate-backend-1\u001b[0m  Started\n');
      log.error('\u001b[1;31mfailed\u001b[0m');
    } finally {
      spy.mockRestore();
    }
    expect(written.join('')).toBe('✔ Container healthmate-backend-1  Started\nerror: failed\n');
  });
});
