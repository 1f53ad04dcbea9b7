import type { AddressPorts } from '../compose/policy.js';
import { dbHosts, type InventoryHost } from '../env/inventory.js';
import type { LoadedEnv } from '../env/load.js';
import { BadInputError } from '../errors.js';
import { clusterCaDir, clusterTlsDir, statePaths } from '../paths.js';
import { pgbackrestDbPublishAddress } from '../pgbackrest/layout.js';
import type { BundleExtra, Deriver } from '../render/derived.js';
import { writeYaml } from '../yaml-data.js';
import {
  CLUSTER_CONTAINER_PATHS,
  type ClusterMember,
  clusterMembers,
  clusterPorts,
  endpointHost,
  type MemberService,
  publishedClusterPorts,
} from './topology.js';

/** host:port, with an IPv6 address in brackets. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * A compose port line for a member port: on the host's address when it has one
 * (the other hosts dial it there); else on a random loopback port, which
 * nothing needs but keeps one template for both cases.
 */
function publish(host: InventoryHost, port: number): string {
  if (!host.address) return `127.0.0.1::${port}`;
  return `${host.address.includes(':') ? `[${host.address}]` : host.address}:${port}:${port}`;
}

/** A db host's address must be an IP: Docker publishes ports on an interface address, not a name. */
function requireIpAddress(host: InventoryHost): void {
  const address = host.address;
  if (!address || !host.roles.includes('db') || /^[0-9.]+$/.test(address) || address.includes(':')) return;
  throw new BadInputError(
    `${host.variable ?? `host ${host.name}`} has address=${address}, a DNS name: a db host publishes its cluster ports on an interface address; give its private IP.`,
  );
}

/** etcd's initial cluster: every member for a new cluster; for a member joining one, the members before it in the inventory and itself. */
function initialCluster(env: LoadedEnv, host: InventoryHost, members: ClusterMember[]): string {
  const index = members.findIndex((m) => m.name === host.name);
  const joined = env.values.ETCD_INITIAL_CLUSTER_STATE === 'existing' && index >= 0 ? members.slice(0, index + 1) : members;
  return joined.map((m) => `${m.name}=https://${hostPort(m.etcd, env.values.ETCD_PEER_PORT)}`).join(',');
}

const PUBLISH_VALUES: Record<MemberService, string[]> = {
  etcd: ['CLUSTER_PUBLISH_ETCD_CLIENT', 'CLUSTER_PUBLISH_ETCD_PEER', 'CLUSTER_PUBLISH_ETCD_METRICS'],
  postgres: ['CLUSTER_PUBLISH_POSTGRES', 'CLUSTER_PUBLISH_PATRONI_API'],
};

/**
 * The values one host's configs differ by: its member name, where the others
 * reach it, its TLS folders, its etcd initial cluster and its published ports.
 * Registered with render as a host deriver: each host's bundle carries its own.
 */
export function clusterValues(env: LoadedEnv, host: InventoryHost): Record<string, string> {
  requireIpAddress(host);
  const paths = statePaths(env);
  const published = publishedClusterPorts(env.values);
  const values: Record<string, string> = {
    CLUSTER_MEMBER_NAME: host.name,
    CLUSTER_ETCD_ENDPOINT: endpointHost(host, 'etcd'),
    CLUSTER_POSTGRES_ENDPOINT: endpointHost(host, 'postgres'),
    ETCD_INITIAL_CLUSTER: initialCluster(env, host, clusterMembers(env)),
    CLUSTER_ETCD_TLS_DIR: clusterTlsDir(paths, host.name, 'etcd'),
    CLUSTER_POSTGRES_TLS_DIR: clusterTlsDir(paths, host.name, 'postgres'),
  };
  for (const service of ['etcd', 'postgres'] as const) {
    published[service].forEach((port, i) => {
      values[PUBLISH_VALUES[service][i] as string] = publish(host, port);
    });
  }
  return values;
}

/**
 * What the compose policy lets a db host publish beyond loopback: its cluster ports and its pgBackRest
 * server on its address (the other hosts and the repository host dial them there); without an
 * address, only the pgBackRest server, on PGBACKREST_DB_PUBLISH_ADDRESS.
 */
export function dbHostPublishAllowance(env: LoadedEnv, host: Pick<InventoryHost, 'address' | 'roles'>): AddressPorts | undefined {
  if (!host.roles.includes('db')) return undefined;
  const pgbackrest = { pgbackrest: [env.values.PGBACKREST_DB_PORT] };
  const address = pgbackrestDbPublishAddress(env, host);
  return { address, ports: host.address ? { ...publishedClusterPorts(env.values), ...pgbackrest } : pgbackrest };
}

/** Patroni refuses a loop that cannot renew the leader key in time: ttl ≥ loop_wait + 2 × retry_timeout. */
function timingProblem(values: LoadedEnv['values']): string | undefined {
  const { PATRONI_TTL: ttl, PATRONI_LOOP_WAIT: loop, PATRONI_RETRY_TIMEOUT: retry } = values;
  if (loop + 2 * retry <= ttl) return undefined;
  return `PATRONI_TTL=${ttl} is shorter than PATRONI_LOOP_WAIT + 2 × PATRONI_RETRY_TIMEOUT (${loop} + 2 × ${retry} = ${loop + 2 * retry}): the leader could lose its key between two loops; raise PATRONI_TTL or lower the other two.`;
}

/** Template values of the cluster every host shares: the member list, endpoints, HAProxy's servers (each host's own: clusterValues). */
export const deriveCluster: Deriver = (env) => {
  const problem = timingProblem(env.values);
  if (problem) throw new BadInputError(problem);
  for (const host of dbHosts(env.inventory)) requireIpAddress(host);
  const members = clusterMembers(env);
  const ports = clusterPorts(env.values);
  return {
    values: {
      ...CLUSTER_CONTAINER_PATHS,
      POSTGRES_PORT: ports.postgres,
      CLUSTER_CA_DIR: clusterCaDir(statePaths(env)),
      // Patroni's etcd3 client takes a comma-separated host:port list.
      CLUSTER_ETCD_HOSTS: members.map((m) => hostPort(m.etcd, ports.etcdClient)).join(','),
      // One line per member for both HAProxy backends: the check asks Patroni's REST API who leads.
      HAPROXY_SERVERS: members.map((m) => `    server ${m.name} ${hostPort(m.postgres, ports.postgres)} check port ${ports.patroniApi}`).join('\n'),
    },
  };
};

/** Prometheus file_sd files of the members' Patroni and etcd metrics endpoints, one target per member. */
export const CLUSTER_TARGET_FILES = { patroni: 'monitoring/cluster/patroni.yml', etcd: 'monitoring/cluster/etcd.yml' } as const;

export const clusterTargetFiles: BundleExtra = (env, files) => {
  if (!files.some((f) => f.path === 'monitoring/prometheus.yml') || env.name !== 'prod') return [];
  const ports = clusterPorts(env.values);
  const targets = (endpoint: (m: ClusterMember) => string) =>
    clusterMembers(env).map((m) => ({ targets: [endpoint(m)], labels: { member: m.name, cluster: env.values.CLUSTER_NAME } }));
  const header = '# GENERATED by scripts/render.ts from the inventory (HOST_ lines): one target per db host. Render again to change it.\n';
  return [
    { path: CLUSTER_TARGET_FILES.patroni, content: header + writeYaml(targets((m) => hostPort(m.postgres, ports.patroniApi))), mode: 0o644, secret: false },
    { path: CLUSTER_TARGET_FILES.etcd, content: header + writeYaml(targets((m) => hostPort(m.etcd, ports.etcdMetrics))), mode: 0o644, secret: false },
  ];
};
