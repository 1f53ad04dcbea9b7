import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { CLUSTER_SERVICES } from '../cluster/topology.js';
import { dbHosts, type InventoryHost } from '../env/inventory.js';
import type { LoadedEnv } from '../env/load.js';
import { writeFileAtomic } from '../fs-atomic.js';
import { CLUSTER_COMPONENTS, CLUSTER_TLS_FILES, type ClusterComponent, clusterCaDir, clusterTlsDir, type StatePaths, statePaths } from '../paths.js';
import { ensureWritableFolder } from './apply.js';
import { decidePeerCert, issuePeerCert, localCaPem, type PeerCert, type PeerDecision, readLocalCa, uniqueSans } from './peer.js';
import type { SubjectAltName } from './x509.js';

/**
 * The PostgreSQL cluster's certificates, all from the local CA: per db host one
 * for its etcd member (client and peer TLS; etcd refuses a client certificate
 * of any other CA) and one for Patroni's REST API and PostgreSQL (also the
 * client certificate Patroni presents to etcd). SANs: the compose service name
 * (one host), the host's address (several), and localhost/127.0.0.1 for the
 * container's own healthcheck. HAProxy and Prometheus get the CA alone.
 */
export interface ClusterCertRequest {
  paths: StatePaths;
  hosts: InventoryHost[];
  extraSans: SubjectAltName[];
  bits: number;
  days: number;
  force: boolean;
}

export interface ClusterCertPlan {
  request: ClusterCertRequest;
  certs: ({ host: string; component: ClusterComponent; spec: PeerCert } & PeerDecision)[];
  ca: { path: string; action: 'write' | 'keep'; reason: string };
}

export function clusterCertRequest(env: LoadedEnv, options: Omit<ClusterCertRequest, 'paths' | 'hosts'>): ClusterCertRequest {
  return { paths: statePaths(env), hosts: dbHosts(env.inventory), ...options };
}

function addressSan(address: string): SubjectAltName {
  return isIP(address) ? { type: 'IP', value: address } : { type: 'DNS', value: address };
}

export function clusterCertSpec(request: Pick<ClusterCertRequest, 'paths' | 'extraSans'>, host: InventoryHost, component: ClusterComponent): PeerCert {
  const sans: SubjectAltName[] = [
    { type: 'DNS', value: CLUSTER_SERVICES[component] },
    ...(host.address ? [addressSan(host.address)] : []),
    { type: 'DNS', value: 'localhost' },
    { type: 'IP', value: '127.0.0.1' },
    ...request.extraSans,
  ];
  return { dir: clusterTlsDir(request.paths, host.name, component), commonName: `${host.name}-${component}`, sans: uniqueSans(sans) };
}

/** Reads only: which certificates are missing, stale or for other names, and whether the CA copy is current. */
export function planClusterCerts(request: ClusterCertRequest, now = new Date()): ClusterCertPlan {
  const ca = readLocalCa(request.paths, 'the cluster certificates');
  const certs = request.hosts.flatMap((host) =>
    CLUSTER_COMPONENTS.map((component) => {
      const spec = clusterCertSpec(request, host, component);
      return { host: host.name, component, spec, ...decidePeerCert(spec, ca, request.force, now) };
    }),
  );
  const path = join(clusterCaDir(request.paths), CLUSTER_TLS_FILES.ca);
  const current = localCaPem(request.paths).certPem;
  const copy = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  const action = copy === current ? 'keep' : 'write';
  return {
    request,
    certs,
    ca: { path, action, reason: copy === undefined ? 'no copy yet' : action === 'write' ? 'the local CA changed' : 'the current local CA' },
  };
}

export function describeClusterPlan(plan: ClusterCertPlan): string[] {
  const what = { etcd: 'etcd member', postgres: 'Patroni and PostgreSQL' };
  return [
    ...plan.certs.map((c) =>
      c.action === 'issue'
        ? `issue the ${what[c.component]} certificate of host ${c.host} ${join(c.spec.dir, CLUSTER_TLS_FILES.cert)} CN=${c.spec.commonName} SANs ${c.spec.sans.map((s) => s.value).join(', ')} (server+client, signed by the local CA): ${c.reason}`
        : `keep ${join(c.spec.dir, CLUSTER_TLS_FILES.cert)}: ${c.reason}`,
    ),
    plan.ca.action === 'write'
      ? `write the CA certificate for HAProxy and Prometheus ${plan.ca.path}: ${plan.ca.reason}`
      : `keep ${plan.ca.path}: ${plan.ca.reason}`,
  ];
}

/** Issues what the plan says (keys root:999 0640 as root: see issuePeerCert). */
export async function applyClusterCerts(plan: ClusterCertPlan): Promise<string[]> {
  const { request } = plan;
  const ca = localCaPem(request.paths);
  const written: string[] = [];
  for (const cert of plan.certs.filter((c) => c.action === 'issue')) written.push(...(await issuePeerCert(cert.spec, ca, request.bits, request.days)));
  if (plan.ca.action === 'write') {
    ensureWritableFolder(clusterCaDir(request.paths), 0o755);
    writeFileAtomic(plan.ca.path, ca.certPem, 0o644);
    written.push(plan.ca.path);
  }
  return written;
}
