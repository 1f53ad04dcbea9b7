import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { waitFor } from '../helpers/net.js';
import { REPO } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';

const WATCHER = join(REPO, 'compose', 'nginx-entrypoint', '40-reload-on-backend-change.sh');
/**
 * The nginx entrypoint watcher, run for real: in its own PID and mount namespace (unshare) a shell
 * is PID 1 and stands in for the nginx master (it records each SIGHUP), and /etc/hosts is a file
 * the test rewrites, read through the real getent (nsswitch: files only), which logs each call:
 * the test waits for the watcher's next checks instead of guessing how long they take.
 */
function startWatcher(): { hosts: (lines: string[]) => void; hups: () => number; stderr: () => string; checked: () => Promise<void> } {
  needTool('unshare');
  const dir = tempDir();
  const hostsFile = join(dir, 'hosts');
  const nsswitch = join(dir, 'nsswitch.conf');
  const hupLog = join(dir, 'hups');
  const errLog = join(dir, 'stderr');
  const getentLog = join(dir, 'getent-calls');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'getent'), `#!/bin/sh\necho "$*" >> ${getentLog}\nexec ${needTool('getent')} "$@"\n`);
  chmodSync(join(bin, 'getent'), 0o755);
  writeFileSync(nsswitch, 'hosts: files\n');
  const hosts = (lines: string[]): void => writeFileSync(hostsFile, `127.0.0.1 localhost\n${lines.join('\n')}\n`);
  hosts(['10.0.0.1 backend', '10.0.0.2 backend']);
  const init = [
    'mount --bind "$HOSTS" /etc/hosts',
    'mount --bind "$NSSWITCH" /etc/nsswitch.conf',
    'trap \'echo hup >> "$HUPS"\' HUP',
    '"$WATCHER" 2>>"$ERRORS"',
    'while :; do sleep 0.05; done',
  ].join('\n');
  const child = spawn('unshare', ['--pid', '--fork', '--kill-child', '--mount-proc', 'sh', '-c', init], {
    env: {
      ...process.env,
      PATH: `${bin}:${process.env.PATH}`,
      HOSTS: hostsFile,
      NSSWITCH: nsswitch,
      HUPS: hupLog,
      ERRORS: errLog,
      WATCHER,
      NGINX_BACKEND_HOSTS: 'backend',
      NGINX_BACKEND_WATCH_SECONDS: '0.2',
    },
    stdio: 'ignore',
  });
  onTestFinished(() => {
    child.kill('SIGKILL');
  });
  const read = (file: string): string => (existsSync(file) ? readFileSync(file, 'utf8') : '');
  const lines = (file: string): number => read(file).split('\n').filter(Boolean).length;
  /**
   * Resolves once the watcher has looked up the names twice more: the second lookup starts
   * after the first one's check (and any SIGHUP) is done, so the watcher has acted on what
   * the hosts file said before this call.
   */
  const checked = (): Promise<void> => {
    const before = lines(getentLog);
    return waitFor('the watcher to check the backend addresses', () => lines(getentLog) >= before + 2);
  };
  return { hosts, hups: () => lines(hupLog), stderr: () => read(errLog), checked };
}

describe('nginx entrypoint watcher (compose/nginx-entrypoint/40-reload-on-backend-change.sh)', () => {
  it('reloads nginx when a backend address goes away, never for a new one alone, and keeps nginx as it is while nothing resolves', async () => {
    const watcher = startWatcher();
    await watcher.checked();
    expect(watcher.hups()).toBe(0);

    // A rolling update's new replica appears: traffic waits for the deploy's own reload.
    watcher.hosts(['10.0.0.1 backend', '10.0.0.2 backend', '10.0.0.3 backend']);
    await watcher.checked();
    expect(watcher.hups()).toBe(0);

    // A replica restarted with another address (a daemon restart): the old one is gone.
    watcher.hosts(['10.0.0.2 backend', '10.0.0.3 backend', '10.0.0.9 backend']);
    await waitFor('a SIGHUP to PID 1', () => watcher.hups() === 1);
    expect(watcher.stderr()).toContain('backend address 10.0.0.1 is gone; reloading nginx to resolve backend again');

    // Every replica restarting: nothing resolves, so nginx keeps its addresses (a reload would fail).
    watcher.hosts([]);
    await watcher.checked();
    expect(watcher.hups()).toBe(1);

    // Back with new addresses: those nginx knew are gone.
    watcher.hosts(['10.0.0.20 backend', '10.0.0.21 backend']);
    await waitFor('a second SIGHUP', () => watcher.hups() === 2);
    await watcher.checked();
    expect(watcher.hups()).toBe(2);
  });
});
