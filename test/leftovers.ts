import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Vitest globalSetup for both projects: the run gets a private TMPDIR (so
 * another suite running on the machine does not count), and its teardown fails
 * the run when the suite left behind a healthmate-* or hm-e2e-* temp folder, a Docker network, a br-* bridge / an address in
 * 198.18.0.0/16 (the e2e daemons' range), or an e2e host's network namespace (hm-e2e-*), link (hm-*) or address in
 * 198.19.0.0/16 (harness/hosts.ts). Things that existed before the run
 * do not count, so a leak is found where it happens.
 */

const SYSTEM_TMP = '/tmp';
const OUR_FOLDER = /^(healthmate-|hm-e2e-)/;
const E2E_LOCK = '/tmp/healthmate-e2e.lock';

interface Snapshot {
  /** /tmp/hm-e2e-* (the private daemons keep their socket paths short there; all else goes to the private TMPDIR). */
  folders: string[];
  bridges: string[];
  addresses: string[];
  networks: string[];
  /** The e2e hosts' network namespaces and their bridge and veth ends in this namespace. */
  namespaces: string[];
  hostLinks: string[];
}

function lines(command: string, args: string[], env?: NodeJS.ProcessEnv): string[] {
  const result = spawnSync(command, args, { encoding: 'utf8', env: env ?? process.env, timeout: 20_000 });
  return result.status === 0 ? result.stdout.split('\n').filter(Boolean) : [];
}

/** Docker networks of the default engine, when one answers (private e2e daemons go away whole). */
function dockerNetworks(): string[] {
  const env = { ...process.env };
  delete env.DOCKER_HOST;
  return lines('docker', ['network', 'ls', '--format', '{{.ID}} {{.Name}}'], env);
}

function snapshot(): Snapshot {
  return {
    folders: readdirSync(SYSTEM_TMP).filter((name) => name.startsWith('hm-e2e-')),
    bridges: lines('ip', ['-o', 'link', 'show', 'type', 'bridge'])
      .map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '')
      .filter((name) => name.startsWith('br-')),
    addresses: lines('ip', ['-o', '-4', 'addr', 'show'])
      .map((l) => /^\d+:\s+(\S+)\s+inet\s+(198\.1[89]\.\d+\.\d+\/\d+)/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => `${m[2]} on ${m[1]}`),
    networks: dockerNetworks(),
    namespaces: lines('ip', ['netns', 'list'])
      .map((l) => l.split(' ')[0] ?? '')
      .filter((name) => name.startsWith('hm-e2e-')),
    hostLinks: lines('ip', ['-o', 'link', 'show'])
      .map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '')
      .filter((name) => name.startsWith('hm-')),
  };
}

const added = (before: string[], after: string[]): string[] => after.filter((x) => !before.includes(x));

/** Whether no e2e run holds the machine-wide lock now (then new bridges can only be ours). */
function noOtherE2e(): boolean {
  if (!existsSync(E2E_LOCK)) return true;
  return spawnSync('flock', ['-n', E2E_LOCK, 'true']).status === 0;
}

/** The project (unit or e2e); e2e runs hold the machine-wide lock, so every new bridge is theirs. */
export default function setup(project?: { name?: string }): () => Promise<void> {
  const e2e = project?.name === 'e2e';
  const before = snapshot();
  const savedTmp = process.env.TMPDIR;
  // Short name: unix sockets (PostgreSQL, sshd) live below it and must stay under 108 bytes.
  const privateTmp = mkdtempSync(join(SYSTEM_TMP, 'vt-'));
  // Like /tmp: services the tests start as other users (postgres) must reach their folders below it.
  chmodSync(privateTmp, 0o1777);
  process.env.TMPDIR = privateTmp;
  return async () => {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    // Daemons stop asynchronously: give their bridges a moment to go.
    let problems: string[] = [];
    const deadline = Date.now() + 20_000;
    for (;;) {
      const after = snapshot();
      const ours = readdirSync(privateTmp).filter((name) => OUR_FOLDER.test(name));
      problems = [...ours.map((name) => `temp folder ${join(privateTmp, name)}`), ...added(before.networks, after.networks).map((n) => `Docker network ${n}`)];
      // Another suite's e2e run (machine-wide lock held by someone else) has daemon folders and bridges of its own.
      if (e2e || noOtherE2e()) {
        problems.push(...added(before.folders, after.folders).map((name) => `temp folder ${join(SYSTEM_TMP, name)}`));
        problems.push(...added(before.bridges, after.bridges).map((b) => `bridge ${b}`));
        problems.push(...added(before.addresses, after.addresses).map((a) => `address ${a}`));
        problems.push(...added(before.namespaces, after.namespaces).map((n) => `network namespace ${n}`));
        problems.push(...added(before.hostLinks, after.hostLinks).map((l) => `link ${l}`));
      }
      // Only what a stopping daemon takes away (bridges, addresses, networks) is worth waiting for.
      if (problems.every((p) => p.startsWith('temp folder')) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    rmSync(privateTmp, { recursive: true, force: true });
    if (problems.length === 0) return;
    // Vitest reports a teardown error but keeps exit code 0: set it, so the run fails.
    process.exitCode = 1;
    throw new Error(`the test run left behind:\n  ${problems.join('\n  ')}\nfix the test that made them (what was under the run's TMPDIR is removed now).`);
  };
}
