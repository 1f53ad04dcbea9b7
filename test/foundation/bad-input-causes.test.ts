/**
 * Causes of issue 25 that are not option problems, as a table (see test/helpers/bad-input.ts):
 * each row is an input that broke the promise before, run as a real script.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIN_SECRET_LENGTH, WEAK_WORDS } from '../../scripts/lib/env/policy.js';
import { MIN_REDACTED_LENGTH, redact, registerSecret } from '../../scripts/lib/log.js';
import { type Case, type Row, runRow } from '../helpers/bad-input.js';
import { runScriptAsync } from '../helpers/run.js';
import { type SilentServers, startSilentServers } from '../helpers/silent-server.js';

const prod = (c: Case): string[] => ['--env', 'prod', '--env-file', c.prodEnv];

/** The prod env file with one line replaced (or added). */
function withLine(c: Case, name: string, value: string): void {
  const lines = readFileSync(c.prodEnv, 'utf8')
    .split('\n')
    .filter((line) => !line.startsWith(`${name}=`));
  writeFileSync(c.prodEnv, [...lines, `${name}=${value}`].join('\n'));
}

const ROWS: Row[] = [
  // ---- N9: host paths rendered into a prod bundle are absolute ----
  {
    name: 'N9: a relative STATE_DIR in a prod env file, named with its file and line',
    script: 'render.ts',
    setup: (c) => withLine(c, 'STATE_DIR', 'state'),
    args: (c) => [...prod(c), '--dry-run'],
    code: 2,
    message: /prod\.env:\d+: STATE_DIR must be an absolute path in prod, where it is rendered into a bundle another machine runs/,
  },
  {
    name: 'N9: a relative STATE_DIR from --set',
    script: 'render.ts',
    args: (c) => [...prod(c), '--set', 'STATE_DIR=state', '--out', 'dist'],
    code: 2,
    message: 'STATE_DIR (from --set) must be an absolute path in prod',
  },
  {
    name: 'N9: a relative BACKUP_DIR in prod',
    script: 'deploy-prod.ts',
    setup: (c) => withLine(c, 'BACKUP_DIR', 'backups'),
    args: (c) => [...prod(c), '--dry-run'],
    code: 2,
    message: /prod\.env:\d+: BACKUP_DIR must be an absolute path in prod/,
  },
  {
    name: 'N9: a relative PGBACKREST_REPO_DIR in prod',
    script: 'check.ts',
    setup: (c) => withLine(c, 'PGBACKREST_REPO_DIR', '../repo'),
    args: (c) => [...prod(c)],
    code: 2,
    message: /PGBACKREST_REPO_DIR must be an absolute path in prod/,
  },
  {
    name: 'N9: dev may keep a relative STATE_DIR',
    script: 'render.ts',
    args: () => ['--env', 'dev', '--set', 'STATE_DIR=state/dev', '--dry-run'],
    code: 0,
    message: 'would write dist/dev/docker-compose.yml',
  },
  // ---- N11: the offsite remote and its credentials ----
  {
    name: 'N11: an offsite path that climbs out with ..',
    script: 'backup-db.ts',
    args: (c) => [...prod(c), '--set', 'BACKUP_OFFSITE_REMOTE=offsite:../../../../etc', '--dry-run'],
    code: 2,
    message: 'BACKUP_OFFSITE_REMOTE (from --set) must be a named rclone remote and a path without .. segments',
  },
  {
    name: 'N11: an absolute offsite path that climbs out with ..',
    script: 'backup-config.ts',
    setup: (c) => withLine(c, 'BACKUP_OFFSITE_REMOTE', 'offsite:/srv/backups/../../etc'),
    args: (c) => [...prod(c), '--dry-run'],
    code: 2,
    message: /prod\.env:\d+: BACKUP_OFFSITE_REMOTE must be a named rclone remote and a path without \.\. segments/,
  },
  {
    name: "N11: crypt's password2 in the env file is a credential, never printed",
    script: 'backup-db.ts',
    setup: (c) => withLine(c, 'RCLONE_CONFIG_OFFSITE_PASSWORD2', 'salt-Zq8v3LkP0sWn7YtR'),
    args: (c) => [...prod(c), '--dry-run'],
    code: 2,
    message: /prod\.env:\d+: RCLONE_CONFIG_OFFSITE_PASSWORD2 holds a credential, which must not sit in the env file/,
    never: 'salt-Zq8v3LkP0sWn7YtR',
  },
  {
    name: "N11: sftp's key_file_pass in the env file is a credential, never printed",
    script: 'backup-config.ts',
    setup: (c) => withLine(c, 'RCLONE_CONFIG_OFFSITE_KEY_FILE_PASS', 'kfp-Zq8v3LkP0sWn7YtR'),
    args: (c) => [...prod(c), '--dry-run'],
    code: 2,
    message: 'RCLONE_CONFIG_OFFSITE_KEY_FILE_PASS holds a credential',
    never: 'kfp-Zq8v3LkP0sWn7YtR',
  },
  // ---- N26: an undefined offsite remote is bad input, refused before anything is written ----
  {
    name: 'N26: backup-config with an undefined offsite remote writes no tarball',
    script: 'backup-config.ts',
    args: (c) => ['--env', 'dev', '--set', `STATE_DIR=${c.state}`, '--set', 'BACKUP_OFFSITE_REMOTE=nosuch:healthmate'],
    code: 2,
    message: 'BACKUP_OFFSITE_REMOTE names the rclone remote "nosuch", which is not defined.',
  },
  // ---- N17: no weak secret in a new prod file; the warnings about one stay readable ----
  {
    name: 'N17: init-env refuses a placeholder secret for a prod file, writes nothing, and says so in our own words',
    script: 'init-env.ts',
    args: (c) => ['--env', 'prod', '--out', `${c.dir}/new.env`, '--domain', 'api.healthmate.org', '--set', 'SECRET_KEY=password'],
    code: 2,
    message: 'SECRET_KEY (from --set or --domain) looks like a placeholder (contains "password"); production needs a strong random value',
  },
  {
    name: 'N17: init-env refuses a short secret for a prod file',
    script: 'init-env.ts',
    args: (c) => ['--env', 'prod', '--out', `${c.dir}/new.env`, '--domain', 'api.healthmate.org', '--set', 'REDIS_PASSWORD=Zq8v3LkP'],
    code: 2,
    message: 'REDIS_PASSWORD (from --set or --domain) is shorter than 16 characters',
  },
  {
    name: 'N17: a prod plan with the secret "password" warns in words that are not redacted away',
    script: 'render.ts',
    args: (c) => [...prod(c), '--set', 'SMTP_PASSWORD=password', '--dry-run'],
    code: 0,
    message: 'SMTP_PASSWORD (from --set) looks like a placeholder (contains "password"); production needs a strong random value',
  },
];

describe('redaction hides secrets, not our own words', () => {
  it('hides every value prod accepts; a shorter one (a placeholder word) is left, so messages stay whole', () => {
    expect(WEAK_WORDS.filter((word) => word.length >= MIN_REDACTED_LENGTH)).toEqual([]);
    expect(MIN_REDACTED_LENGTH).toBeLessThanOrEqual(MIN_SECRET_LENGTH);
    registerSecret('password');
    registerSecret('Zq8v3LkP0sWn7YtR');
    expect(redact('SMTP_PASSWORD looks like a placeholder (contains "password"); secrets/grafana_admin_password')).toBe(
      'SMTP_PASSWORD looks like a placeholder (contains "password"); secrets/grafana_admin_password',
    );
    expect(redact('url redis://:Zq8v3LkP0sWn7YtR@redis:6379/0')).toBe('url redis://:***@redis:6379/0');
  });
});

describe.concurrent('bad input of issue 25 (causes other than options): exit code, one sentence, nothing changed', () => {
  // A loop, not it.each: a test name is the whole row name (it.each cuts '$name' at 40 characters).
  for (const row of ROWS) it(row.name, () => runRow(row));
});

// ---- The Docker engine: its address (N19), "absent" versus "could not ask" (N10), no endless wait (N20) ----
let silent: SilentServers;
const UNREACHABLE = 'unix:///nonexistent/docker.sock';
/** rebuild-db-host and restore-pitr run compose against the rendered bundle in the working folder. */
async function renderBundle(c: Case): Promise<void> {
  const result = await runScriptAsync('render.ts', [...prod(c), '--out', 'dist'], { cwd: c.dir });
  expect(result.code, result.stderr).toBe(0);
}
const engine = (host: () => string) => () => ({ DOCKER_HOST: host() });
/** A short bound for an engine that never answers (an engine that answers, even slowly on a busy box, keeps the default). */
const silentEngine = (host: () => string) => () => ({ DOCKER_HOST: host(), HEALTHMATE_ENGINE_TIMEOUT: '3' });

const ENGINE_ROWS: Row[] = [
  {
    name: 'N19: DOCKER_HOST=ssh:// names no host',
    script: 'deploy-prod.ts',
    args: (c) => [...prod(c), '--dry-run'],
    env: engine(() => 'ssh://'),
    code: 2,
    message: 'DOCKER_HOST ssh:// names no host.',
  },
  {
    name: 'N19: a host starting with - never reaches ssh as an option',
    script: 'deploy-prod.ts',
    args: (c) => [...prod(c), '--status'],
    env: engine(() => 'ssh://-oProxyCommand=touch;pwned'),
    code: 2,
    message: 'names a host that is not a plain name',
  },
  {
    name: 'N19: a user starting with - never reaches ssh as an option',
    script: 'deploy-prod.ts',
    args: (c) => [...prod(c), '--dry-run'],
    env: engine(() => 'ssh://-oProxyCommand=touch%20pwned@api.healthmate.org'),
    code: 2,
    message: 'names a user that is not a plain name',
  },
  {
    name: 'N19: a password in DOCKER_HOST is refused and never shown',
    script: 'deploy-prod.ts',
    args: (c) => [...prod(c), '--status'],
    env: engine(() => 'ssh://deploy:s3cretpw@api.healthmate.org'),
    code: 2,
    message: 'DOCKER_HOST ssh://deploy:***@api.healthmate.org holds a password, which ssh never takes from a URL.',
    never: 's3cretpw',
  },
  {
    name: 'N10: restore-pitr --delta with an engine it cannot ask does not say the volume is missing',
    script: 'restore-pitr.ts',
    setup: renderBundle,
    args: (c) => [...prod(c), '--latest', '--volume', 'healthmate_pitr', '--delta'],
    env: engine(() => UNREACHABLE),
    code: 1,
    message: `could not ask the Docker engine at ${UNREACHABLE} whether volume healthmate_pitr exists: Cannot connect to the Docker daemon`,
  },
  {
    name: "N10: rebuild-db-host's safety refusals fail closed when the engine cannot be asked",
    script: 'rebuild-db-host.ts',
    setup: renderBundle,
    args: (c) => [...prod(c), '--latest'],
    env: engine(() => UNREACHABLE),
    code: 1,
    message: `could not ask the Docker engine at ${UNREACHABLE} whether the stack has a postgres container`,
  },
  {
    name: 'N20: deploy-prod --dry-run with an engine that accepts and never answers (unix socket)',
    script: 'deploy-prod.ts',
    args: (c) => [...prod(c), '--dry-run'],
    env: silentEngine(() => silent.unixUrl),
    code: 1,
    message: /the Docker engine at unix:\/\/\S+\/silent\.sock did not answer `docker version --format \{\{\.Server\.Version\}\}` within 3 s\./,
  },
  {
    name: 'N20: deploy-prod --status with an engine that accepts and never answers (unix socket)',
    script: 'deploy-prod.ts',
    args: (c) => [...prod(c), '--status'],
    env: silentEngine(() => silent.unixUrl),
    code: 1,
    message: /the Docker engine at unix:\/\/\S+\/silent\.sock did not answer `docker version/,
  },
  {
    name: 'N20: rebuild-db-host with an engine that accepts and never answers (TCP)',
    script: 'rebuild-db-host.ts',
    setup: renderBundle,
    args: (c) => [...prod(c), '--latest'],
    env: silentEngine(() => `tcp://127.0.0.1:${silent.port}`),
    code: 1,
    message: /the Docker engine at tcp:\/\/127\.0\.0\.1:\d+ did not answer `docker-compose -p healthmate -f \S+ ps -q postgres` within 3 s\./,
  },
];

describe.concurrent('the Docker engine: bad addresses refused, unanswered questions bounded, "absent" only when it says so', () => {
  beforeAll(async () => {
    silent = await startSilentServers();
  });
  afterAll(async () => {
    await silent?.close();
  });
  for (const row of ENGINE_ROWS) it(row.name, () => runRow(row));
});
