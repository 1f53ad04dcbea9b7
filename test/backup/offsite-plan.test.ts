import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDumpName } from '../../scripts/lib/backup/naming.js';
import { type OffsiteArtifact, type OffsiteSet, offsiteTarget, planOffsite, rcloneCommand, remotePath } from '../../scripts/lib/backup/offsite.js';
import { offsiteMetricsText } from '../../scripts/lib/backup/offsite-metrics.js';
import { planRetention } from '../../scripts/lib/backup/retention.js';
import { checkOffsite } from '../../scripts/lib/check/validators/backup.js';
import { isRcloneCredential, loadEnv } from '../../scripts/lib/env/load.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';

const NOW = new Date('2026-12-10T02:30:00Z');

function artifact(name: string, size = 100): OffsiteArtifact {
  return { name, path: `/b/${name}`, time: parseDumpName(name)?.time as Date, sha256: 'a'.repeat(64), size };
}

function set(artifacts: OffsiteArtifact[], days = 7): OffsiteSet {
  return {
    label: 'healthmate',
    subdir: '',
    localDir: '/b',
    artifacts,
    parse: (n) => (parseDumpName(n)?.database === 'healthmate' ? parseDumpName(n)?.time : undefined),
    retain: (entries, now) => new Set(planRetention(entries, { days, weeks: 0, months: 0 }, now).keep.map((e) => e.name)),
  };
}

describe('planOffsite (what one run copies and deletes on the remote)', () => {
  const a = 'healthmate-20261208T020000Z.dump';
  const b = 'healthmate-20261209T020000Z.dump';
  const c = 'healthmate-20261210T020000Z.dump';

  it('copies what the remote lacks, newest first; a copy without a manifest or of another size does not count', () => {
    const remote = new Map([
      [a, 100],
      [`${a}.json`, 2],
      [b, 100], // no manifest: the rename happened, the manifest copy did not
      [`${c}.partial`, 40],
    ]);
    const plan = planOffsite(set([artifact(a), artifact(b), artifact(c)]), remote, NOW);
    expect(plan.copy.map((x) => x.name)).toEqual([c, b]);
    expect(plan.remove).toEqual([`${c}.partial`]);
    const resized = planOffsite(
      set([artifact(a, 99)]),
      new Map([
        [a, 100],
        [`${a}.json`, 2],
      ]),
      NOW,
    );
    expect(resized.copy.map((x) => x.name)).toEqual([a]);
  });

  it('applies the local retention rule to local and remote artifacts together, never to other files', () => {
    const old = 'healthmate-20261101T020000Z.dump';
    const remote = new Map([
      [old, 1],
      [`${old}.json`, 1],
      ['otherdb-20261101T020000Z.dump', 1],
      ['otherdb-20261101T020000Z.dump.json', 1],
      ['otherdb-20261101T020000Z.dump.partial', 1],
      ['notes.txt', 1],
    ]);
    const plan = planOffsite(set([artifact(c)], 2), remote, NOW);
    expect(plan.copy.map((x) => x.name)).toEqual([c]);
    expect(plan.remove).toEqual([old, `${old}.json`]);
    expect(plan.keep).toEqual([c]);
  });

  it('does not copy a local artifact the remote retention would delete right away', () => {
    const old = 'healthmate-20261101T020000Z.dump';
    const plan = planOffsite(set([artifact(old), artifact(c)], 2), new Map(), NOW);
    expect(plan.copy.map((x) => x.name)).toEqual([c]);
  });

  it('joins remote paths without doubled slashes', () => {
    const target = { remote: 'offsite:healthmate/prod/', configFile: '', env: {}, idleTimeout: 30 };
    expect(remotePath(target, 'config', 'x.tar.gz')).toBe('offsite:healthmate/prod/config/x.tar.gz');
    expect(remotePath({ ...target, remote: 'offsite:' }, '', 'x')).toBe('offsite:x');
  });
});

describe('offsite metrics', () => {
  it('keeps the last verified time across a failed run and says what is missing', () => {
    const attempt = { label: 'healthmate', attemptedAt: NOW, status: 0 as const, missing: 2 };
    const text = offsiteMetricsText(attempt, 1_765_000_000);
    expect(text).toContain('healthmate_backup_offsite_last_success_timestamp_seconds{backup="healthmate"} 1765000000');
    expect(text).toContain('healthmate_backup_offsite_last_status{backup="healthmate"} 0');
    expect(text).toContain('healthmate_backup_offsite_missing{backup="healthmate"} 2');
    expect(offsiteMetricsText(attempt, undefined)).not.toContain('last_success');
  });
});

describe('check.ts: offsite target', () => {
  const env = (vars: Record<string, string>, name: 'dev' | 'prod' = 'dev', fileText = '') => {
    const file = join(tempDir(), `.env.${name}`);
    writeFileSync(file, fileText);
    return loadEnv({ env: name, envFile: file, purpose: 'plan', processEnv: {}, overrides: vars });
  };

  it('warns in prod without a remote, and not in dev', () => {
    const prod = loadEnv({
      env: 'prod',
      envFile: join(import.meta.dirname, '..', '..', '.env.example'),
      purpose: 'plan',
      processEnv: {},
      overrides: { BACKUP_OFFSITE_REMOTE: '' },
    });
    expect(checkOffsite(prod, {}).map((p) => [p.severity, p.message])).toEqual([
      ['warning', expect.stringMatching(/^BACKUP_OFFSITE_REMOTE is empty: production backups stay on the host they protect/)],
    ]);
    expect(checkOffsite(env({}), {})).toEqual([]);
  });

  it('warns about an undefined remote and an sftp remote without known_hosts; accepts a complete one', () => {
    expect(checkOffsite(env({ BACKUP_OFFSITE_REMOTE: 'off-site:x' }), {})[0]?.message).toMatch(
      /"off-site", which is not defined: add RCLONE_CONFIG_OFF_SITE_TYPE/,
    );
    const sftp = env({ BACKUP_OFFSITE_REMOTE: 'offsite:x' }, 'dev', 'RCLONE_CONFIG_OFFSITE_TYPE=sftp\nRCLONE_CONFIG_OFFSITE_HOST=backup.example.org\n');
    expect(checkOffsite(sftp, {})[0]?.message).toMatch(/no RCLONE_CONFIG_OFFSITE_KNOWN_HOSTS_FILE/);
    expect(checkOffsite(sftp, { RCLONE_CONFIG_OFFSITE_KNOWN_HOSTS_FILE: '/etc/healthmate/known_hosts' })).toEqual([]);
    const conf = join(tempDir(), 'rclone.conf');
    writeFileSync(conf, '[offsite]\ntype = s3\nenv_auth = true\n');
    expect(checkOffsite(env({ BACKUP_OFFSITE_REMOTE: 'offsite:x', BACKUP_OFFSITE_RCLONE_CONFIG: conf }), {})).toEqual([]);
  });
});

describe('how long rclone waits on a remote', () => {
  const flags = (overrides: Record<string, string>) => {
    const envFile = join(import.meta.dirname, '..', '..', '.env.example');
    const target = offsiteTarget(loadEnv({ env: 'prod', envFile, purpose: 'plan', processEnv: {}, overrides }));
    return rcloneCommand(target as NonNullable<typeof target>, ['lsjson', 'offsite:x']).args;
  };

  it('two tries of a 30 s idle timeout and a 15 s connect timeout by default; BACKUP_OFFSITE_IDLE_TIMEOUT sets the idle one', () => {
    const tries = ['--retries', '1', '--low-level-retries', '2', '--contimeout', '15s'];
    expect(flags({})).toEqual(['--config', '', ...tries, '--timeout', '30s', 'lsjson', 'offsite:x']);
    expect(flags({ BACKUP_OFFSITE_IDLE_TIMEOUT: '120' })).toEqual(['--config', '', ...tries, '--timeout', '120s', 'lsjson', 'offsite:x']);
  });
});

describe("the env file carries rclone's RCLONE_CONFIG_* form of the remote", () => {
  it('passes the lines to rclone (the process env wins), where prod refuses any other unknown name', () => {
    const file = join(tempDir(), '.env.prod');
    const example = readFileSync(join(import.meta.dirname, '..', '..', '.env.example'), 'utf8');
    writeFileSync(file, `${example}\nRCLONE_CONFIG_OFFSITE_TYPE=sftp\nRCLONE_CONFIG_OFFSITE_HOST=backup.example.org\n`);
    const env = loadEnv({ env: 'prod', envFile: file, purpose: 'plan', processEnv: {} });
    expect(env.rclone).toEqual({ RCLONE_CONFIG_OFFSITE_TYPE: 'sftp', RCLONE_CONFIG_OFFSITE_HOST: 'backup.example.org' });
    const saved = process.env.RCLONE_CONFIG_OFFSITE_HOST;
    process.env.RCLONE_CONFIG_OFFSITE_HOST = 'other.example.org';
    try {
      expect(offsiteTarget(env)).toEqual({ remote: 'offsite:healthmate/prod', configFile: '', env: { RCLONE_CONFIG_OFFSITE_TYPE: 'sftp' }, idleTimeout: 30 });
    } finally {
      if (saved === undefined) delete process.env.RCLONE_CONFIG_OFFSITE_HOST;
      else process.env.RCLONE_CONFIG_OFFSITE_HOST = saved;
    }
    writeFileSync(file, `${example}\nRCLONE_OFFSITE_TYPE=sftp\n`);
    expect(() => loadEnv({ env: 'prod', envFile: file, purpose: 'plan', processEnv: {} })).toThrow(/RCLONE_OFFSITE_TYPE is not a known variable/);
  });
});

describe('which RCLONE_CONFIG_* options are credentials (refused in the env file, never printed)', () => {
  /** Every option name of every backend rclone knows, with whether rclone itself hides it (IsPassword). */
  function rcloneOptions(): Map<string, boolean> {
    const result = spawnSync(needTool('rclone'), ['config', 'providers'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    expect(result.status, result.stderr).toBe(0);
    const options = new Map<string, boolean>();
    for (const backend of JSON.parse(result.stdout) as { Options: { Name: string; IsPassword: boolean }[] }[])
      for (const option of backend.Options) options.set(option.Name, (options.get(option.Name) ?? false) || option.IsPassword);
    return options;
  }
  const asVariable = (option: string): string => `RCLONE_CONFIG_OFFSITE_${option.toUpperCase()}`;

  it('every option rclone obscures (its own list: pass, password2, key_file_pass, ...) is one', () => {
    const obscured = [...rcloneOptions()].filter(([, hidden]) => hidden).map(([name]) => name);
    expect(obscured).toContain('password2');
    expect(obscured.filter((name) => !isRcloneCredential(asVariable(name)))).toEqual([]);
  });

  it('so are the plain credentials (tokens, keys, client secrets), and not the paths and switches that name them', () => {
    const options = rcloneOptions();
    // By hand from rclone 1.60's backends: what a leak would give away, and what it would not.
    const secrets = [
      'token',
      'access_token',
      'refresh_token',
      'client_secret',
      'secret_access_key',
      'session_token',
      'key',
      'key_pem',
      'api_key',
      'sas_url',
      'service_account_credentials',
      'sse_customer_key',
      'sse_customer_key_base64',
      'application_credential_secret',
      'bearer_token',
      'auth_token',
    ];
    const plain = [
      'host',
      'user',
      'port',
      'key_file',
      'pubkey_file',
      'known_hosts_file',
      'shared_credentials_file',
      'access_key_id',
      'token_url',
      'bearer_token_command',
      'ask_password',
      'key_use_agent',
      'env_auth',
    ];
    for (const name of [...secrets, ...plain]) expect(options.has(name), `rclone has no option ${name}`).toBe(true);
    expect(secrets.filter((name) => !isRcloneCredential(asVariable(name)))).toEqual([]);
    expect(plain.filter((name) => isRcloneCredential(asVariable(name)))).toEqual([]);
  });
});
