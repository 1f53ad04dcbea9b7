import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { $ } from 'zx/core';
import { offsiteTarget, remoteName } from '../../backup/offsite.js';
import type { LoadedEnv } from '../../env/load.js';
import { requireTool } from '../../tools.js';
import { error, type Problem, type Validator, warning } from '../types.js';

const CRON_FIELDS: [string, number, number][] = [
  ['minute', 0, 59],
  ['hour', 0, 23],
  ['day of month', 1, 31],
  ['month', 1, 12],
  ['day of week', 0, 7],
];

function cronFieldValid(field: string, min: number, max: number): boolean {
  return field.split(',').every((part) => {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!m) return false;
    const numbers = [m[2], m[3], m[4]].filter((n) => n !== undefined).map(Number);
    const inRange = [m[2], m[3]].filter((n) => n !== undefined).every((n) => Number(n) >= min && Number(n) <= max);
    return inRange && numbers.every((n) => Number.isInteger(n));
  });
}

/** An /etc/cron.d file: VAR=value lines, or 5 time fields, a user and a command. */
export function checkCrontab(text: string, file: string): Problem[] {
  const problems: Problem[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || /^[A-Z_]+=/.test(line)) return;
    const fields = line.split(/\s+/);
    if (fields.length < 7) {
      problems.push(error('a cron.d line needs 5 time fields, a user and a command.', file, index + 1));
      return;
    }
    CRON_FIELDS.forEach(([name, min, max], i) => {
      if (!cronFieldValid(fields[i] as string, min, max)) problems.push(error(`invalid ${name} field "${fields[i]}".`, file, index + 1));
    });
    if (!line.includes('>>')) problems.push(error('cron output must be appended to a log file (>> file 2>&1).', file, index + 1));
  });
  return problems;
}

/**
 * Offsite copies (3-2-1): prod without a remote, a remote rclone would not
 * know, or an sftp remote that does not verify the server's host key.
 */
export function checkOffsite(env: LoadedEnv, processEnv: NodeJS.ProcessEnv = process.env): Problem[] {
  const target = offsiteTarget(env);
  if (!target)
    return env.name === 'prod'
      ? [warning('BACKUP_OFFSITE_REMOTE is empty: production backups stay on the host they protect; set an rclone remote (docs/backup-restore.md).')]
      : [];
  const name = remoteName(target);
  const prefix = `RCLONE_CONFIG_${name.toUpperCase().replace(/-/g, '_')}_`;
  const option = (key: string) => processEnv[`${prefix}${key}`] ?? target.env[`${prefix}${key}`];
  const inFile = target.configFile !== '' && existsSync(target.configFile) && readFileSync(target.configFile, 'utf8').includes(`[${name}]`);
  if (!option('TYPE') && !inFile)
    return [
      warning(
        `BACKUP_OFFSITE_REMOTE names the rclone remote "${name}", which is not defined: add ${prefix}TYPE=... lines or a [${name}] section in BACKUP_OFFSITE_RCLONE_CONFIG, or backups refuse to run (exit 2).`,
      ),
    ];
  if (option('TYPE') === 'sftp' && !option('KNOWN_HOSTS_FILE'))
    return [warning(`the sftp remote "${name}" has no ${prefix}KNOWN_HOSTS_FILE: rclone would not verify the server's host key.`)];
  return [];
}

export const backupValidators: Validator[] = [
  {
    name: 'offsite backup target',
    run: (ctx) => checkOffsite(ctx.env),
  },
  {
    name: 'backup schedules',
    run(ctx) {
      const problems: Problem[] = [];
      for (const file of ctx.files) {
        if (file === 'backups/crontab') problems.push(...checkCrontab(readFileSync(join(ctx.bundleDir, file), 'utf8'), file));
        if (/^backups\/systemd\/.*\.timer$/.test(file) && !/^Persistent=true$/m.test(readFileSync(join(ctx.bundleDir, file), 'utf8')))
          problems.push(error('a backup timer needs Persistent=true so a missed run happens after downtime.', file));
      }
      return problems;
    },
  },
  {
    name: 'backup systemd units (systemd-analyze verify)',
    tools: ['systemd-analyze'],
    async run(ctx) {
      const units = ctx.files.filter((f) => /^backups\/systemd\/.*\.(service|timer)$/.test(f));
      if (units.length === 0) return [];
      const tool = requireTool('systemd-analyze');
      const args = ['verify', '--man=no', ...units.map((u) => `./${u.split('/').pop()}`)];
      const result = await $({ quiet: true, nothrow: true, timeout: '60s', cwd: join(ctx.bundleDir, 'backups', 'systemd') })`${tool} ${args}`;
      const lines = result.stderr.split('\n').filter((l) => l.trim() !== '');
      if (result.exitCode === 0 && lines.length === 0) return [];
      return (lines.length > 0 ? lines : [`systemd-analyze exited ${result.exitCode}`]).map((l) => error(l, 'backups/systemd'));
    },
  },
];
