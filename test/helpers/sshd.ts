import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './net.js';
import { needTool } from './tools.js';

/**
 * A real OpenSSH server on a loopback port, for tests that need a remote host
 * (SFTP targets, ssh:// engines). Temp host key, one authorized client key, no
 * passwords, nothing outside its temp folder (sshd needs /run/sshd to exist).
 */
export interface Sshd {
  host: '127.0.0.1';
  port: number;
  user: string;
  /** The client's private key (0600). */
  keyFile: string;
  /** A known_hosts line for 127.0.0.1:port, so clients verify the host key. */
  knownHostsFile: string;
  /** An ssh_config file naming Host `sshd-test` → this server with the key and known_hosts. */
  configFile: string;
  /** ssh arguments that reach the server: [...sshArgs, 'command']. */
  sshArgs: string[];
  dir: string;
  stop(): Promise<void>;
}

export interface SshdOptions {
  /**
   * A program the server (alone, in its own mount namespace) runs as the
   * user's login shell, e.g. one that blocks, as a shell whose rc file waits
   * on a stale lock does.
   */
  loginShell?: string;
}

/** A new ed25519 key pair without passphrase at `path` (and `path`.pub). */
export function sshKeygen(path: string): void {
  const result = spawnSync(needTool('ssh-keygen'), ['-q', '-t', 'ed25519', '-N', '', '-f', path], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`ssh-keygen failed: ${result.stderr}`);
}

/**
 * sshd_config lines every test server shares: keys only, no PAM, the temp folders' modes
 * accepted, and sessions that run a command without the tester's shell start-up files.
 */
export function sshdOptions(files: { hostKey: string; pidFile: string; authorizedKeys: string }, setEnv: string[] = []): string[] {
  return [
    `HostKey ${files.hostKey}`,
    `PidFile ${files.pidFile}`,
    `AuthorizedKeysFile ${files.authorizedKeys}`,
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'UsePAM no',
    // The temp folder lives under /tmp (1777); the key files themselves are 0600.
    'StrictModes no',
    'Subsystem sftp internal-sftp',
    // bash sources ~/.bashrc for an sshd command only in a top-level shell (SHLVL < 2 once
    // incremented): the tester's own rc file (a stale pyenv lock: 60 s a session) stays out.
    `SetEnv ${['SHLVL=1', ...setEnv].join(' ')}`,
    // Tests stream through one connection at a time, docker-compose opens one per request; keep session limits generous.
    'MaxSessions 50',
    'MaxStartups 50:30:100',
    'LogLevel ERROR',
  ];
}

/** ssh_config lines of a client that logs in with one key and trusts only the known host keys. */
export function sshClientOptions(keyFile: string, knownHostsFile: string): string[] {
  return [`  IdentityFile ${keyFile}`, '  IdentitiesOnly yes', `  UserKnownHostsFile ${knownHostsFile}`, '  StrictHostKeyChecking yes', '  BatchMode yes'];
}

export async function startSshd(options: SshdOptions = {}): Promise<Sshd> {
  const sshd = needTool('sshd');
  needTool('ssh');
  const sftp = needTool('sftp');
  const dir = mkdtempSync(join(tmpdir(), 'healthmate-sshd-'));
  chmodSync(dir, 0o700);
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKey = join(dir, 'host_ed25519');
  const keyFile = join(dir, 'client_ed25519');
  for (const key of [hostKey, keyFile]) sshKeygen(key);
  const authorizedKeys = join(dir, 'authorized_keys');
  writeFileSync(authorizedKeys, readFileSync(`${keyFile}.pub`), { mode: 0o600 });
  const port = await freePort();
  const user = userInfo().username;
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [`Port ${port}`, 'ListenAddress 127.0.0.1', ...sshdOptions({ hostKey, pidFile: join(dir, 'sshd.pid'), authorizedKeys }), ''].join('\n'),
  );
  const knownHostsFile = join(dir, 'known_hosts');
  writeFileSync(knownHostsFile, `[127.0.0.1]:${port} ${readFileSync(`${hostKey}.pub`, 'utf8').trim()}\n`);
  const configFile = join(dir, 'ssh_config');
  writeFileSync(
    configFile,
    ['Host sshd-test', '  HostName 127.0.0.1', `  Port ${port}`, `  User ${user}`, ...sshClientOptions(keyFile, knownHostsFile), ''].join('\n'),
  );
  const sshArgs = ['-F', configFile, 'sshd-test'];

  const server = [sshd, '-D', '-e', '-f', config];
  const [command, ...args] = options.loginShell
    ? [
        needTool('unshare'),
        '--mount',
        'sh',
        '-c',
        'mount --bind "$1" "$2" && shift 2 && exec "$@"',
        'sh',
        options.loginShell,
        userInfo().shell ?? '/bin/sh',
        ...server,
      ]
    : server;
  const child: ChildProcess = spawn(command as string, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += String(chunk);
  });
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  const stop = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM');
      await new Promise<void>((resolve) => {
        if (exited) resolve();
        else child.once('exit', () => resolve());
      });
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // Ready means a key exchange, a login and the SFTP subsystem (internal-sftp: no login shell, so
    // nothing of the user's shell setup can block it), as rclone's sftp backend uses it. Each try gets
    // long enough for a busy machine.
    await waitFor(
      `sshd on 127.0.0.1:${port}`,
      () => {
        if (exited) throw new Error(`sshd exited: ${stderr}`);
        return spawnSync(sftp, ['-F', configFile, '-b', '-', 'sshd-test'], { input: '', timeout: 60_000 }).status === 0;
      },
      180_000,
      200,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { host: '127.0.0.1', port, user, keyFile, knownHostsFile, configFile, sshArgs, dir, stop };
}
