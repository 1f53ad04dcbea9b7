import { composeCommand } from '../backup/pg.js';
import { type Captured, type Command, capture, describeCommand } from '../backup/process.js';
import { healthGates, readCompose } from '../compose/model.js';
import { waitRunningHealthy } from '../containers.js';
import { askEngine, engineHas, engineName, failureOf } from '../docker-engine.js';
import { BadInputError, OperationError } from '../errors.js';
import { log } from '../log.js';
import { composeExecRunner, type PgbackrestRunner, pgbackrestError, requireSameVersion } from './command.js';
import { PGBACKREST_CONTAINER_PATHS } from './layout.js';
import { restoreArgs } from './restore.js';
import { composeFile, type PgbackrestSettings, repoProject } from './settings.js';
import { describeTarget, type RestoreTarget } from './target.js';

export interface VolumeRestoreOptions {
  target: RestoreTarget;
  volume: string;
  delta: boolean;
}

interface Engine {
  compose: string[];
  /** `compose -p <project> -f <stack file>` */
  stack: string[];
}

async function engine(settings: PgbackrestSettings): Promise<Engine> {
  const compose = await composeCommand();
  return { compose, stack: [...compose, '-p', settings.project, '-f', composeFile(settings, 'db')] };
}

function cmd(argv: string[]): Command {
  return { file: argv[0] as string, args: argv.slice(1) };
}

/** The on-demand service (profile pitr) for a restore into a new volume, and the spare PostgreSQL on it. */
const PITR_SERVICE = 'postgres-pitr';
/**
 * Where that volume is mounted: a folder the images own (uid 999), so a new volume mounted there
 * belongs to the postgres user too. The services that mount live volumes are never used for it:
 * `compose run -v` does not replace a service's own mount at the same path (docker-compose 1.29
 * merges both through a Python set, so which one wins changes from run to run).
 */
const SIDE_MOUNT = '/var/lib/postgresql/pitr';
/** PGDATA inside a restore volume, as postgres-pitr sets it. */
const SIDE_PGDATA = `${SIDE_MOUNT}/pgdata`;

/**
 * `compose run` with pgBackRest's TLS files, config and passphrase: postgres-pitr with `volume`
 * mounted at SIDE_MOUNT, or without a volume the pgbackrest service on the stack's own postgres-data.
 */
function runWithVolume(e: Engine, volume: string | undefined, entrypoint: string, args: string[]): Command {
  const where = volume
    ? ['-v', `${volume}:${SIDE_MOUNT}`, '--user', '999:999', '--entrypoint', entrypoint, PITR_SERVICE]
    : ['--entrypoint', entrypoint, 'pgbackrest'];
  return cmd([...e.stack, 'run', '--rm', '--no-deps', '-T', ...where, ...args]);
}

function volumeCommands(
  settings: PgbackrestSettings,
  e: Engine,
  options: Omit<VolumeRestoreOptions, 'volume'> & { volume: string | undefined },
): { prepare: Command; restore: Command } {
  const dataDir = options.volume ? SIDE_PGDATA : PGBACKREST_CONTAINER_PATHS.PGBACKREST_PG_PATH;
  return {
    // pgBackRest restores only into a folder that exists and belongs to it (uid 999).
    prepare: runWithVolume(e, options.volume, 'install', ['-d', '-m', '0700', dataDir]),
    restore: runWithVolume(e, options.volume, 'pgbackrest', restoreArgs(settings, { target: options.target, dataDir, delta: options.delta })),
  };
}

async function run(command: Command, what: string): Promise<Captured> {
  const result = await capture(command);
  if (result.code !== 0) throw new OperationError(`${what} failed: ${(result.stderr || result.stdout).trim().split('\n').slice(-3).join(' ')}`);
  return result;
}

export async function volumeRestorePlan(settings: PgbackrestSettings, options: VolumeRestoreOptions): Promise<string[]> {
  const e = await engine(settings);
  const { prepare, restore } = volumeCommands(settings, e, options);
  return [
    options.delta ? `volume ${options.volume} must exist (--delta)` : `docker volume create ${options.volume}   # refused when it exists`,
    describeCommand(prepare),
    `${describeCommand(restore)}   # ${describeTarget(options.target)}`,
    `then a spare PostgreSQL on it: ${describeCommand(spareOn(e, options.volume))}`,
  ];
}

/** Restores into a docker volume through postgres-pitr; returns seconds taken. */
export async function restoreVolume(settings: PgbackrestSettings, options: VolumeRestoreOptions): Promise<number> {
  const e = await engine(settings);
  const exists = await engineHas('volume', options.volume);
  if (exists && !options.delta)
    throw new BadInputError(`docker volume ${options.volume} exists already; restore into a new one, or pass --delta to overwrite it.`);
  if (!exists && options.delta) throw new BadInputError(`--delta needs the existing volume ${options.volume}, and there is none.`);
  const started = Date.now();
  if (!exists) await run({ file: 'docker', args: ['volume', 'create', options.volume] }, `docker volume create ${options.volume}`);
  const { prepare, restore } = volumeCommands(settings, e, options);
  try {
    await run(prepare, 'preparing the data folder');
    log.info(`pgbackrest restore to ${describeTarget(options.target)} into volume ${options.volume}`);
    const result = await capture(restore);
    if (result.code !== 0) throw pgbackrestError(result, restore, { side: 'db', where: 'compose service pgbackrest', command: () => restore });
  } catch (error) {
    // Nothing half-done: a volume this run created goes away again.
    if (!exists) await capture({ file: 'docker', args: ['volume', 'rm', options.volume] });
    throw error;
  }
  return (Date.now() - started) / 1000;
}

/** A spare PostgreSQL on a restored volume: postgres-pitr (no live volume, archiving off). */
export async function spareCommand(settings: PgbackrestSettings, volume: string): Promise<Command> {
  return spareOn(await engine(settings), volume);
}

function spareOn(e: Engine, volume: string): Command {
  return cmd([...e.stack, 'run', '-d', '--no-deps', '--name', `${volume}-pg`, '-v', `${volume}:${SIDE_MOUNT}`, PITR_SERVICE]);
}

export interface RebuildOptions {
  target: RestoreTarget;
  /** Seconds to wait for PostgreSQL to finish recovery, and then for the services the stack waits on to recover. */
  timeoutSeconds: number;
}

/** The compose volume name of the stack's PostgreSQL data. */
export function dataVolume(settings: PgbackrestSettings): string {
  return `${settings.project}_postgres-data`;
}

export async function rebuildPlan(settings: PgbackrestSettings, options: RebuildOptions & { database: string }): Promise<string[]> {
  const e = await engine(settings);
  const c = (...args: string[]) => describeCommand(cmd([...e.stack, ...args]));
  const volume = dataVolume(settings);
  const { prepare, restore } = volumeCommands(settings, e, { target: options.target, volume: undefined, delta: false });
  const prefix = dcsPrefix(settings.cluster.scope);
  return [
    `1. refuse when volume ${volume} exists or the stack has a postgres container (this is for a lost host; use restore-pitr.ts otherwise)`,
    `2. pgBackRest versions equal: ${c('run', '--rm', '--no-deps', '-T', '--entrypoint', 'pgbackrest', 'pgbackrest', 'version')} and the repository host's`,
    `3. ${c('up', '-d', '--no-deps', 'etcd')}; wait until it answers: ${c('exec', '-T', 'etcd', ...settings.cluster.etcdctl(['endpoint', 'health']))}`,
    `4. refuse when etcd holds a leader or live members under ${prefix} (the cluster is alive); remove what a lost cluster left there: ${c('exec', '-T', 'etcd', ...settings.cluster.etcdctl(['del', '--prefix', prefix]))}`,
    `5. ${c('up', '--no-start', 'postgres', 'pgbackrest')}   # a new, empty ${volume}; any failure from here removes it and the containers again`,
    `6. ${describeCommand(prepare)}`,
    `7. ${describeCommand(restore)}   # ${describeTarget(options.target)}`,
    `8. ${c('up', '-d', '--no-deps', 'postgres', 'pgbackrest')}; Patroni takes the restored data over (a new cluster ${settings.cluster.scope} in etcd), replays the archive and promotes it; wait until it leads, out of recovery (at most ${options.timeoutSeconds}s)`,
    `9. count the rows of every table in ${options.database} and print them`,
    `10. wait until the running containers of ${gatesOf(settings).join(', ')} are healthy (at most ${options.timeoutSeconds}s): the outage made those that reach the database unhealthy, and compose starts nothing that waits on an unhealthy service`,
    `11. ${c('up', '-d')}   # the whole stack on the rebuilt database`,
  ];
}

/** The stack's services that others wait on (`condition: service_healthy`). */
function gatesOf(settings: PgbackrestSettings): string[] {
  return healthGates(readCompose(composeFile(settings, 'db')));
}

/** Where Patroni keeps a cluster's state in etcd (its default namespace /service). */
export function dcsPrefix(scope: string): string {
  return `/service/${scope}/`;
}

async function etcdIn(e: Engine, settings: PgbackrestSettings, args: string[]): Promise<Captured> {
  return capture(cmd([...e.stack, 'exec', '-T', 'etcd', ...settings.cluster.etcdctl(args)]));
}

async function waitEtcd(e: Engine, settings: PgbackrestSettings, timeoutSeconds: number): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  let last = '';
  while (Date.now() < deadline) {
    const health = await etcdIn(e, settings, ['endpoint', 'health']);
    if (health.code === 0) return;
    last = (health.stderr || health.stdout).trim().split('\n').pop() ?? '';
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new OperationError(
    `etcd did not answer within ${timeoutSeconds}s (${last}): with several db hosts, start etcd on each of them first (docs/ha.md), then rebuild on one.`,
  );
}

/**
 * A cluster still known to etcd is refused while it has a leader or live members (it is not
 * lost: a lost member rejoins by itself). What a lost cluster left there (its system id, its
 * last leader's position, its history) would keep Patroni from promoting older data: removed.
 */
export async function clearLostCluster(e: Engine, settings: PgbackrestSettings): Promise<string[]> {
  const prefix = dcsPrefix(settings.cluster.scope);
  const listed = await etcdIn(e, settings, ['get', '--prefix', '--keys-only', prefix]);
  if (listed.code !== 0) throw new OperationError(`etcdctl get ${prefix} failed: ${listed.stderr.trim()}`);
  const keys = listed.stdout.split('\n').filter(Boolean);
  const live = keys.filter((key) => key === `${prefix}leader` || key.startsWith(`${prefix}members/`));
  if (live.length > 0)
    throw new BadInputError(
      `etcd holds ${live.map((key) => key.slice(prefix.length)).join(', ')} of cluster ${settings.cluster.scope}: a member is alive, and rebuild-db-host.ts is for a cluster that lost every db host (a lost member rejoins as a replica by itself: docs/ha.md). A member that just died leaves its keys for PATRONI_TTL seconds: then run it again.`,
    );
  if (keys.length > 0) {
    const removed = await etcdIn(e, settings, ['del', '--prefix', prefix]);
    if (removed.code !== 0) throw new OperationError(`etcdctl del --prefix ${prefix} failed: ${removed.stderr.trim()}`);
    log.info(`removed what the lost cluster left in etcd: ${keys.map((key) => key.slice(prefix.length)).join(', ')}`);
  }
  return keys;
}

async function psqlIn(e: Engine, user: string, db: string, sql: string): Promise<string> {
  const result = await capture(
    cmd([...e.stack, 'exec', '-T', 'postgres', 'psql', '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-U', user, '-d', db, '-c', sql]),
  );
  if (result.code !== 0) throw new OperationError(`psql in the postgres container failed: ${result.stderr.trim()}`);
  return result.stdout.trim();
}

/** Exact row counts of the ordinary tables outside the system schemas. */
export async function tableCounts(e: Engine, user: string, db: string): Promise<Record<string, number>> {
  const tables = (
    await psqlIn(
      e,
      user,
      db,
      "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
    )
  )
    .split('\n')
    .filter(Boolean);
  const counts: Record<string, number> = {};
  for (const table of tables) counts[table] = Number(await psqlIn(e, user, db, `SELECT count(*) FROM ${table}`));
  return counts;
}

async function waitRecovered(e: Engine, user: string, db: string, timeoutSeconds: number): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      if ((await psqlIn(e, user, db, 'SELECT pg_is_in_recovery()')) === 'f') return;
      last = 'still in recovery';
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new OperationError(`PostgreSQL did not finish recovery within ${timeoutSeconds}s (${last}); see \`docker compose logs postgres\`.`);
}

/**
 * Rebuilds a lost database host from the repository alone: a new empty data
 * volume, pgbackrest restore into it, PostgreSQL replays WAL from the
 * repository host and promotes, row counts are printed, the stack comes up.
 */
export async function rebuildDbHost(
  settings: PgbackrestSettings,
  options: RebuildOptions & { user: string; database: string; repo: PgbackrestRunner },
): Promise<{ counts: Record<string, number>; seconds: number }> {
  const started = Date.now();
  const e = await engine(settings);
  const volume = dataVolume(settings);
  const dbVersionRunner: PgbackrestRunner = {
    side: 'db',
    where: 'the stack image (pgbackrest service)',
    command: (args) => cmd([...e.stack, 'run', '--rm', '--no-deps', '-T', '--entrypoint', 'pgbackrest', 'pgbackrest', ...args]),
  };
  // Refusals first: `compose run` of the pgbackrest service (the version check) creates the volume.
  const running = await askEngine([...e.stack, 'ps', '-q', 'postgres']);
  if (running.code !== 0)
    throw new OperationError(
      `could not ask the Docker engine at ${engineName()} whether the stack has a postgres container: ${failureOf(running)}.`,
      'start Docker or fix DOCKER_HOST, then run this again; nothing was changed',
    );
  if (running.stdout.trim() !== '')
    throw new BadInputError(
      'the stack still has a postgres container: this rebuilds a LOST database host; for a restore beside it use restore-pitr.ts --volume.',
    );
  if (await engineHas('volume', volume))
    throw new BadInputError(
      `volume ${volume} still exists: this rebuilds a lost database host; move it away (docker volume rm) only if its data is really lost.`,
    );

  // Nothing half-done: until the restore is complete, a failure removes the containers and the volume this run created.
  try {
    const version = await requireSameVersion(dbVersionRunner, options.repo);
    log.info(`pgBackRest ${version} on both hosts`);
    // PostgreSQL runs under Patroni, which keeps the cluster in etcd: etcd first, and no living cluster there.
    await run(cmd([...e.stack, 'up', '-d', '--no-deps', 'etcd']), 'starting etcd');
    await waitEtcd(e, settings, Math.min(options.timeoutSeconds, 120));
    await clearLostCluster(e, settings);
    await run(cmd([...e.stack, 'up', '--no-start', 'postgres', 'pgbackrest']), 'creating the postgres containers and the new data volume');
    // The stack's own postgres-data, just created empty by `up --no-start`.
    const { prepare, restore } = volumeCommands(settings, e, { target: options.target, volume: undefined, delta: false });
    await run(prepare, 'preparing the data folder');
    log.info(`pgbackrest restore to ${describeTarget(options.target)} into the new volume ${volume}`);
    const restored = await capture(restore);
    if (restored.code !== 0) throw pgbackrestError(restored, restore, dbVersionRunner);
  } catch (error) {
    await capture(cmd([...e.stack, 'rm', '-f', '-s', 'postgres', 'pgbackrest']));
    await capture({ file: 'docker', args: ['volume', 'rm', volume] });
    throw error;
  }
  await run(cmd([...e.stack, 'up', '-d', '--no-deps', 'postgres', 'pgbackrest']), 'starting postgres');
  // Patroni finds data and no cluster in etcd: it registers the data's system id as a new cluster,
  // starts PostgreSQL as a standby that replays the archive (restore_command), and promotes it.
  log.info('Patroni takes the restored data over; PostgreSQL replays WAL from the repository host');
  await waitRecovered(e, options.user, options.database, options.timeoutSeconds);
  const counts = await tableCounts(e, options.user, options.database);
  if (Object.keys(counts).length === 0)
    throw new OperationError(`the restored database ${options.database} has no tables: this is not the data you backed up.`);
  const gates = gatesOf(settings);
  const up = cmd([...e.stack, 'up', '-d']);
  log.info(`waiting until the running containers of ${gates.join(', ')} are healthy again`);
  await waitRunningHealthy(
    settings.project,
    gates,
    options.timeoutSeconds,
    'after the rebuild',
    `the database is restored and serves; once they are healthy, start the rest: ${describeCommand(up)}`,
  );
  await run(up, 'starting the stack');
  return { counts, seconds: (Date.now() - started) / 1000 };
}

/** The repository side through the engine, for the rebuild's version check. */
export async function repoComposeRunner(settings: PgbackrestSettings): Promise<PgbackrestRunner> {
  return composeExecRunner('repo', await composeCommand(), repoProject(settings), composeFile(settings, 'repo'));
}
