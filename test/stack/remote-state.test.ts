import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it, type TestContext } from 'vitest';
import type { AuditEntry } from '../../scripts/lib/deploy/audit.js';
import { WAIT_BUDGET_MS } from '../helpers/net.js';
import { nodeWithTsx, REPO, runAsync, runScriptAsync } from '../helpers/run.js';
import { type Sshd, startSshd } from '../helpers/sshd.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';
import { type Racer, race, startRacer } from './lock-racer.js';

/**
 * "Two laptops and one host" on one machine. The host is a real OpenSSH
 * server on a loopback port; DOCKER_HOST=ssh:// points at it. Each laptop
 * runs in its own mount and UTS namespace (unshare): its own hostname, and
 * its own folder bind-mounted over STATE_DIR, so what a laptop writes
 * locally never reaches the host's STATE_DIR, which only ssh sees.
 *
 * No Docker engine answers through that ssh here (no dockerd runs on the
 * "host"), so laptop A's deploys are driven by the deploy's own functions
 * (takeDeployLock, recordRelease, appendAudit through the ssh store, as
 * executeDeploy calls them), and laptop B runs the real deploy-prod.ts.
 *
 * The tests run side by side, each in its own world (folders, lock, state), and
 * start their processes without blocking the test process: the lock race is
 * waiting on ssh while the two-laptop story runs its deploys.
 */
let sshd: Sshd;
let bin: string;

beforeAll(async () => {
  needTool('unshare');
  sshd = await startSshd();
  // Docker's ssh helper and the deploy both run `ssh`: this one reaches the test server as an operator's ~/.ssh/config would.
  bin = join(sshd.dir, 'bin');
  mkdirSync(bin);
  const config = join(sshd.dir, 'operator_ssh_config');
  writeFileSync(
    config,
    [
      'Host 127.0.0.1',
      `  IdentityFile ${sshd.keyFile}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${sshd.knownHostsFile}`,
      '  StrictHostKeyChecking yes',
      '  BatchMode yes',
      '',
    ].join('\n'),
  );
  writeFileSync(join(bin, 'ssh'), `#!/bin/sh\nexec ${needTool('ssh')} -F ${config} "$@"\n`);
  chmodSync(join(bin, 'ssh'), 0o755);
});

afterAll(async () => {
  await sshd?.stop();
});

interface World {
  dir: string;
  /** STATE_DIR of the env: on the host (seen through ssh) and, masked, on each laptop. */
  stateDir: string;
  laptops: Record<'a' | 'b', string>;
  env: NodeJS.ProcessEnv;
  envFile: string;
}

/** Test `t`'s own folders, with an env file for prod. */
async function world(t: TestContext): Promise<World> {
  const dir = tempDir(undefined, t);
  const stateDir = join(dir, 'state');
  const laptops = { a: join(dir, 'laptop-a'), b: join(dir, 'laptop-b') };
  for (const d of [stateDir, laptops.a, laptops.b]) mkdirSync(d, { recursive: true });
  const init = await runScriptAsync('init-env.ts', ['--env', 'prod', '--domain', 'api.healthmate.org'], { cwd: dir });
  t.expect(init.code, init.stderr).toBe(0);
  const env = { PATH: `${bin}:${process.env.PATH}`, DOCKER_HOST: `ssh://${sshd.user}@127.0.0.1:${sshd.port}`, NO_COLOR: '1' };
  return { dir, stateDir, laptops, env: { ...process.env, ...env }, envFile: join(dir, '.env.prod') };
}

/** argv run on laptop `name`: own hostname, own folder over STATE_DIR. */
function onLaptop(w: World, name: 'a' | 'b', argv: string[]): string[] {
  const userns = process.getuid?.() === 0 ? [] : ['--user', '--map-root-user'];
  const setup = 'hostname "$1" && mount --bind "$2" "$3" && shift 3 && exec "$@"';
  return ['unshare', ...userns, '--mount', '--uts', 'sh', '-c', setup, 'sh', `laptop-${name}`, w.laptops[name], w.stateDir, ...argv];
}

function deployCli(w: World, name: 'a' | 'b', args: string[]) {
  const [command, ...rest] = onLaptop(
    w,
    name,
    nodeWithTsx(join(REPO, 'scripts', 'deploy-prod.ts'), '--env-file', w.envFile, '--set', `STATE_DIR=${w.stateDir}`, ...args),
  );
  return runAsync(command as string, rest, { cwd: w.dir, env: w.env });
}

/** Laptop A's deploys, through the deploy's own lock/state/audit functions and the ssh store. */
function startLaptopA(w: World): { child: ChildProcessWithoutNullStreams; next(): Promise<string>; send(line: string): void; die(): Promise<void> } {
  const lib = (name: string) => JSON.stringify(join(REPO, 'scripts/lib', name));
  const script = `
    import { createInterface } from 'node:readline';
    import { hostname } from 'node:os';
    import { appendAudit } from ${lib('deploy/audit.ts')};
    import { engineHost } from ${lib('deploy/host.ts')};
    import { takeDeployLock } from ${lib('deploy/lock.ts')};
    import { recordRelease } from ${lib('deploy/state.ts')};
    import { deployStore } from ${lib('deploy/store.ts')};
    const store = deployStore(engineHost(), ${JSON.stringify(join(w.stateDir, 'deploy'))});
    let lock;
    const finish = (tag) => {
      const before = recordRelease(store, { release: 'r-' + tag, tag, at: new Date().toISOString() });
      appendAudit(store, { time: new Date().toISOString(), user: 'alice', host: hostname(), env: 'prod', commit: 'c', image: 'healthmate/backend',
        tag, action: 'deploy', result: 'success', durationSeconds: 1, release: 'r-' + tag, ...(before.current ? { previousTag: before.current.tag } : {}) });
      lock.release();
    };
    createInterface({ input: process.stdin }).on('line', (line) => {
      const [verb, tag] = line.split(' ');
      if (verb === 'hold' || verb === 'deploy') lock = takeDeployLock(store, { purpose: 'deploy', version: tag, env: 'prod' });
      if (verb === 'deploy' || verb === 'finish') finish(tag);
      process.stdout.write(verb + ' ' + tag + '\\n');
    });
    process.stdout.write('ready\\n');
  `;
  const [command, ...rest] = onLaptop(w, 'a', nodeWithTsx('--eval', script));
  // Its own process group: die() ends it with anything it started.
  const child = spawn(command as string, rest, { cwd: w.dir, env: w.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let out = '';
  let err = '';
  const waiting: (() => void)[] = [];
  child.stdout.on('data', (d) => {
    out += String(d);
    for (const wake of waiting.splice(0)) wake();
  });
  child.stderr.on('data', (d) => {
    err += String(d);
  });
  let consumed = 0;
  const next = async (): Promise<string> => {
    const deadline = Date.now() + WAIT_BUDGET_MS;
    for (;;) {
      const end = out.indexOf('\n', consumed);
      if (end >= 0) {
        const line = out.slice(consumed, end);
        consumed = end + 1;
        return line;
      }
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`laptop A gave no answer: ${err}`);
      await new Promise<void>((r) => {
        waiting.push(r);
        setTimeout(r, 500);
      });
    }
  };
  /** Laptop A dies at once, tsx and the script alike: no cleanup runs. */
  const die = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      return;
    }
    await exited;
  };
  return { child, next, send: (line) => child.stdin.write(`${line}\n`), die };
}

/** The ssh target of DOCKER_HOST; inside a laptop's namespace the local user is root (mapped when the tests do not run as root). */
const target = () => `${sshd.user}@127.0.0.1`;
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const hostFile = (w: World, name: string) => join(w.stateDir, 'deploy', name);
const audit = (w: World): AuditEntry[] =>
  readFileSync(hostFile(w, 'audit.log'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as AuditEntry);

describe.concurrent('a remote engine (DOCKER_HOST=ssh://): lock, release state and audit log live on the host', () => {
  it("two laptops: the second sees the first's lock, rolls back to the host's previous release, and both runs are in the host's audit log", async (t) => {
    const { expect } = t;
    const w = await world(t);
    const a = startLaptopA(w);
    try {
      expect(await a.next()).toBe('ready');
      for (const tag of ['1.0.0', '1.1.0']) {
        a.send(`deploy ${tag}`);
        expect(await a.next()).toBe(`deploy ${tag}`);
      }
      a.send('hold 1.2.0');
      expect(await a.next()).toBe('hold 1.2.0');
      // The lock is on the host, not on the laptop.
      expect(JSON.parse(readFileSync(hostFile(w, 'lock.json'), 'utf8'))).toMatchObject({ host: 'laptop-a', version: '1.2.0', purpose: 'deploy' });
      expect(readdirSync(w.laptops.a)).toEqual([]);

      const refused = await deployCli(w, 'b', ['--set', 'BACKEND_TAG=1.3.0']);
      expect(refused.code, refused.stderr).toBe(2);
      expect(refused.stderr).toMatch(
        new RegExp(
          `error: the deploy lock on ${escapeRegExp(target())} is held from another machine by root@laptop-a \\(pid \\d+, deploy prod 1\\.2\\.0, since \\S+\\)\\.`,
        ),
      );
      expect(refused.stderr).toMatch(/--force-unlock --reason/);

      const status = await deployCli(w, 'b', ['--status']);
      expect(status.code, status.stderr).toBe(0);
      expect(status.stdout).toContain(`deploy state: ${target()}:${join(w.stateDir, 'deploy')}`);
      expect(status.stdout).toMatch(/current: +1\.1\.0 \(release r-1\.1\.0/);
      expect(status.stdout).toMatch(/previous: +1\.0\.0 \(release r-1\.0\.0/);
      expect(status.stdout).toMatch(/lock: +held by root@laptop-a \(pid \d+, deploy prod 1\.2\.0/);
      expect(status.stdout).toMatch(/alice@laptop-a deploy 1\.1\.0 success/);
      expect(status.stdout).toMatch(/replicas \(project healthmate\):\n {2}the Docker engine at ssh:\/\/.* cannot be reached/);

      a.send('finish 1.2.0');
      expect(await a.next()).toBe('finish 1.2.0');
      expect(existsSync(hostFile(w, 'lock.json'))).toBe(false);

      // Laptop B never deployed, yet its rollback target is what the host ran before.
      const plan = await deployCli(w, 'b', ['--rollback', '--dry-run']);
      expect(plan.code, plan.stderr).toBe(0);
      expect(plan.stdout).toContain(`rollback plan: back to 1.1.0 (release r-1.1.0) (state on ${target()}:${join(w.stateDir, 'deploy')})`);

      // The real rollback: laptop B fetches release r-1.1.0 from the host (only the host has it), stages it there over ssh,
      // and stops where the engine is needed (chown through a container); the attempt is in the host's audit log.
      const render = await runScriptAsync('render.ts', ['--env-file', w.envFile, '--set', `STATE_DIR=${w.stateDir}`, '--set', 'BACKEND_TAG=1.1.0'], {
        cwd: w.dir,
      });
      expect(render.code, render.stderr).toBe(0);
      cpSync(join(w.dir, 'dist', 'prod'), hostFile(w, 'releases/r-1.1.0'), { recursive: true });
      const rollback = await deployCli(w, 'b', ['--rollback']);
      expect(rollback.code, rollback.stderr).toBe(1);
      expect(rollback.stderr).toContain(`fetched release r-1.1.0 from ${target()}`);
      expect(rollback.stderr).toMatch(/error: cannot chown secret files/);
      expect(existsSync(join(w.laptops.b, 'deploy', 'releases', 'r-1.1.0', 'docker-compose.yml'))).toBe(true);
      expect(readFileSync(hostFile(w, 'current/docker-compose.yml'), 'utf8')).toBe(readFileSync(hostFile(w, 'releases/r-1.1.0/docker-compose.yml'), 'utf8'));
      expect(existsSync(hostFile(w, 'lock.json'))).toBe(false);
    } finally {
      await a.die();
    }

    // Laptop A dies holding the lock: laptop B cannot judge laptop A's pid, so only --force-unlock with a reason opens it.
    const a2 = startLaptopA(w);
    expect(await a2.next()).toBe('ready');
    a2.send('hold 1.3.0');
    expect(await a2.next()).toBe('hold 1.3.0');
    await a2.die();
    expect(existsSync(hostFile(w, 'lock.json'))).toBe(true);
    expect((await deployCli(w, 'b', ['--set', 'BACKEND_TAG=1.3.0'])).code).toBe(2);
    const noReason = await deployCli(w, 'b', ['--force-unlock']);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toMatch(/--force-unlock needs --reason/);
    const dry = await deployCli(w, 'b', ['--force-unlock', '--reason', 'laptop-a crashed', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(existsSync(hostFile(w, 'lock.json'))).toBe(true);
    const forced = await deployCli(w, 'b', ['--force-unlock', '--reason', 'laptop-a crashed during 1.3.0']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(existsSync(hostFile(w, 'lock.json'))).toBe(false);

    const entries = audit(w);
    expect(entries.map((e) => `${e.host} ${e.action} ${e.tag}`)).toEqual([
      'laptop-a deploy 1.0.0',
      'laptop-a deploy 1.1.0',
      'laptop-a deploy 1.2.0',
      'laptop-b rollback 1.1.0',
      'laptop-b force-unlock 1.3.0',
    ]);
    expect(entries[3]).toMatchObject({ result: 'failed', previousTag: '1.2.0' });
    expect(entries[4]).toMatchObject({ reason: 'laptop-a crashed during 1.3.0', lockHolder: expect.stringMatching(/^root@laptop-a \(pid \d+/) });
    // Lock, state and audit log were never kept on either laptop (laptop B holds only the release it staged).
    expect(readdirSync(w.laptops.a)).toEqual([]);
    expect(readdirSync(join(w.laptops.b, 'deploy')).sort()).toEqual(['current', 'releases']);
    expect(readFileSync(hostFile(w, 'state.json'), 'utf8')).toMatch(/"tag": "1\.2\.0"/);
  });

  it("two processes racing over ssh for the host's lock 12 rounds (every fourth from a dead owner): exactly one winner each round", async (t) => {
    const { expect } = t;
    const w = await world(t);
    const lock = hostFile(w, 'lock.json');
    mkdirSync(join(w.stateDir, 'deploy'));
    const ssh = { target: target(), sshArgs: ['-p', String(sshd.port)] };
    const racers: Racer[] = [startRacer(lock, ssh, w.env), startRacer(lock, ssh, w.env)];
    try {
      const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
      const stale = () => JSON.stringify({ pid: Number(dead), host: hostname(), user: 'x', startedAt: 'then', purpose: 'race' });
      const result = await race(racers, lock, 12, 4, stale);
      expect(result.winners).toEqual(Array(12).fill(1));
      expect(result.recovered).toBe(result.staleRounds);
      expect(readdirSync(join(w.stateDir, 'deploy'))).toEqual([]);
    } finally {
      for (const r of racers) r.child.kill('SIGKILL');
    }
  });

  it('Ctrl-C during a remote deploy releases the lock on the host', async (t) => {
    const { expect } = t;
    const w = await world(t);
    const a = startLaptopA(w);
    try {
      expect(await a.next()).toBe('ready');
      a.send('hold 2.0.0');
      expect(await a.next()).toBe('hold 2.0.0');
      expect(existsSync(hostFile(w, 'lock.json'))).toBe(true);
      const exited = new Promise<string>((r) => a.child.once('exit', (code, signal) => r(signal ?? String(code))));
      a.child.kill('SIGINT');
      expect(await exited).toBe('SIGINT');
      expect(existsSync(hostFile(w, 'lock.json'))).toBe(false);
    } finally {
      await a.die();
    }
  });
});
