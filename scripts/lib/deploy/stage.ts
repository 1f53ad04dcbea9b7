/** Step 7: pull the images and stage the release into `current` (copy, sync, mountpoints, secret owners). */
import { chownSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { $ } from 'zx/core';
import { addCleanup } from '../cleanup.js';
import { hostSetup } from '../compose/host-setup.js';
import { readCompose } from '../compose/model.js';
import { engineHas } from '../docker-engine.js';
import { OperationError } from '../errors.js';
import { log } from '../log.js';
import { pgbackrestImages } from '../pgbackrest/layout.js';
import type { DeployContext } from './context.js';
import { formatCommand } from './plan.js';
import { createMountpoints, releasePath, syncRelease } from './releases.js';

/** Pulls images; images that exist only locally (built or imported on this engine) are accepted with a warning. */
export async function pullImages(ctx: DeployContext): Promise<void> {
  const releaseCompose = [...ctx.plan.compose.slice(0, -1), join(ctx.plan.releaseDir, 'docker-compose.yml')];
  // The postgres image (pinned PostgreSQL + Debian's pgbackrest) is built here, once per version pair.
  const postgresImage = pgbackrestImages(ctx.plan.env.values).db;
  if (!(await engineHas('image', postgresImage))) {
    log.info(`  building ${postgresImage}`);
    const [bcommand, ...brest] = [...releaseCompose, 'build', 'postgres'];
    const built = await $({ quiet: true, nothrow: true })`${bcommand} ${brest}`;
    if (built.exitCode !== 0) throw new OperationError(`building ${postgresImage} failed: ${built.stderr.trim().split('\n').slice(-3).join(' ')}`);
  }
  const [command, ...rest] = [...releaseCompose, 'pull', '--quiet'];
  const pulled = await $({ quiet: true, nothrow: true })`${command} ${rest}`;
  if (pulled.exitCode === 0) return;
  const model = readCompose(join(ctx.plan.releaseDir, 'docker-compose.yml'));
  const images = [...new Set(model.services.filter((s) => !s.profiles?.length).map((s) => s.image ?? ''))].filter(Boolean);
  const missing: string[] = [];
  for (const image of images) {
    if (!(await engineHas('image', image))) missing.push(image);
  }
  if (missing.length > 0)
    throw new OperationError(
      `images cannot be pulled and are not on the engine: ${missing.join(', ')}.`,
      'check the *_IMAGE and BACKEND_TAG values and the registry login',
    );
  log.warn('pull failed, but every image is already on the engine: using those.');
}

/** Makes `current` the given release: copy (remote), sync, mountpoints, state folders, secret owners. */
export async function stageRelease(ctx: DeployContext, releaseDir: string): Promise<void> {
  const { paths, host } = ctx;
  const model = readCompose(join(releaseDir, 'docker-compose.yml'));
  // The same derivation render writes into the bundle for up.sh (host-setup.txt, secret-owners.txt).
  const setup = hostSetup(model, ctx.plan.env);
  const synced = syncRelease(releaseDir, ctx.plan.currentDir);
  createMountpoints(ctx.plan.currentDir, setup.mountpoints);
  log.info(`  ${ctx.plan.currentDir}: ${synced.written.length} files written, ${synced.removed.length} removed`);
  for (const dir of setup.stateDirs) mkdirSync(dir.path, { recursive: true });
  // The release itself goes along, so any operator's --rollback finds it on the host.
  if (host.kind === 'ssh') await copyToEngineHost(ctx, [releaseDir, ctx.plan.currentDir, paths.certs, paths.acme]);
  const chowns = [
    ...setup.secrets.map((s) => ({ path: join(ctx.plan.currentDir, s.path), uid: s.uid })),
    ...setup.stateDirs.flatMap((d) => (d.uid === undefined ? [] : [{ path: d.path, uid: d.uid }])),
  ];
  const isRoot = process.getuid?.() === 0;
  if (isRoot && host.kind === 'local') {
    for (const { path, uid } of chowns) chownSync(path, uid, -1);
    return;
  }
  // Not root, or a remote host: chown inside a throwaway container (root there, no network).
  const byUid = new Map<number, string[]>();
  for (const { path, uid } of chowns) {
    if (uid === process.getuid?.() && host.kind === 'local') continue;
    byUid.set(uid, [...(byUid.get(uid) ?? []), path]);
  }
  for (const [uid, files] of byUid) {
    const mounts = [...new Set(files.map((f) => resolve(f, '..')))].flatMap((dir, i) => ['-v', `${dir}:/m${i}`]);
    const dirs = [...new Set(files.map((f) => resolve(f, '..')))];
    const targets = files.map((f) => `/m${dirs.indexOf(resolve(f, '..'))}/${f.split('/').pop()}`);
    const argv = [
      'docker',
      'run',
      '--rm',
      '--network',
      'none',
      '--user',
      '0',
      '--entrypoint',
      'chown',
      ...mounts,
      ctx.plan.env.values.POSTGRES_IMAGE,
      String(uid),
      ...targets,
    ];
    const result = await $({ quiet: true, nothrow: true })`${argv[0]} ${argv.slice(1)}`;
    if (result.exitCode !== 0)
      throw new OperationError(`cannot chown secret files to uid ${uid}: ${result.stderr.trim().split('\n').pop()}`, 'run the deploy as root');
  }
}

export async function copyToEngineHost(ctx: DeployContext, dirs: string[]): Promise<void> {
  if (ctx.host.kind !== 'ssh') return;
  for (const dir of dirs) {
    // Streamed byte for byte (a tar is binary; a string would mangle it).
    const remote = formatCommand(['sh', '-c', 'mkdir -p -- "$1" && tar -C "$1" -xf -', 'sh', dir]);
    await $({ quiet: true })`tar -C ${dir} -cf - .`.pipe($({ quiet: true })`ssh ${ctx.host.sshArgs} ${ctx.host.target} -- ${remote}`);
  }
}

/**
 * A release folder on this machine: with a remote engine another operator may
 * have deployed it, so it is fetched from the engine's host when missing here.
 */
export async function localRelease(ctx: DeployContext, release: string): Promise<string | undefined> {
  const dir = releasePath(ctx.paths.deploy, release);
  if (existsSync(dir) || ctx.host.kind !== 'ssh') return existsSync(dir) ? dir : undefined;
  const remote = formatCommand(['sh', '-c', '[ -d "$1" ] || exit 3; tar -C "$1" -cf - .', 'sh', dir]);
  // Hidden while incomplete, so nothing takes a half-fetched release for a whole one.
  const partial = join(dir, '..', `.${release}.fetching`);
  mkdirSync(partial, { recursive: true, mode: 0o700 });
  const removePartial = addCleanup(() => rmSync(partial, { recursive: true, force: true }));
  try {
    try {
      await $({ quiet: true })`ssh ${ctx.host.sshArgs} ${ctx.host.target} -- ${remote}`.pipe($({ quiet: true })`tar -C ${partial} -xf -`);
    } catch {
      return undefined;
    }
    renameSync(partial, dir);
    log.info(`  fetched release ${release} from ${ctx.host.target}`);
    return dir;
  } finally {
    removePartial();
    rmSync(partial, { recursive: true, force: true });
  }
}
