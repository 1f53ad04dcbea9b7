import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScript } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';

const SECRET = 'Config-Test-Secret-9f3a71c2';

/** A rendered-bundle stand-in with a config file, a secrets/ folder and the MANIFEST.json --bundle-dir looks for. */
function bundle(dir: string): string {
  const b = join(dir, 'bundle', 'dev');
  mkdirSync(join(b, 'secrets'), { recursive: true });
  writeFileSync(join(b, 'docker-compose.yml'), 'services: {}\n');
  writeFileSync(join(b, 'secrets', 'postgres_password'), SECRET, { mode: 0o600 });
  writeFileSync(join(b, 'MANIFEST.json'), JSON.stringify({ env: 'dev', files: [{ path: 'docker-compose.yml' }, { path: 'secrets/postgres_password' }] }));
  return b;
}

function archives(dir: string): string[] {
  return readdirSync(join(dir, 'backups', 'config'))
    .filter((n) => /\.tar\.gz(\.age)?$/.test(n))
    .sort();
}

describe('backup-config.ts', () => {
  it('archives the config folders and the bundle without secrets/, verified, with its own retention', () => {
    const dir = tempDir();
    const flags = ['--env', 'dev', '--set', `STATE_DIR=${dir}`, '--set', 'BACKUP_CONFIG_KEEP=2', '--bundle-dir', bundle(dir)];
    for (let i = 0; i < 3; i++) {
      const result = runScript('backup-config.ts', flags);
      expect(result.code, result.stderr).toBe(0);
      if (i < 2) spawnSync('sleep', ['1']); // names carry the second
    }
    const kept = archives(dir);
    expect(kept).toHaveLength(2);
    const newest = join(dir, 'backups', 'config', kept[1] as string);
    const manifest = JSON.parse(readFileSync(`${newest}.json`, 'utf8'));
    expect(manifest).toMatchObject({ encrypted: false, includesSecrets: false });
    expect(manifest.sha256).toBe(spawnSync('sha256sum', [newest], { encoding: 'utf8' }).stdout.split(' ')[0]);
    const members = spawnSync('tar', ['-tzf', newest], { encoding: 'utf8' }).stdout.split('\n');
    for (const folder of ['compose/', 'monitoring/', 'nginx/', 'backups/', 'dev/docker-compose.yml'])
      expect(
        members.some((m) => m.startsWith(folder)),
        folder,
      ).toBe(true);
    expect(members.filter((m) => m.includes('secrets'))).toEqual([]);
    const content = spawnSync('sh', ['-c', 'gzip -dc "$1"', 'sh', newest], { encoding: 'latin1', maxBuffer: 64 * 1024 * 1024 }).stdout;
    expect(content).not.toContain(SECRET);
  });

  it('includes secrets/ only when encrypted, and Debian age decrypts it', () => {
    needTool('age');
    const dir = tempDir();
    const identity = join(dir, 'identity.txt');
    spawnSync('age-keygen', ['-o', identity]);
    const recipients = join(dir, 'recipients.txt');
    writeFileSync(recipients, spawnSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).stdout);
    const result = runScript('backup-config.ts', [
      '--env',
      'dev',
      '--set',
      `STATE_DIR=${dir}`,
      '--set',
      `BACKUP_AGE_RECIPIENTS_FILE=${recipients}`,
      '--bundle-dir',
      bundle(dir),
    ]);
    expect(result.code, result.stderr).toBe(0);
    const [name] = archives(dir);
    expect(name).toMatch(/\.tar\.gz\.age$/);
    const path = join(dir, 'backups', 'config', name as string);
    expect(readFileSync(path, 'latin1')).not.toContain(SECRET);
    const listing = spawnSync('sh', ['-c', 'age -d -i "$1" "$2" | tar -xzOf - dev/secrets/postgres_password', 'sh', identity, path], { encoding: 'utf8' });
    expect(listing.status, listing.stderr).toBe(0);
    expect(listing.stdout).toBe(SECRET);
  });
});
