import { dbHosts, type InventoryHost } from '../env/inventory.js';
import type { LoadedEnv } from '../env/load.js';
import { PGBACKREST_CONTAINER_PATHS } from '../pgbackrest/layout.js';

/**
 * The PostgreSQL cluster as the inventory describes it: one Patroni member and
 * one etcd member per db host, named after the host. Every endpoint follows
 * one rule: the host's address when it has one (the cluster ports are
 * published there), else the compose service name (one host: the services
 * reach each other on the stack's networks).
 */
export const CLUSTER_SERVICES = { etcd: 'etcd', postgres: 'postgres', haproxy: 'haproxy' } as const;
export type MemberService = 'etcd' | 'postgres';

/** PostgreSQL's port inside the container and between members (pgBackRest's config names the same). */
export const POSTGRES_PORT = Number(PGBACKREST_CONTAINER_PATHS.PGBACKREST_PG_PORT);

/** Paths inside the containers, as the rendered configs name them (a native test maps exactly these). */
export const CLUSTER_CONTAINER_PATHS = {
  /** ca.pem, cert.pem and key.pem of the container's own certificate (only ca.pem for HAProxy and Prometheus). */
  CLUSTER_TLS_PATH: '/etc/ssl/cluster',
  /** patroni.yml, run.sh and post-bootstrap.sh (the bundle's patroni/ folder). */
  PATRONI_CONFIG_PATH: '/etc/patroni',
  PATRONI_PG_BIN_DIR: '/usr/lib/postgresql/15/bin',
  /** etcd's volume; its data folder is created inside (etcd wants it 0700). */
  ETCD_VOLUME_PATH: '/var/lib/etcd',
  /** etcd.yml (the bundle's etcd/ folder). */
  ETCD_CONFIG_PATH: '/etc/etcd',
  HAPROXY_CONFIG_PATH: '/usr/local/etc/haproxy',
} as const;

export function endpointHost(host: InventoryHost, service: MemberService): string {
  return host.address ?? CLUSTER_SERVICES[service];
}

export interface ClusterMember {
  /** Member name in etcd and Patroni: the host's name. */
  name: string;
  host: InventoryHost;
  /** Where the others reach its etcd (client and peer ports). */
  etcd: string;
  /** Where the others reach its PostgreSQL and Patroni's REST API. */
  postgres: string;
}

export function clusterMembers(env: Pick<LoadedEnv, 'inventory'>): ClusterMember[] {
  return dbHosts(env.inventory).map((host) => ({ name: host.name, host, etcd: endpointHost(host, 'etcd'), postgres: endpointHost(host, 'postgres') }));
}

export interface ClusterPorts {
  etcdClient: number;
  etcdPeer: number;
  etcdMetrics: number;
  patroniApi: number;
  postgres: number;
}

export function clusterPorts(values: LoadedEnv['values']): ClusterPorts {
  return {
    etcdClient: values.ETCD_CLIENT_PORT,
    etcdPeer: values.ETCD_PEER_PORT,
    etcdMetrics: values.ETCD_METRICS_PORT,
    patroniApi: values.PATRONI_API_PORT,
    postgres: POSTGRES_PORT,
  };
}

/** The ports each member service publishes on its host's address (none without one): what the other hosts and Prometheus dial. */
export function publishedClusterPorts(values: LoadedEnv['values']): Record<MemberService, number[]> {
  const ports = clusterPorts(values);
  return { etcd: [ports.etcdClient, ports.etcdPeer, ports.etcdMetrics], postgres: [ports.postgres, ports.patroniApi] };
}
