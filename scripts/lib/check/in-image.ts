import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { $ } from 'zx/core';
import { addCleanup, privateTempDir } from '../cleanup.js';
import { detectCompose } from '../compose/engine.js';
import { type ComposeModel, type ComposeService, readCompose } from '../compose/model.js';
import { engineHas, lastLine } from '../docker-engine.js';
import { errorMessage } from '../errors.js';
import { SECRETS_DIR } from '../render/bundle.js';
import type { CheckContext, ImageCheck } from './types.js';

/** The compose file at the bundle root. */
const COMPOSE_FILE = 'docker-compose.yml';
/** Where compose puts file secrets inside a container. */
const SECRETS_TARGET = '/run/secrets';

export type ImageCheckOutcome =
  | { status: 'ok' }
  | { status: 'failed'; output: string }
  /** The check itself could not be carried out (no image, engine refused the container). */
  | { status: 'cannot-run'; reason: string }
  /** The bundle's compose file has no such service (the dev stack has no blackbox-exporter). */
  | { status: 'not-needed' };

/** The env variable that pins a service's image (nginx → NGINX_IMAGE, blackbox-exporter → BLACKBOX_EXPORTER_IMAGE). */
export function imageVariable(service: string): string {
  return `${service.toUpperCase().replaceAll('-', '_')}_IMAGE`;
}

/**
 * `docker create` for one check: no network, every compose service name
 * resolving to loopback (nginx -t resolves upstreams), and an empty anonymous
 * volume at each mount point of the service, so the image's own files there
 * are hidden as the real bind mount hides them (docker cp then fills it).
 */
export function createArgv(check: ImageCheck, image: string, args: string[], model: Pick<ComposeModel, 'services'>, service: ComposeService): string[] {
  const hosts = model.services.flatMap((s) => ['--add-host', `${s.name}:127.0.0.1`]);
  const mounts = service.volumes.flatMap((v) => ['--mount', `type=volume,dst=${v.target},volume-nocopy`]);
  return [
    'docker',
    'create',
    '--network',
    'none',
    ...hosts,
    ...mounts,
    ...(service.user ? ['--user', service.user] : []),
    ...(check.entrypoint ? ['--entrypoint', check.entrypoint] : []),
    ...(check.workdir ? ['--workdir', check.workdir] : []),
    image,
    ...args,
  ];
}

/** How every in-image check runs, for the plan. */
export const IMAGE_CHECK_PROCEDURE =
  'docker create --network none --add-host <each service>:127.0.0.1 --mount type=volume,dst=<each mount point>,volume-nocopy <image> <tool>; docker cp <the service mounts of the bundle, secrets as empty placeholders> <id>:/; docker start -a <id>; docker rm -v <id>';

/** One plan line for a check: its name, image and tool command (bundle and image come from the env). */
export function imageCheckLine(check: ImageCheck, image: string): string {
  const args = typeof check.args === 'function' ? (check.shownArgs ?? ['…']) : check.args;
  const tool = [check.entrypoint ?? '<entrypoint>', ...args];
  return `# ${check.name}: ${image} ${tool.join(' ')}${check.workdir ? ` (in ${check.workdir})` : ''}`;
}

/**
 * Builds, in a temp folder, the file tree the service's container would see:
 * bundle folders where compose bind-mounts them, an empty placeholder for each
 * secret (never the real one), and the check's own files (host paths and
 * volumes are the empty volumes createArgv mounts). Removed through the cleanup registry.
 */
export async function stageContainerTree(check: ImageCheck, ctx: CheckContext, service: ComposeService): Promise<{ dir: string; remove: () => void }> {
  const { path: dir, remove } = privateTempDir('healthmate-image-check-');
  try {
    const at = (target: string): string => join(dir, normalize(target));
    for (const volume of service.volumes) {
      const relativeSource = volume.kind === 'bind' && volume.source.startsWith('.') ? normalize(volume.source) : undefined;
      if (relativeSource && (relativeSource === SECRETS_DIR || relativeSource.startsWith(`${SECRETS_DIR}/`))) continue;
      const source = relativeSource ? join(ctx.bundleDir, relativeSource) : undefined;
      if (source && existsSync(source)) {
        // Never copy a secret, even when a mounted folder happens to contain one.
        cpSync(source, at(volume.target), { recursive: true, filter: (path) => !path.startsWith(join(ctx.bundleDir, SECRETS_DIR)) });
      }
      // Host paths and volumes: the empty volume createArgv mounts there is the folder. Not made in the
      // tree, where a path through a symlink of the image (/var/run → /run) would make docker cp fail.
    }
    for (const name of service.secrets) writePlain(at(join(SECRETS_TARGET, name)), '');
    for (const folder of check.dirs ?? []) mkdirSync(at(folder), { recursive: true });
    for (const [path, content] of Object.entries((await check.files?.(ctx)) ?? {})) writePlain(at(path), content);
    openUp(dir);
    return { dir, remove };
  } catch (error) {
    remove();
    throw error;
  }
}

function writePlain(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content, { mode: 0o644 });
}

/** Readable by the image's own user (prometheus runs as nobody): folders 0755, files 0644 or 0755. */
function openUp(path: string): void {
  const stat = statSync(path);
  if (stat.isDirectory()) {
    chmodSync(path, 0o755);
    for (const name of readdirSync(path)) openUp(join(path, name));
  } else {
    chmodSync(path, stat.mode & 0o111 ? 0o755 : 0o644);
  }
}

const quiet = $({ quiet: true, nothrow: true });

/**
 * The image on the engine: pulled when missing, or built when the service builds it (the postgres
 * image: the deploy would build it a few steps later, so the check runs in the image that will run);
 * the reason when none of that works (or the engine cannot be asked).
 */
async function ensureImage(image: string, service: ComposeService, composeFile: string): Promise<string | undefined> {
  try {
    if (await engineHas('image', image)) return undefined;
  } catch (error) {
    return errorMessage(error).replace(/\.$/, '');
  }
  if (service.built) {
    const flavor = await detectCompose();
    if (!flavor) return `image ${image} is not on the engine and no docker compose is here to build it`;
    const [command, ...args] = [...flavor.argv, '-f', composeFile, 'build', service.name];
    const built = await quiet`${command} ${args}`;
    return built.exitCode === 0 ? undefined : `image ${image} is not on the engine and building it failed: ${lastLine(built.stderr)}`;
  }
  const pulled = await quiet`docker pull --quiet ${image}`;
  return pulled.exitCode === 0 ? undefined : `image ${image} is not on the engine and cannot be pulled: ${lastLine(pulled.stderr)}`;
}

/** Runs one check in its image through the engine DOCKER_HOST names. */
export async function runImageCheck(check: ImageCheck, ctx: CheckContext): Promise<ImageCheckOutcome> {
  const composeFile = join(ctx.bundleDir, COMPOSE_FILE);
  if (!existsSync(composeFile)) return { status: 'cannot-run', reason: `the bundle has no ${COMPOSE_FILE}` };
  const model = readCompose(composeFile);
  const service = model.services.find((s) => s.name === check.service);
  if (!service) return { status: 'not-needed' };
  if (!service.image) return { status: 'cannot-run', reason: `service ${check.service} in ${COMPOSE_FILE} names no image` };
  const missing = await ensureImage(service.image, service, composeFile);
  if (missing) return { status: 'cannot-run', reason: missing };
  const args = typeof check.args === 'function' ? check.args(ctx) : check.args;
  const tree = await stageContainerTree(check, ctx, service);
  let id: string | undefined;
  // -v: the anonymous volumes go with the container.
  const removeContainer = addCleanup(async () => {
    if (id) await quiet`docker rm -f -v ${id}`;
  });
  try {
    const [command, ...rest] = createArgv(check, service.image, args, model, service);
    const created = await quiet`${command} ${rest}`;
    if (created.exitCode !== 0) return { status: 'cannot-run', reason: `docker create failed: ${lastLine(created.stderr)}` };
    id = created.stdout.trim();
    // docker cp streams a tar through the API: works with a remote engine too (no bind mount of a local folder).
    const copied = await quiet`docker cp ${`${tree.dir}/.`} ${`${id}:/`}`;
    if (copied.exitCode !== 0) return { status: 'cannot-run', reason: `docker cp failed: ${lastLine(copied.stderr)}` };
    const started = await quiet`docker start -a ${id}`;
    if (started.exitCode === 0) return { status: 'ok' };
    return { status: 'failed', output: `${started.stdout}${started.stderr}`.trim() || `exit code ${started.exitCode}` };
  } finally {
    if (id) await quiet`docker rm -f -v ${id}`;
    removeContainer();
    tree.remove();
  }
}
