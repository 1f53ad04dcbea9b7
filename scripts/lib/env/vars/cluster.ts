import { v } from '../spec.js';

const USER = { pattern: /^[a-z_][a-z0-9_]{0,62}$/, patternHint: 'must be a lowercase SQL identifier' };

/**
 * The PostgreSQL cluster of the production compose stack: Patroni on every db
 * host, one etcd member per db host, HAProxy on the app hosts (docs/ha.md).
 * Ports are the same on every host; with an `address=` in the host's HOST_
 * line they are published on that address, never on 0.0.0.0.
 */
export const clusterVars = {
  CLUSTER_NAME: v.str({
    description: "Name of the PostgreSQL cluster: Patroni's scope (its key prefix in etcd) and etcd's initial cluster token.",
    pattern: /^[a-z][a-z0-9-]{0,62}$/,
    patternHint: 'must be lowercase letters, digits or -, starting with a letter',
    default: 'healthmate',
  }),
  ETCD_IMAGE: v.image({
    description: 'etcd image (the consensus store Patroni elects its leader in), pinned to a version tag.',
    default: 'quay.io/coreos/etcd:v3.4.23',
  }),
  HAPROXY_IMAGE: v.image({
    description: 'HAProxy image (routes writes to the leader, reads to the replicas), pinned to a version tag.',
    default: 'haproxy:2.6.12-alpine',
  }),
  PATRONI_DEB_VERSION: v.str({
    description: 'Debian package version of patroni installed into the PostgreSQL image (bookworm: 3.0.2-1).',
    pattern: /^\d+\.\d+\.\d+-[\w.+~]+$/,
    patternHint: 'must be a Debian version such as 3.0.2-1',
    default: '3.0.2-1',
  }),
  ETCD_CLIENT_PORT: v.port({ description: 'etcd client port (TLS, client certificates from the project CA): Patroni and etcdctl.', default: '2379' }),
  ETCD_PEER_PORT: v.port({ description: 'etcd peer port (TLS both ways): the etcd members of the other db hosts.', default: '2380' }),
  ETCD_METRICS_PORT: v.port({ description: "etcd's plain-HTTP /metrics and /health listener, scraped by Prometheus.", default: '2381' }),
  ETCD_INITIAL_CLUSTER_STATE: v.oneOf(['new', 'existing'] as const, {
    description:
      'new: the db hosts bootstrap one etcd cluster together; existing: a member joins a running cluster after `etcdctl member add` (growing to three hosts, replacing a dead one: docs/ha.md). A member with data ignores it.',
    default: 'new',
  }),
  PATRONI_API_PORT: v.port({
    description: "Patroni's REST API port (TLS): HAProxy's health checks, Prometheus, patronictl and the other members.",
    default: '8008',
  }),
  PATRONI_API_USER: v.str({ description: "User of Patroni's REST API for unsafe requests (switchover, restart, reinit).", ...USER, default: 'patroni' }),
  CLUSTER_API_PASSWORD: v.secret({
    description: "Password of Patroni's REST API user (unsafe requests); read from a secret file by Patroni and patronictl.",
    default: { dev: 'dev-cluster-api-password' },
  }),
  POSTGRES_REPLICATION_USER: v.str({ description: 'PostgreSQL role the replicas stream WAL as.', ...USER, default: 'replicator' }),
  POSTGRES_REPLICATION_PASSWORD: v.secret({
    description: 'Password of the replication role (TLS connections between members only).',
    default: { dev: 'dev-postgres-replication-password' },
  }),
  POSTGRES_REWIND_USER: v.str({ description: 'PostgreSQL role pg_rewind connects as when a former leader rejoins.', ...USER, default: 'rewinder' }),
  POSTGRES_REWIND_PASSWORD: v.secret({ description: 'Password of the pg_rewind role.', default: { dev: 'dev-postgres-rewind-password' } }),
  PATRONI_TTL: v.int({
    description:
      'Seconds the leader key lives in etcd without renewal: a dead leader is replaced about this long after it stops (plus loop_wait). Must be at least loop_wait + 2 × retry_timeout.',
    min: 10,
    max: 300,
    default: '20',
  }),
  PATRONI_LOOP_WAIT: v.int({ description: 'Seconds between two runs of Patroni’s HA loop on each member.', min: 1, max: 60, default: '5' }),
  PATRONI_RETRY_TIMEOUT: v.int({
    description: 'Seconds Patroni retries etcd and PostgreSQL operations before it demotes (a leader cut off from etcd stops taking writes).',
    min: 3,
    max: 120,
    default: '5',
  }),
  PATRONI_SYNCHRONOUS_MODE_STRICT: v.bool({
    description:
      'false: a commit waits for one synchronous standby when one is up, and the leader goes on alone when none is (availability first). true: no commit without a standby (durability first; the last replica lost stops writes). docs/ha.md.',
    default: 'false',
  }),
  HAPROXY_WRITE_PORT: v.port({ description: "HAProxy's port to the leader (DATABASE_URL): writes and reads that must see them.", default: '5000' }),
  HAPROXY_READ_PORT: v.port({ description: "HAProxy's port to the replicas, the leader when none is up (DATABASE_READ_URL).", default: '5001' }),
  HAPROXY_STATS_PORT: v.port({ description: "HAProxy's Prometheus endpoint (/metrics) and stats page, on the stack's networks only.", default: '8404' }),
};
