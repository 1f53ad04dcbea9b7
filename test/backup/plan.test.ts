import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScript } from '../helpers/run.js';
import { tempDir, tempDirWithBundle } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';

const PASSWORD = 'Plan-Test-Password-7c1d9e';

describe('backup-db.ts --dry-run', () => {
  it('prints the --compose plan: pg_dump inside the postgres container of the bundle, no password, nothing written', () => {
    needTool('docker');
    const state = tempDir();
    const result = runScript(
      'backup-db.ts',
      ['--env', 'dev', '--set', `STATE_DIR=${state}`, '--set', `POSTGRES_PASSWORD=${PASSWORD}`, '--compose', '--dry-run'],
      {
        cwd: tempDirWithBundle('dev', state),
      },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /^dump: \S*(docker compose|docker-compose) -p healthmate-dev -f \S*dist\/dev\/docker-compose\.yml exec -T postgres pg_dump -U healthmate_user --format=custom --compress=1 -d healthmate$/m,
    );
    expect(result.stdout).toContain('verify: ');
    expect(result.stdout).toContain('no encryption (BACKUP_AGE_RECIPIENTS_FILE is empty)');
    expect(`${result.stdout}${result.stderr}`).not.toContain(PASSWORD);
    expect(existsSync(join(state, 'backups'))).toBe(false);
  });

  it('prints the pgBackRest backup plan: run on the repository host, through its compose service or --local', () => {
    const state = tempDir();
    const cwd = tempDirWithBundle('dev', state);
    const result = runScript('backup-db.ts', ['--env', 'dev', '--set', `STATE_DIR=${state}`, '--base', '--type', 'diff', '--dry-run'], { cwd });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/exec -T pgbackrest-repo pgbackrest --stanza=healthmate backup --type=diff/);
    const local = runScript('backup-db.ts', ['--env', 'dev', '--set', `STATE_DIR=${state}`, '--base', '--local', '--dry-run']);
    expect(local.stdout).toMatch(/^pgbackrest --stanza=healthmate backup --type=full/m);
    expect(existsSync(join(state, 'backups'))).toBe(false);
    expect(existsSync(join(state, 'textfile'))).toBe(false);
  });
});
