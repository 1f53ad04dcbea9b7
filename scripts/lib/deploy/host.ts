import { $, type ProcessOutput } from 'zx/core';
import { withoutPassword } from '../docker-engine.js';
import { BadInputError } from '../errors.js';
import { formatCommand } from './plan.js';

/**
 * Where the Docker engine runs. Bind mounts name paths on the engine's host,
 * so with a remote engine (DOCKER_HOST=ssh://user@host) the release folder and
 * the certificates are copied there and host commands (curl, chown) run there
 * through ssh. A tcp:// engine has no way to receive files: refused.
 */
export type EngineHost = { kind: 'local' } | { kind: 'ssh'; target: string; sshArgs: string[] };

/** An ssh user name: what ssh accepts as one argument and never reads as an option. */
const SSH_USER = /^[A-Za-z0-9._][A-Za-z0-9._-]*$/;
/** A host name or IPv4 address (IPv6 is bracketed in the URL): letters, digits, dots and dashes, not starting with a dash. */
const SSH_HOST = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

export function engineHost(dockerHost = process.env.DOCKER_HOST): EngineHost {
  if (!dockerHost || dockerHost.startsWith('unix://') || dockerHost.startsWith('npipe://')) return { kind: 'local' };
  const shown = withoutPassword(dockerHost);
  const form = 'write it as ssh://user@host or ssh://user@host:port';
  if (dockerHost.startsWith('ssh://')) {
    let url: URL;
    try {
      url = new URL(dockerHost);
    } catch {
      throw new BadInputError(`DOCKER_HOST ${shown} is not a valid ssh:// URL.`, form);
    }
    if (url.password)
      throw new BadInputError(
        `DOCKER_HOST ${shown} holds a password, which ssh never takes from a URL.`,
        'remove it and let ssh use a key (ssh-agent, ~/.ssh/config)',
      );
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (!host) throw new BadInputError(`DOCKER_HOST ${shown} names no host.`, form);
    const user = decodeURIComponent(url.username);
    const ipv6 = url.hostname.startsWith('[');
    // ssh would read a host or user starting with "-" as an option (-oProxyCommand=... runs a command).
    if (!(ipv6 || SSH_HOST.test(host)) || (user !== '' && !SSH_USER.test(user)))
      throw new BadInputError(
        `DOCKER_HOST ${shown} names a ${user !== '' && !SSH_USER.test(user) ? 'user' : 'host'} that is not a plain name (letters, digits, . _ -, not starting with -).`,
        form,
      );
    return { kind: 'ssh', target: `${user ? `${user}@` : ''}${host}`, sshArgs: url.port ? ['-p', url.port] : [] };
  }
  throw new BadInputError(
    `DOCKER_HOST ${shown} is not supported: the stack bind-mounts files that must exist on the engine's host.`,
    'use DOCKER_HOST=ssh://user@host (files are copied over ssh), or run the deploy on that host',
  );
}

/** Runs argv on the engine's host: directly, or through ssh (arguments quoted for the remote shell). */
export async function hostRun(host: EngineHost, argv: string[], options: { nothrow?: boolean; input?: string } = {}): Promise<ProcessOutput> {
  const full = host.kind === 'local' ? argv : ['ssh', ...host.sshArgs, host.target, '--', formatCommand(argv)];
  const [command, ...rest] = full;
  const run = $({ quiet: true, nothrow: options.nothrow ?? false, ...(options.input !== undefined ? { input: options.input } : {}) });
  return run`${command} ${rest}`;
}
