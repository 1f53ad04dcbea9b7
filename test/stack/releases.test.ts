import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nestedMountpoints } from '../../scripts/lib/compose/host-setup.js';
import { readCompose } from '../../scripts/lib/compose/model.js';
import { pruneReleases, releaseId, storeRelease, syncRelease } from '../../scripts/lib/deploy/releases.js';
import { localShell } from '../../scripts/lib/host-shell.js';
import { planBundle, writeBundle } from '../../scripts/lib/render/bundle.js';
import { tempDir } from '../helpers/tmp.js';
import { testEnv } from './env.js';
// Every area's template derivers, registered with render.
import '../../scripts/lib/derivers.js';

function write(dir: string, file: string, content: string, mode = 0o644): void {
  mkdirSync(join(dir, file, '..'), { recursive: true });
  writeFileSync(join(dir, file), content, { mode });
  chmodSync(join(dir, file), mode);
}

describe('release folders', () => {
  it('syncs a release into the stable folder in place: changed files replaced, stale ones removed, folders kept', () => {
    const root = tempDir();
    const r1 = join(root, 'r1');
    const r2 = join(root, 'r2');
    const current = join(root, 'current');
    write(r1, 'nginx/nginx.conf', 'one');
    write(r1, 'nginx/old.conf', 'old');
    write(r1, 'secrets/db', 's1', 0o600);
    write(r2, 'nginx/nginx.conf', 'two');
    write(r2, 'secrets/db', 's1', 0o600);
    syncRelease(r1, current);
    const folderInode = statSync(join(current, 'nginx')).ino;
    const result = syncRelease(r2, current);
    expect(result.written).toEqual(['nginx/nginx.conf']);
    expect(result.removed).toEqual(['nginx/old.conf']);
    expect(readFileSync(join(current, 'nginx/nginx.conf'), 'utf8')).toBe('two');
    // The folder a container mounts is the same folder, so a reload sees the new file.
    expect(statSync(join(current, 'nginx')).ino).toBe(folderInode);
    expect(statSync(join(current, 'secrets/db')).mode & 0o777).toBe(0o600);
    expect(statSync(join(current, 'secrets')).mode & 0o777).toBe(0o700);
  });

  it('names releases by time and tag, and prunes old ones but never current or previous', () => {
    expect(releaseId('1.4.2', new Date('2026-03-04T05:06:07.890Z'))).toBe('20260304T050607Z-1.4.2');
    const deploy = tempDir();
    const bundle = tempDir();
    write(bundle, 'docker-compose.yml', 'services: {}\n');
    const ids = ['20260101T000000Z-a', '20260102T000000Z-b', '20260103T000000Z-c', '20260104T000000Z-d'];
    for (const id of ids) storeRelease(bundle, deploy, id);
    const removed = pruneReleases(localShell(), deploy, ['20260101T000000Z-a'], 2);
    expect(removed).toEqual(['20260102T000000Z-b']);
    expect(readdirSync(join(deploy, 'releases')).sort()).toEqual(['20260101T000000Z-a', '20260103T000000Z-c', '20260104T000000Z-d']);
  });

  it('creates the mountpoint nginx needs inside its read-only config folder', () => {
    const { env } = testEnv('prod');
    const out = tempDir();
    const dir = writeBundle(planBundle(env), out);
    expect(nestedMountpoints(readCompose(join(dir, 'docker-compose.yml')))).toEqual(['nginx/certs']);
    expect(existsSync(join(dir, 'nginx/nginx.conf'))).toBe(true);
  });
});
