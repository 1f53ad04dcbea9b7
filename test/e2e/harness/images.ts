import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { SCHEMA } from '../../../scripts/lib/env/schema.js';
import { defaultFor } from '../../../scripts/lib/env/spec.js';
import { pgbackrestImages } from '../../../scripts/lib/pgbackrest/layout.js';
import { needTool } from '../../helpers/tools.js';
import { docker, type Engine } from './docker.js';

const IMAGES_DIR = resolve(import.meta.dirname, '..', 'images');
const PACKAGES_FILE = join(IMAGES_DIR, 'base', 'packages.txt');
const PREPARE_SCRIPT = join(IMAGES_DIR, 'base', 'prepare-rootfs.sh');

/** Where debootstrapped base root filesystems are kept between runs (CI can cache this folder). */
export function cacheDir(): string {
  return resolve(process.env.HEALTHMATE_E2E_CACHE ?? join(import.meta.dirname, '..', '.cache'));
}

export function basePackages(): string[] {
  return readFileSync(PACKAGES_FILE, 'utf8')
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter(Boolean);
}

// The debootstrap invocation, part of the cache key with the files it reads.
const SUITE = 'bookworm';
const DEBOOTSTRAP_ARGS = ['--variant=minbase'];

/** Cache key: the package list, the preparation script and the debootstrap recipe. */
export function baseKey(): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify([SUITE, DEBOOTSTRAP_ARGS]));
  for (const file of [PACKAGES_FILE, PREPARE_SCRIPT]) hash.update(readFileSync(file));
  return hash.digest('hex').slice(0, 16);
}

/**
 * The Debian mirror apt uses here (first bookworm "main" source), so the
 * base comes from the same place as the host's packages and nowhere else.
 */
export function debianMirror(): string {
  const candidates: string[] = [];
  const dir = '/etc/apt/sources.list.d';
  const files = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.sources'))
        .map((f) => join(dir, f))
    : [];
  for (const file of files) {
    for (const stanza of readFileSync(file, 'utf8').split(/\n\s*\n/)) {
      const field = (name: string) =>
        stanza
          .match(new RegExp(`^${name}:\\s*(.+)$`, 'mi'))?.[1]
          ?.trim()
          .split(/\s+/) ?? [];
      if (field('Enabled')[0] === 'no') continue;
      if (field('Types').includes('deb') && field('Suites').includes('bookworm') && field('Components').includes('main')) candidates.push(...field('URIs'));
    }
  }
  if (existsSync('/etc/apt/sources.list')) {
    for (const line of readFileSync('/etc/apt/sources.list', 'utf8').split('\n')) {
      const m = line.match(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s+.*\bmain\b/);
      if (m?.[1]) candidates.push(m[1]);
    }
  }
  const mirror = candidates.find((uri) => /^https?:\/\//.test(uri));
  if (!mirror) throw new Error('no Debian bookworm main source in /etc/apt/sources.list[.d]: the e2e base image is built from the mirror apt uses.');
  return mirror;
}

function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): void {
  const result = spawnSync(command, args, { ...options, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.split('\n').slice(-40).join('\n');
    throw new Error(`${command} ${args.join(' ')} failed (exit ${result.status}):\n${output}`);
  }
}

/** debootstrap + prepare-rootfs.sh + tar, into the cache; returns the tar's path. */
export function ensureBaseTar(log: (line: string) => void = () => {}): string {
  const cache = cacheDir();
  const key = baseKey();
  const tar = join(cache, `base-${key}.tar`);
  if (existsSync(tar)) return tar;
  mkdirSync(cache, { recursive: true });
  const debootstrap = needTool('debootstrap');
  const rootfs = join(cache, `rootfs-${key}.partial-${process.pid}`);
  const partialTar = `${tar}.partial-${process.pid}`;
  try {
    const mirror = debianMirror();
    log(`debootstrap ${SUITE} from ${mirror} (${basePackages().length} packages)`);
    const proxy = spawnSync('apt-config', ['shell', 'P', 'Acquire::http::Proxy'], { encoding: 'utf8' }).stdout.match(/P='([^']*)'/)?.[1];
    const env = { ...process.env, ...(proxy ? { http_proxy: proxy } : {}) };
    run(debootstrap, [...DEBOOTSTRAP_ARGS, `--include=${basePackages().join(',')}`, SUITE, rootfs, mirror], { env });
    copyFileSync(PREPARE_SCRIPT, join(rootfs, 'tmp', 'prepare-rootfs.sh'));
    run('chroot', [rootfs, '/bin/sh', '/tmp/prepare-rootfs.sh']);
    rmSync(join(rootfs, 'tmp', 'prepare-rootfs.sh'));
    run('tar', ['--numeric-owner', '--xattrs', '-C', rootfs, '-cf', partialTar, '.']);
    renameSync(partialTar, tar);
    // Keep only the current base: each is over a gigabyte.
    for (const old of readdirSync(cache).filter((f) => f.startsWith('base-') && f.endsWith('.tar') && f !== `base-${key}.tar`)) rmSync(join(cache, old));
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
    rmSync(partialTar, { force: true });
  }
  return tar;
}

/** Runs docker on `engine` with `source` streamed into its stdin (images are gigabytes: never held in memory). */
function dockerFrom(engine: Engine, args: string[], source: Readable): Promise<void> {
  return new Promise<void>((resolvePromise, reject) => {
    const child = spawn('docker', args, { env: engine.env, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    // A docker that fails early closes its stdin; its exit code tells.
    child.stdin.on('error', () => {});
    source.pipe(child.stdin);
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolvePromise() : reject(new Error(`docker ${args.join(' ')} failed (exit ${code}): ${stderr.trim()}`))));
  });
}

/** Imports the base tar into the daemon. */
function importBase(daemon: Engine, tar: string, tag: string): Promise<void> {
  return dockerFrom(daemon, ['import', '-', tag], createReadStream(tar));
}

/**
 * Every tagged image of `from` into each engine of `to`: one `docker save`, streamed into a
 * `docker load` per target at the same time (the stand-ins share one base layer, so the
 * stream is about the size of the base tar).
 */
export async function copyImages(from: Engine, to: Engine[]): Promise<void> {
  const refs = docker(from, ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}'])
    .split('\n')
    .filter((ref) => ref && !ref.includes('<none>'));
  const save = spawn('docker', ['save', ...refs], { env: from.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  save.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const saved = new Promise<void>((resolvePromise, reject) => {
    save.on('error', reject);
    save.on('exit', (code) => (code === 0 ? resolvePromise() : reject(new Error(`docker save failed (exit ${code}): ${stderr.trim()}`))));
  });
  await Promise.all([saved, ...to.map((engine) => dockerFrom(engine, ['load', '-q'], save.stdout))]);
}

export const STANDIN_PREFIX = 'healthmate-e2e';
const STANDIN_TAG = 'stand-in';

interface StandIn {
  /** Env variable holding the image (stack.ts). */
  variable: string;
  dir: string;
  dockerfile?: string;
  buildArgs?: Record<string, string>;
}

const STANDINS: Record<string, StandIn> = {
  postgres: { variable: 'POSTGRES_IMAGE', dir: 'postgres' },
  redis: { variable: 'REDIS_IMAGE', dir: 'redis' },
  nginx: { variable: 'NGINX_IMAGE', dir: 'nginx' },
  prometheus: { variable: 'PROMETHEUS_IMAGE', dir: 'prometheus' },
  alertmanager: { variable: 'ALERTMANAGER_IMAGE', dir: 'alertmanager' },
  grafana: { variable: 'GRAFANA_IMAGE', dir: 'grafana' },
  mailhog: { variable: 'MAILHOG_IMAGE', dir: 'mailhog' },
  etcd: { variable: 'ETCD_IMAGE', dir: 'etcd' },
  haproxy: { variable: 'HAPROXY_IMAGE', dir: 'haproxy' },
  'postgres-exporter': { variable: 'POSTGRES_EXPORTER_IMAGE', dir: 'exporters', buildArgs: { BINARY: '/usr/bin/prometheus-postgres-exporter', PORT: '9187' } },
  'redis-exporter': { variable: 'REDIS_EXPORTER_IMAGE', dir: 'exporters', buildArgs: { BINARY: '/usr/bin/prometheus-redis-exporter', PORT: '9121' } },
  'node-exporter': { variable: 'NODE_EXPORTER_IMAGE', dir: 'exporters', buildArgs: { BINARY: '/usr/bin/prometheus-node-exporter', PORT: '9100' } },
  'nginx-exporter': { variable: 'NGINX_EXPORTER_IMAGE', dir: 'exporters', buildArgs: { BINARY: '/usr/bin/prometheus-nginx-exporter', PORT: '9113' } },
  'blackbox-exporter': { variable: 'BLACKBOX_EXPORTER_IMAGE', dir: 'exporters', dockerfile: 'blackbox.Dockerfile' },
};

export interface StandInImages {
  base: string;
  /** Image variables (POSTGRES_IMAGE=...) pointing the compose files at the stand-ins. */
  vars: Record<string, string>;
  /** BACKEND_IMAGE value; tags are built with buildBackend. */
  backendRepository: string;
}

function build(daemon: Engine, tag: string, dir: string, buildArgs: Record<string, string>, dockerfile = 'Dockerfile'): void {
  const args = ['build', '-q', '-t', tag, '-f', join(IMAGES_DIR, dir, dockerfile)];
  for (const [name, value] of Object.entries(buildArgs)) args.push('--build-arg', `${name}=${value}`);
  docker(daemon, [...args, join(IMAGES_DIR, dir)]);
}

/** Base image plus one thin image per service, in the given (fresh) daemon. */
export async function buildStandIns(daemon: Engine, log: (line: string) => void = () => {}): Promise<StandInImages> {
  const tar = ensureBaseTar(log);
  const base = `${STANDIN_PREFIX}/base:${baseKey()}`;
  log(`docker import ${tar}`);
  await importBase(daemon, tar, base);
  const vars: Record<string, string> = {};
  for (const [name, standIn] of Object.entries(STANDINS)) {
    const tag = `${STANDIN_PREFIX}/${name}:${STANDIN_TAG}`;
    build(daemon, tag, standIn.dir, { BASE: base, ...standIn.buildArgs }, standIn.dockerfile);
    vars[standIn.variable] = tag;
  }
  // Only started with the "certbot" profile, which no scenario uses; the base makes the name resolvable.
  vars.CERTBOT_IMAGE = base;
  // The deploy builds postgres+pgbackrest+patroni and the repository host image from Debian's archive;
  // here the base already carries pgbackrest and patroni, so the stand-ins get the names the bundle expects.
  const pgbackrest = pgbackrestImages({
    POSTGRES_IMAGE: vars.POSTGRES_IMAGE as string,
    PGBACKREST_DEB_VERSION: defaultFor(SCHEMA.PGBACKREST_DEB_VERSION, 'prod') as string,
    PATRONI_DEB_VERSION: defaultFor(SCHEMA.PATRONI_DEB_VERSION, 'prod') as string,
  });
  docker(daemon, ['tag', vars.POSTGRES_IMAGE as string, pgbackrest.db]);
  build(daemon, pgbackrest.repo, 'pgbackrest-repo', { BASE: base });
  return { base, vars, backendRepository: `${STANDIN_PREFIX}/backend` };
}

/** A backend release: /version reports `version`; healthy=false fails /health. */
export function buildBackend(daemon: Engine, images: StandInImages, version: string, healthy = true): string {
  const tag = `${images.backendRepository}:${version}`;
  build(daemon, tag, 'backend', { BASE: images.base, VERSION: version, HEALTHY: String(healthy) });
  return tag;
}
