import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needTool } from './tools.js';

/** The applets the tiny image links to busybox (a shell for healthchecks, sleep, test). */
const APPLETS = ['sh', 'sleep', 'test', 'touch', 'cat', 'ls', 'grep', 'find', 'true', 'false'];

/**
 * Imports a tiny image (Debian's static busybox and a few applet links) into
 * the engine `env` points at, as `tag`. Takes a second, needs no registry and
 * no debootstrap: for tests that need real containers, not the stack.
 */
export function importBusyboxImage(env: NodeJS.ProcessEnv, tag = 'healthmate-test/busybox:latest'): string {
  const busybox = needTool('busybox');
  const rootfs = mkdtempSync(join(tmpdir(), 'healthmate-busybox-'));
  try {
    mkdirSync(join(rootfs, 'bin'));
    mkdirSync(join(rootfs, 'tmp'), { mode: 0o1777 });
    copyFileSync(busybox, join(rootfs, 'bin', 'busybox'));
    for (const applet of APPLETS) symlinkSync('busybox', join(rootfs, 'bin', applet));
    // Like the official nginx image: a default config that a bind mount of /etc/nginx hides.
    mkdirSync(join(rootfs, 'etc', 'nginx', 'conf.d'), { recursive: true });
    writeFileSync(join(rootfs, 'etc', 'nginx', 'conf.d', 'default.conf'), 'server { listen 80; }\n');
    const tar = spawnSync('tar', ['-C', rootfs, '-cf', '-', '.'], { maxBuffer: 64 * 1024 * 1024 });
    if (tar.status !== 0) throw new Error(`tar of the busybox rootfs failed: ${tar.stderr}`);
    const result = spawnSync('docker', ['import', '-', tag], { env, input: tar.stdout, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`docker import of the busybox image failed: ${result.stderr.trim()}`);
    return tag;
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
}
