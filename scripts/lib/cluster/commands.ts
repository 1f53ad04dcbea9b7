import { $ } from 'zx/core';
import { dockerHostOf, type InventoryHost } from '../env/inventory.js';
import { OperationError } from '../errors.js';
import { formatCommand } from '../host-shell.js';
import { CLUSTER_CONTAINER_PATHS, endpointHost, type MemberService } from './topology.js';

/**
 * What db-cluster.ts runs, as data: a command inside one member service's
 * container on one host of the inventory, reached through that host's engine
 * (DOCKER_HOST=ssh://… for a remote host). patronictl goes through run.sh,
 * which gives it the REST API password from the container's secret files.
 */
export interface ContainerCommand {
  host: InventoryHost;
  service: MemberService;
  argv: string[];
}

export interface CommandResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs a container command; the production one is dockerRunner, a test may run the same argv natively. */
export type CommandRunner = (command: ContainerCommand) => Promise<CommandResult>;

const { CLUSTER_TLS_PATH, PATRONI_CONFIG_PATH } = CLUSTER_CONTAINER_PATHS;

export function patronictl(args: string[]): string[] {
  return [`${PATRONI_CONFIG_PATH}/run.sh`, 'patronictl', '-c', `${PATRONI_CONFIG_PATH}/patroni.yml`, ...args];
}

/** etcdctl against the host's own member, at the client URL it advertises, with its certificate. */
export function etcdctl(host: InventoryHost, clientPort: number, args: string[]): string[] {
  const endpoint = endpointHost(host, 'etcd');
  return [
    'etcdctl',
    `--endpoints=https://${endpoint.includes(':') ? `[${endpoint}]` : endpoint}:${clientPort}`,
    `--cacert=${CLUSTER_TLS_PATH}/ca.pem`,
    `--cert=${CLUSTER_TLS_PATH}/cert.pem`,
    `--key=${CLUSTER_TLS_PATH}/key.pem`,
    '--dial-timeout=5s',
    '--command-timeout=10s',
    ...args,
  ];
}

/** The command as an operator would type it (dry run, audit, errors). */
export function formatContainerCommand(command: ContainerCommand, project: string): string {
  const dockerHost = dockerHostOf(command.host);
  return `${dockerHost ? `DOCKER_HOST=${dockerHost} ` : ''}docker exec <${command.service} container of ${project} on ${command.host.name}> ${formatCommand(command.argv)}`;
}

/**
 * Runs the command with `docker exec` in the service's running container of the
 * compose project, on the host's engine (its DOCKER_HOST, or the caller's for a
 * local engine).
 */
export function dockerRunner(project: string): CommandRunner {
  return async (command) => {
    const dockerHost = dockerHostOf(command.host);
    const env = { ...process.env, ...(dockerHost ? { DOCKER_HOST: dockerHost } : {}) };
    const run = $({ quiet: true, nothrow: true, env, timeout: '120s' });
    const filters = ['--filter', `label=com.docker.compose.project=${project}`, '--filter', `label=com.docker.compose.service=${command.service}`];
    const ps = await run`docker ps -q ${filters}`;
    if (ps.exitCode !== 0) {
      throw new OperationError(
        `the Docker engine of host ${command.host.name} did not answer (${ps.stderr.trim().split('\n').pop() || `exit ${ps.exitCode}`}).`,
        dockerHost ? `check that ssh reaches ${dockerHost}` : 'check that Docker runs (DOCKER_HOST)',
      );
    }
    const id = ps.stdout.trim().split('\n')[0];
    if (!id) return { status: 125, stdout: '', stderr: `no running ${command.service} container of ${project} on host ${command.host.name}` };
    const result = await run`docker exec -i ${id} ${command.argv}`;
    return { status: result.exitCode ?? 1, stdout: result.stdout, stderr: result.stderr };
  };
}
