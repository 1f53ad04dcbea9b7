import { $, type ProcessOutput } from 'zx/core';
import { BadInputError } from '../errors.js';
import { parseSshUrl, withoutPassword } from '../ssh-url.js';
import { formatCommand } from './plan.js';

/**
 * Where the Docker engine runs. Bind mounts name paths on the engine's host,
 * so with a remote engine (DOCKER_HOST=ssh://user@host) the release folder and
 * the certificates are copied there and host commands (curl, chown) run there
 * through ssh. A tcp:// engine has no way to receive files: refused.
 */
export type EngineHost = { kind: 'local' } | { kind: 'ssh'; target: string; sshArgs: string[] };

export function engineHost(dockerHost = process.env.DOCKER_HOST): EngineHost {
  if (!dockerHost || dockerHost.startsWith('unix://') || dockerHost.startsWith('npipe://')) return { kind: 'local' };
  const shown = withoutPassword(dockerHost);
  if (dockerHost.startsWith('ssh://')) {
    const url = parseSshUrl(dockerHost);
    if ('problem' in url) throw new BadInputError(`DOCKER_HOST ${shown} ${url.problem}.`, url.hint);
    return { kind: 'ssh', target: `${url.user ? `${url.user}@` : ''}${url.hostname}`, sshArgs: url.port ? ['-p', String(url.port)] : [] };
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
