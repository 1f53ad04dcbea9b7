import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { StatePaths } from '../paths.js';
import { PGBACKREST_TLS_FILES, pgbackrestTlsDir } from '../pgbackrest/layout.js';
import { decidePeerCert, issuePeerCert, localCaPem, type PeerCert, readLocalCa, uniqueSans } from './peer.js';
import type { SubjectAltName } from './x509.js';

/**
 * Mutual-TLS certificates for pgBackRest: the database host and the repository
 * host each run `pgbackrest server` and dial the other, so each gets one "peer"
 * certificate (serverAuth + clientAuth) whose CN is its host name. The other
 * side's `tls-server-auth=<CN>=<stanza>` admits exactly that CN.
 */
export type PgbackrestRole = 'db' | 'repo';
export { pgbackrestTlsDir };
export const PGBACKREST_ROLES: readonly PgbackrestRole[] = ['db', 'repo'];

export interface PgbackrestCertRequest {
  paths: StatePaths;
  /** Host name per role: the certificate's CN and first DNS SAN. */
  hosts: Record<PgbackrestRole, string>;
  /** Extra DNS names, e.g. localhost for a single-host test. */
  extraSans: SubjectAltName[];
  /** Further names of the database side's certificate: every db host's pgBackRest server (several db hosts). */
  dbNames?: string[];
  bits: number;
  days: number;
  force: boolean;
}

export interface PgbackrestCertPlan {
  request: PgbackrestCertRequest;
  hosts: { role: PgbackrestRole; name: string; dir: string; action: 'issue' | 'keep'; reason: string }[];
}

function specFor(request: PgbackrestCertRequest, role: PgbackrestRole): PeerCert {
  const name = request.hosts[role];
  const members = role === 'db' ? (request.dbNames ?? []).map((value): SubjectAltName => ({ type: 'DNS', value })) : [];
  return {
    dir: pgbackrestTlsDir(request.paths, role),
    commonName: name,
    sans: uniqueSans([{ type: 'DNS', value: name }, ...members, ...request.extraSans]),
  };
}

/** Reads only: which host certificates are missing, stale or for another name. */
export function planPgbackrestCerts(request: PgbackrestCertRequest, now = new Date()): PgbackrestCertPlan {
  const ca = readLocalCa(request.paths, 'pgBackRest certificates');
  const hosts = PGBACKREST_ROLES.map((role) => {
    const spec = specFor(request, role);
    return { role, name: spec.commonName, dir: spec.dir, ...decidePeerCert(spec, ca, request.force, now) };
  });
  return { request, hosts };
}

export function describePgbackrestPlan(plan: PgbackrestCertPlan): string[] {
  return plan.hosts.map((h) =>
    h.action === 'issue'
      ? `issue the pgBackRest ${h.role === 'db' ? 'database host' : 'repository host'} certificate ${join(h.dir, PGBACKREST_TLS_FILES.cert)} CN=${h.name} (server+client, signed by the local CA): ${h.reason}`
      : `keep ${join(h.dir, PGBACKREST_TLS_FILES.cert)}: ${h.reason}`,
  );
}

/** Issues what the plan says (keys root:999 0640 as root: see issuePeerCert). */
export async function applyPgbackrestCerts(plan: PgbackrestCertPlan): Promise<string[]> {
  const ca = localCaPem(plan.request.paths);
  const written: string[] = [];
  for (const host of plan.hosts.filter((h) => h.action === 'issue')) {
    written.push(...(await issuePeerCert(specFor(plan.request, host.role), ca, plan.request.bits, plan.request.days)));
  }
  return written;
}

/** The files of one host's TLS folder that are missing. */
export function missingPgbackrestCerts(paths: StatePaths, role: PgbackrestRole): string[] {
  const dir = pgbackrestTlsDir(paths, role);
  return Object.values(PGBACKREST_TLS_FILES)
    .map((f) => join(dir, f))
    .filter((f) => !existsSync(f));
}
