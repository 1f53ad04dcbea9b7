import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backupValidators, checkCrontab } from '../../scripts/lib/check/validators/backup.js';
import { loadEnv } from '../../scripts/lib/env/load.js';
import { buildContext } from '../../scripts/lib/render/context.js';
import { renderTemplate } from '../../scripts/lib/render/template.js';
import { REPO } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';
// Every area's template derivers, registered with render.
import '../../scripts/lib/derivers.js';

const UNITS = ['healthmate-backup-db.service', 'healthmate-backup-db.timer'];

/** A bundle folder holding the units, the .service replaced by `service`. */
function bundleWithUnits(service: string): { dir: string; files: string[] } {
  const dir = tempDir();
  cpSync(join(REPO, 'backups', 'systemd'), join(dir, 'backups', 'systemd'), { recursive: true });
  writeFileSync(join(dir, 'backups', 'systemd', UNITS[0] as string), service);
  return { dir, files: UNITS.map((u) => `backups/systemd/${u}`) };
}

describe('backup validators', () => {
  it('accepts the repo crontab and names each broken line', () => {
    const crontab = readFileSync(join(REPO, 'backups', 'crontab'), 'utf8');
    expect(checkCrontab(crontab, 'backups/crontab')).toEqual([]);
    const problems = checkCrontab('SHELL=/bin/sh\n61 2 * * * root run >> log 2>&1\n15 2 * * root run\n0 1 * * 8 root run\n', 'backups/crontab');
    expect(problems.map((p) => [p.line, p.message])).toEqual([
      [2, 'invalid minute field "61".'],
      [3, 'a cron.d line needs 5 time fields, a user and a command.'],
      [4, 'invalid day of week field "8".'],
      [4, 'cron output must be appended to a log file (>> file 2>&1).'],
    ]);
  });

  it('runs systemd-analyze verify on the units: the repo units pass, a broken one fails', async () => {
    needTool('systemd-analyze');
    const env = loadEnv({ env: 'dev', purpose: 'plan', processEnv: {} });
    const verify = backupValidators.find((v) => v.name.includes('systemd-analyze'));
    if (!verify) throw new Error('the systemd validator is missing');
    const context = buildContext(env);
    const template = `backups/systemd/${UNITS[0]}`;
    const rendered = renderTemplate(template, readFileSync(join(REPO, template), 'utf8'), context.values, context.secretNames);
    const good = bundleWithUnits(rendered.text);
    expect(await verify.run({ bundleDir: good.dir, env, files: good.files, secretValues: [] })).toEqual([]);
    const bad = bundleWithUnits('[Service]\nType=oneshot\nExecStart=npx tsx scripts/backup-db.ts\nNice=lots\n');
    const problems = await verify.run({ bundleDir: bad.dir, env, files: bad.files, secretValues: [] });
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.map((p) => p.message).join('\n')).toMatch(/Nice|ExecStart|absolute/i);
  });
});
