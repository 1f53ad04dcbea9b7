import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { Validator } from '../../scripts/lib/check/types.js';
import {
  checkPgbackrestCompose,
  checkPgbackrestConfigs,
  PGBACKREST_CONFIGS,
  pgbackrestParse,
  pgbackrestValidators,
} from '../../scripts/lib/check/validators/pgbackrest.js';
import { parseDateTime } from '../../scripts/lib/cli/kinds.js';
import { readCompose } from '../../scripts/lib/compose/model.js';
import { loadEnv } from '../../scripts/lib/env/load.js';
import { BadInputError } from '../../scripts/lib/errors.js';
import { verifyProblems } from '../../scripts/lib/pgbackrest/backup.js';
import { parseInfo, pgbackrestMetricsText, segmentEndBytes } from '../../scripts/lib/pgbackrest/metrics.js';
import { restoreTarget } from '../../scripts/lib/pgbackrest/target.js';
import { REPO, runScript } from '../helpers/run.js';
import { tempDir, tempDirWithBundle } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';

const NOW = new Date('2026-11-30T12:00:00Z');

describe('restore-pitr --to: a real RFC 3339 instant in the past', () => {
  it.each([
    ['2026-11-30T11:59:59Z', '2026-11-30 11:59:59+00'],
    ['2026-11-30T11:00:00.123456Z', '2026-11-30 11:00:00.123456+00'],
    ['2026-11-30T13:30:00+02:00', '2026-11-30 13:30:00+02:00'],
    ['2024-02-29T08:00:00-05:00', '2024-02-29 08:00:00-05:00'],
  ])('accepts %s', (text, postgres) => {
    expect(parseDateTime(text, '--to', NOW, true).sql).toBe(postgres);
  });

  it.each([
    ['2026-02-30T10:00:00Z', /does not exist/],
    ['2025-02-29T10:00:00Z', /does not exist/],
    ['2026-13-01T10:00:00Z', /does not exist/],
    ['2026-11-01T24:00:00Z', /time of day that does not exist/],
    ['2026-11-01T10:60:00Z', /time of day that does not exist/],
    ['2026-11-01T10:00:00', /not an RFC 3339 timestamp with a time zone/],
    ['2026-11-01', /not an RFC 3339/],
    ['yesterday', /not an RFC 3339/],
    ['2026-11-01T10:00:00+25:00', /impossible zone offset/],
    ['2026-11-30T12:00:01Z', /is in the future/],
    ['2027-01-01T00:00:00Z', /is in the future/],
  ])('refuses %s', (text, message) => {
    expect(() => parseDateTime(text, '--to', NOW, true)).toThrow(BadInputError);
    expect(() => parseDateTime(text, '--to', NOW, true)).toThrow(message);
  });

  it('stops at --to, at the end of the backup with --immediate, else at the end of the archive', () => {
    const to = parseDateTime('2026-11-30T10:00:00Z', '--to', NOW, true);
    expect(restoreTarget({ to })).toEqual({ kind: 'time', instant: to.instant, postgres: '2026-11-30 10:00:00+00' });
    expect(restoreTarget({ immediate: true })).toEqual({ kind: 'immediate' });
    expect(restoreTarget({})).toEqual({ kind: 'latest' });
  });
});

describe('bad input on the backup and restore paths: exit 2, one sentence, nothing changed', () => {
  const notEmpty = (dir: string) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'something'), 'x');
    return dir;
  };
  const cases: [string, string, (dir: string) => string[], RegExp][] = [
    ['backup --base --verify-restore', 'backup-db.ts', () => ['--base', '--verify-restore'], /--base and --verify-restore exclude each other/],
    ['backup --base --compose', 'backup-db.ts', () => ['--base', '--compose'], /--base and --compose exclude each other/],
    ['backup --type without --base', 'backup-db.ts', () => ['--type', 'diff'], /--type applies only with --base/],
    ['backup --local without --base', 'backup-db.ts', () => ['--local'], /--local applies only with --base/],
    ['backup --base --type weekly', 'backup-db.ts', () => ['--base', '--type', 'weekly', '--local'], /--type must be one of full, diff, incr/],
    ['restore without a target', 'restore-pitr.ts', () => ['--volume', 'v1'], /say where recovery stops/],
    [
      'restore --to and --latest',
      'restore-pitr.ts',
      () => ['--to', '2026-01-01T00:00:00Z', '--latest', '--volume', 'v1'],
      /--to and --latest exclude each other/,
    ],
    ['restore --to 2026-02-30', 'restore-pitr.ts', () => ['--to', '2026-02-30T00:00:00Z', '--volume', 'v1'], /names a day that does not exist/],
    ['restore --to in the future', 'restore-pitr.ts', () => ['--to', '2999-01-01T00:00:00Z', '--volume', 'v1'], /is in the future/],
    ['restore --to without a zone', 'restore-pitr.ts', () => ['--to', '2026-01-01 10:00', '--volume', 'v1'], /not an RFC 3339 timestamp/],
    ['restore --local without --target-dir', 'restore-pitr.ts', () => ['--latest', '--local'], /--local needs --target-dir/],
    [
      'restore --local --volume',
      'restore-pitr.ts',
      (d) => ['--latest', '--local', '--volume', 'v1', '--target-dir', d],
      /--volume and --local exclude each other/,
    ],
    ['restore --target-dir without --local', 'restore-pitr.ts', (d) => ['--latest', '--target-dir', d], /--target-dir applies only with --local/],
    ['restore without a destination', 'restore-pitr.ts', () => ['--latest'], /say where to restore/],
    ['restore --volume with a bad name', 'restore-pitr.ts', () => ['--latest', '--volume', '../etc'], /--volume must be a docker volume name/],
    ['restore into a non-empty folder', 'restore-pitr.ts', (d) => ['--latest', '--local', '--target-dir', notEmpty(join(d, 'full'))], /is not empty/],
    [
      'restore --delta into a non-cluster',
      'restore-pitr.ts',
      (d) => ['--latest', '--local', '--delta', '--target-dir', notEmpty(join(d, 'other'))],
      /--delta needs an existing PostgreSQL data folder/,
    ],
    ['rebuild --to and --immediate', 'rebuild-db-host.ts', () => ['--to', '2026-01-01T00:00:00Z', '--immediate'], /--to and --immediate exclude each other/],
    ['rebuild --timeout abc', 'rebuild-db-host.ts', () => ['--timeout', 'abc'], /--timeout must be a whole number of seconds from 10 to 86400/],
    ['certs --profile bogus', 'generate-certs.ts', () => ['--profile', 'bogus'], /--profile must be one of server, pgbackrest, cluster/],
    [
      'certs --profile pgbackrest without a CA',
      'generate-certs.ts',
      () => ['--profile', 'pgbackrest'],
      /no local CA in .*run generate-certs.ts --mode ca first/,
    ],
  ];
  it.each(cases)('%s', (_name, script, args, message) => {
    const dir = tempDir();
    const before = readdirSync(dir).sort();
    const result = runScript(script, ['--env', 'dev', '--set', `STATE_DIR=${join(dir, 'state')}`, ...args(dir)]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(
      result.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('error:')),
    ).toHaveLength(1);
    // Nothing created besides what the case itself prepared.
    expect(readdirSync(dir).filter((f) => !before.includes(f) && !['full', 'other'].includes(f))).toEqual([]);
  });
});

describe('pgBackRest dry runs, and the on-demand postgres-pitr service', () => {
  it('restores through postgres-pitr (no live volume mounted), at its own path, and prints the spare PostgreSQL on it', () => {
    needTool('docker-compose');
    const { dir, work } = devBundleHere();
    const result = runScript('restore-pitr.ts', ['--env', 'dev', '--set', `STATE_DIR=${join(dir, 'state')}`, '--latest', '--volume', 'pitr1', '--dry-run'], {
      cwd: work,
    });
    expect(result.code, result.stderr).toBe(0);
    // prepare, restore, spare: compose run cannot replace a service's own mount at the same path.
    const mounts = [...result.stdout.matchAll(/-v pitr1:(\S+) (?:--user 999:999 --entrypoint \S+ )?(\S+)/g)].map((m) => `${m[1]} ${m[2]}`);
    expect(mounts).toEqual(Array(3).fill('/var/lib/postgresql/pitr postgres-pitr'));
    expect(result.stdout).toContain('--pg1-path=/var/lib/postgresql/pitr/pgdata');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('verify-pitr.ts --dry-run prints verify and the metrics it would write, and writes nothing', () => {
    const { dir, work } = devBundleHere();
    for (const [flags, expected] of [
      [[], /exec -T pgbackrest-repo pgbackrest --stanza=healthmate verify /],
      [['--metrics-only', '--local'], /^pgbackrest --stanza=healthmate info --output=json → .*healthmate_pgbackrest\.prom$/m],
    ] as const) {
      const result = runScript('verify-pitr.ts', ['--env', 'dev', '--set', `STATE_DIR=${join(dir, 'state')}`, '--dry-run', ...flags], { cwd: work });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(expected);
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it('postgres-pitr mounts none of the live volumes and runs with archiving off', () => {
    const { dir } = renderedBundle();
    const service = readCompose(join(dir, 'docker-compose.yml')).services.find((s) => s.name === 'postgres-pitr');
    const doc = parseYaml(readFileSync(join(dir, 'docker-compose.yml'), 'utf8')) as {
      services: Record<string, { volumes: string[]; command: string[]; profiles: string[]; environment: Record<string, string> }>;
    };
    const pitr = doc.services['postgres-pitr'];
    expect(service?.profiles).toEqual(['pitr']);
    expect(pitr?.volumes.filter((v) => /postgres-data|postgres-socket|pgbackrest-spool|\/var\/lib\/postgresql\/pitr/.test(v))).toEqual([]);
    expect(pitr?.environment.PGDATA).toBe('/var/lib/postgresql/pitr/pgdata');
    // Recovery refuses to start below the primary's max_connections (the cluster's, in Patroni's bootstrap.dcs).
    const patroni = parseYaml(readFileSync(join(dir, 'patroni', 'patroni.yml'), 'utf8')) as {
      bootstrap: { dcs: { postgresql: { parameters: Record<string, unknown> } } };
    };
    const setting = (command: string[] | undefined, name: string) => command?.find((c) => c.startsWith(`${name}=`));
    expect(setting(pitr?.command, 'max_connections')).toBe(`max_connections=${patroni.bootstrap.dcs.postgresql.parameters.max_connections}`);
    expect(setting(pitr?.command, 'archive_mode')).toBe('archive_mode=off');
  });
});

/** A working folder with dist/dev rendered: the compose files the pgBackRest commands name (they refuse without). */
function devBundleHere(): { dir: string; work: string } {
  const dir = tempDir();
  return { dir, work: tempDirWithBundle('dev', join(dir, 'state')) };
}

function renderedBundle(): { dir: string; env: ReturnType<typeof loadEnv> } {
  const dir = tempDir();
  const result = runScript('render.ts', ['--env', 'prod', '--env-file', join(REPO, '.env.example'), '--out', dir]);
  expect(result.code, result.stderr).toBe(0);
  return { dir: join(dir, 'prod'), env: loadEnv({ env: 'prod', envFile: join(REPO, '.env.example'), purpose: 'plan', processEnv: {} }) };
}

describe('pgBackRest validators', () => {
  const db = readFileSync(join(REPO, 'compose', 'postgres', 'pgbackrest', 'pgbackrest.conf'), 'utf8').replaceAll('@@PGBACKREST_STANZA@@', 'healthmate');
  const repo = readFileSync(join(REPO, 'compose', 'repo-host', 'pgbackrest', 'pgbackrest.conf'), 'utf8').replaceAll('@@PGBACKREST_STANZA@@', 'healthmate');
  const pgHost = (n: number, host: string) =>
    [`pg${n}-host=${host}`, `pg${n}-host-type=tls`, `pg${n}-host-ca-file=/x`, `pg${n}-host-cert-file=/x`, `pg${n}-host-key-file=/x`, `pg${n}-path=/x`].join(
      '\n',
    );
  const fill = (text: string, pgHosts = pgHost(1, 'db.internal')) =>
    text
      .replace('@@PGBACKREST_REPO_PG_HOSTS@@', pgHosts)
      .replace(/@@PGBACKREST_(DB|REPO)_HOST@@/g, (_m, side: string) => (side === 'DB' ? 'db.internal' : 'backup.internal'))
      .replace(/@@[A-Z_]+_PORT@@/g, '8432')
      .replace(/@@[A-Z_]+@@/g, '/x');

  it('several db hosts: the repository names each as <host>.<CN of the database certificate>, no other name', () => {
    const several = [pgHost(1, 'main.db.internal'), pgHost(2, 'db2.db.internal'), pgHost(3, 'db3.db.internal')].join('\n');
    expect(checkPgbackrestConfigs({ db: fill(db), repo: fill(repo, several) }, 'healthmate')).toEqual([]);
    const other = several.replace('pg2-host=db2.db.internal', 'pg2-host=db2.elsewhere');
    expect(checkPgbackrestConfigs({ db: fill(db), repo: fill(repo, other) }, 'healthmate').map((p) => p.message)).toEqual([
      "tls-server-auth must admit the database host's CN db2.elsewhere (tls-server-auth=db2.elsewhere=healthmate); with several db hosts their names are <host>.<CN>.",
    ]);
    const ip = several.replace('pg3-host=db3.db.internal', 'pg3-host=10.0.0.13');
    expect(checkPgbackrestConfigs({ db: fill(db), repo: fill(repo, ip) }, 'healthmate').map((p) => p.message)).toContain(
      'pg3-host=10.0.0.13 is an IP address: pgBackRest matches DNS names against the certificate, so use a host name.',
    );
  });

  it('accepts the shipped configs and names each broken setting', () => {
    expect(checkPgbackrestConfigs({ db: fill(db), repo: fill(repo) }, 'healthmate')).toEqual([]);
    const broken = checkPgbackrestConfigs(
      {
        db: fill(db)
          .replace('repo1-host=backup.internal', 'repo1-host=10.0.0.7')
          .replace(/^spool-path=.*$/m, '')
          .replace('repo1-host-type=tls', 'repo1-host-type=ssh'),
        repo: `${fill(repo).replace('repo1-cipher-type=aes-256-cbc', 'repo1-cipher-type=none')}\n[global]\nrepo1-cipher-pass=oops\n`,
      },
      'healthmate',
    ).map((p) => `${p.file}: ${p.message}`);
    expect(broken).toEqual([
      `${PGBACKREST_CONFIGS.db}: repo1-host-type must be tls, not ssh.`,
      `${PGBACKREST_CONFIGS.db}: spool-path is required in [global].`,
      `${PGBACKREST_CONFIGS.db}: repo1-host=10.0.0.7 is an IP address: pgBackRest matches DNS names against the certificate, so use a host name.`,
      `${PGBACKREST_CONFIGS.repo}: repo1-cipher-type must be aes-256-cbc, not none.`,
      `${PGBACKREST_CONFIGS.repo}: repo1-cipher-pass in [global]: the passphrase belongs in secrets/pgbackrest_cipher.conf only.`,
      `${PGBACKREST_CONFIGS.db}: tls-server-auth must admit the repository host's CN 10.0.0.7 (tls-server-auth=10.0.0.7=healthmate).`,
      `${PGBACKREST_CONFIGS.repo}: repo1-cipher-type differs between the two hosts: encryption happens on the database host, both must agree.`,
    ]);
  });

  it('lets the real pgbackrest parse each config: a bad value or unknown option is an error', async () => {
    const tool = needTool('pgbackrest');
    const dir = tempDir();
    writeFileSync(join(dir, 'good.conf'), fill(db));
    expect(await pgbackrestParse(tool, join(dir, 'good.conf'), 'good', 'healthmate')).toEqual([]);
    writeFileSync(join(dir, 'bad.conf'), fill(db).replace('pg1-port=8432', 'pg1-port=abc').replace('process-max=2', 'process-max=2\nproces-max=3'));
    expect((await pgbackrestParse(tool, join(dir, 'bad.conf'), 'bad', 'healthmate')).map((p) => p.message)).toEqual([
      'pgbackrest does not know the option proces-max.',
      "pgbackrest refuses the config: 'abc' is not valid for 'pg1-port' option",
    ]);
  });

  it('says plainly that a single-host production setup is not offsite', async () => {
    const { dir } = renderedBundle();
    const files = ['postgres/pgbackrest/pgbackrest.conf', 'repo-host/pgbackrest/pgbackrest.conf', 'repo-host/docker-compose.yml', 'docker-compose.yml'];
    const env = (topology: string) =>
      loadEnv({ env: 'prod', envFile: join(REPO, '.env.example'), purpose: 'plan', processEnv: {}, overrides: { PGBACKREST_TOPOLOGY: topology } });
    const run = async (topology: string) =>
      (await (pgbackrestValidators[0] as Validator).run({ bundleDir: dir, env: env(topology), files, secretValues: [] })).map(
        (p) => `${p.severity}: ${p.message}`,
      );
    expect(await run('repository-host')).toEqual([]);
    expect(await run('single-host')).toEqual([expect.stringMatching(/^warning: PGBACKREST_TOPOLOGY=single-host: .*NOT offsite/)]);
  });

  it('checks the rendered compose wiring on both hosts', () => {
    const { dir, env } = renderedBundle();
    const files: string[] = [];
    const ctx = { bundleDir: dir, env, files, secretValues: [] };
    expect(checkPgbackrestCompose(ctx, 'healthmate')).toEqual([]);
    const stack = join(dir, 'docker-compose.yml');
    writeFileSync(stack, readFileSync(stack, 'utf8').replace(/(tls\/db:\/etc\/pgbackrest\/tls):ro/, '$1'));
    // Every Patroni member archives with the same command, from its own patroni.yml.
    const patroni = join(dir, 'patroni', 'patroni.yml');
    writeFileSync(patroni, readFileSync(patroni, 'utf8').replace("'pgbackrest --stanza=healthmate archive-push %p'", "'cp %p /wal/%f'"));
    const repoCompose = join(dir, 'repo-host', 'docker-compose.yml');
    writeFileSync(repoCompose, readFileSync(repoCompose, 'utf8').replace(/PGBACKREST_DEB_VERSION: "[^"]+"/, 'PGBACKREST_DEB_VERSION: "2.54-1"'));
    expect(checkPgbackrestCompose(ctx, 'healthmate').map((p) => p.message)).toEqual([
      'archive_command must be "pgbackrest --stanza=healthmate archive-push %p", not "cp %p /wal/%f".',
      'postgres: the TLS folder must be mounted read-only at /etc/pgbackrest/tls.',
      'pgbackrest 2.45-1 on the database host but 2.54-1 on the repository host: both must run the same version.',
    ]);
  });
});

describe('pgBackRest info → metrics, verify output', () => {
  const info = JSON.stringify([
    {
      name: 'healthmate',
      status: { code: 0, message: 'ok' },
      archive: [{ id: '15-1', min: '000000010000000000000001', max: '00000001000000020000000A' }],
      backup: [
        { label: '20261129-031500F', type: 'full', timestamp: { start: 1796000000, stop: 1796000100 }, info: { repository: { delta: 3000, size: 3000 } } },
        {
          label: '20261129-031500F_20261130-031500D',
          type: 'diff',
          timestamp: { start: 1796086400, stop: 1796086460 },
          info: { repository: { delta: 500, size: 3500 } },
        },
      ],
    },
  ]);

  it('turns info into gauges per stanza and keeps the last verify result', () => {
    const text = pgbackrestMetricsText(parseInfo(info), new Date(1796090000_000), { at: new Date(1796000000_000), ok: false });
    expect(text).toContain('healthmate_pgbackrest_last_backup_timestamp_seconds{stanza="healthmate",type="full"} 1796000100');
    expect(text).toContain('healthmate_pgbackrest_last_backup_timestamp_seconds{stanza="healthmate",type="diff"} 1796086460');
    expect(text).not.toContain('type="incr"');
    expect(text).toContain('healthmate_pgbackrest_backups{stanza="healthmate"} 2');
    expect(text).toContain('healthmate_pgbackrest_repo_backup_bytes{stanza="healthmate"} 3500');
    expect(text).toContain(`healthmate_pgbackrest_archive_max_wal_bytes{stanza="healthmate"} ${2 * 2 ** 32 + 11 * 16 * 2 ** 20}`);
    expect(text).toContain('healthmate_pgbackrest_verify_last_status 0');
    expect(segmentEndBytes('not a segment')).toBeUndefined();
  });

  it('reads pgBackRest JSON with raw newlines in an error message', () => {
    const raw =
      '[{"name":"[invalid]","status":{"code":99,"message":"other"},"backup":[],"archive":[],"repo":[{"key":1,"status":{"code":99,"message":"[FormatError] line one\nline two"}}]}]\n';
    expect(parseInfo(raw)[0]?.repo?.[0]?.status.message).toBe('[FormatError] line one\nline two');
  });

  it('finds damage in verify output although pgBackRest exits 0', () => {
    const damaged = "P02   INFO: invalid checksum '20261130-044841F/pg_data/base/5/1255.zst'\nP00   INFO: stanza: healthmate\n  status: error\n";
    expect(verifyProblems(damaged)).toEqual(['invalid checksum 20261130-044841F/pg_data/base/5/1255.zst']);
    expect(verifyProblems('P00   INFO: stanza: healthmate\n  status: ok\n')).toEqual([]);
    // pgBackRest 2.45 on a WAL segment whose last cipher block was damaged (test/backup/pgbackrest.test.ts makes one).
    const unreadable = [
      'P01   INFO: invalid result 15-1/0000000100000000/000000010000000000000001-a2f8ab397fba5441e639afa615010a9a9adcddb5.zst: [95] raised from local-1 protocol: unable to flush',
      '                                    [CryptoError] on retry after 0ms',
      'P00   INFO: stanza: healthmate',
      '                                    status: error',
    ].join('\n');
    expect(verifyProblems(unreadable)).toEqual([
      'invalid result 15-1/0000000100000000/000000010000000000000001-a2f8ab397fba5441e639afa615010a9a9adcddb5.zst (unable to flush)',
    ]);
  });
});
