import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Every process of one e2e host in one cgroup subtree: its daemons (the namespace holder,
 * sshd, dockerd and what dockerd starts: containerd, shims, docker-proxy) in `<name>/host`,
 * its containers below `<name>/containers` (dockerd's --cgroup-parent). Killing the subtree
 * is a power cut: nothing of the host survives, whatever namespace it lives in.
 *
 * cgroup v1 and hybrid hosts track and freeze through the freezer hierarchy (this machine);
 * a cgroup v2-only host uses its one tree and cgroup.kill.
 */
const CGROUPS = '/sys/fs/cgroup';
const UNIFIED = existsSync(join(CGROUPS, 'cgroup.controllers'));
const TRACKING = UNIFIED ? CGROUPS : join(CGROUPS, 'freezer');

export interface HostCgroup {
  /** Argv that moves itself into the host's cgroup, then runs `argv` (children stay in it). */
  enter(argv: string[]): string[];
  /** dockerd's --cgroup-parent: containers land in the same subtree. */
  containerParent: string;
  /** Every process in the subtree (daemons and containers). */
  pids(): number[];
  /** SIGKILL to every process in the subtree, frozen first so none forks away; returns when none is left. */
  killAll(): void;
  /** Removes the subtree from every hierarchy (after killAll). */
  remove(): void;
}

export function hostCgroup(name: string): HostCgroup {
  const top = join(TRACKING, name);
  const procs = join(top, 'host', 'cgroup.procs');
  mkdirSync(join(top, 'host'), { recursive: true });
  const pids = (): number[] => subtree(top).flatMap((dir) => readPids(join(dir, 'cgroup.procs')));
  const killAll = (): void => {
    if (!existsSync(top)) return;
    if (UNIFIED) writeFileSync(join(top, 'cgroup.kill'), '1');
    else freeze(top, 'FROZEN');
    const deadline = Date.now() + 60_000;
    for (;;) {
      const left = pids();
      if (left.length === 0) break;
      if (Date.now() > deadline) throw new Error(`processes ${left.join(' ')} of cgroup ${top} survived SIGKILL for 60 s.`);
      for (const pid of left) signal(pid);
      // Frozen tasks take the SIGKILL when they thaw.
      if (!UNIFIED) freeze(top, 'THAWED');
      sleepSync(100);
    }
  };
  const remove = (): void => {
    // runc makes the containers' cgroups in every v1 hierarchy (cpu, memory, pids, ...).
    const roots = UNIFIED ? [top] : readdirSync(CGROUPS).map((hierarchy) => join(CGROUPS, hierarchy, name));
    for (const root of roots) for (const dir of subtree(root).reverse()) rmdirSync(dir);
  };
  return {
    enter: (argv) => ['sh', '-c', 'echo $$ > "$0" && exec "$@"', procs, ...argv],
    containerParent: `/${name}/containers`,
    pids,
    killAll,
    remove,
  };
}

/** A folder and every cgroup below it, parents first. */
function subtree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const children = readdirSync(dir, { withFileTypes: true }).filter((entry) => entry.isDirectory());
  return [dir, ...children.flatMap((entry) => subtree(join(dir, entry.name)))];
}

function readPids(file: string): number[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
}

function signal(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** cgroup v1 freezer: FROZEN stops every task of the subtree (no fork can escape the kill), THAWED lets them die. */
function freeze(dir: string, state: 'FROZEN' | 'THAWED'): void {
  const file = join(dir, 'freezer.state');
  writeFileSync(file, state);
  const deadline = Date.now() + 5_000;
  // A task in uninterruptible sleep can hold FREEZING a while; killing it after 5 s works as well.
  while (readFileSync(file, 'utf8').trim() !== state && Date.now() < deadline) sleepSync(20);
}

/** Blocks the thread (the teardown must also run from an exit handler). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
