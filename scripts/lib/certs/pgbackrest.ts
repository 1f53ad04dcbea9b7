import { chownSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BadInputError } from '../errors.js';
import { writeFileAtomic } from '../fs-atomic.js';
import type { StatePaths } from '../paths.js';
import { PGBACKREST_TLS_FILES, pgbackrestTlsDir } from '../pgbackrest/layout.js';
import { ensureWritableFolder } from './apply.js';
import { certificateSans, daysLeft, issuedBy, readCertificate, readPrivateKey, sanStrings } from './inspect.js';
import { CA_FILES, RENEW_DAYS } from './plan.js';
import { buildServerCertificate, generateRsaKey, type SubjectAltName } from './x509.js';

/**
 * Mutual-TLS certificates for pgBackRest: the database host and the repository
 * host each run `pgbackrest server` and dial the other, so each gets one "peer"
 * certificate (serverAuth + clientAuth) whose CN is its host name. The other
 * side's `tls-server-auth=<CN>=<stanza>` admits exactly that CN.
 */
export type PgbackrestRole = 'db' | 'repo';
export { pgbackrestTlsDir };
export const PGBACKREST_ROLES: readonly PgbackrestRole[] = ['db', 'repo'];

/** The uid and gid pgBackRest runs as on both sides (the postgres image's postgres user; the repository image creates the same). */
export const PGBACKREST_UID = 999;

export interface PgbackrestCertRequest {
  paths: StatePaths;
  /** Host name per role: the certificate's CN and first DNS SAN. */
  hosts: Record<PgbackrestRole, string>;
  /** Extra DNS names, e.g. localhost for a single-host test. */
  extraSans: SubjectAltName[];
  bits: number;
  days: number;
  force: boolean;
}

export interface PgbackrestCertPlan {
  request: PgbackrestCertRequest;
  hosts: { role: PgbackrestRole; name: string; dir: string; action: 'issue' | 'keep'; reason: string }[];
}

function sansFor(name: string, extra: SubjectAltName[]): SubjectAltName[] {
  const all: SubjectAltName[] = [{ type: 'DNS', value: name }, ...extra];
  return all.filter((san, i) => all.findIndex((o) => o.type === san.type && o.value === san.value) === i);
}

function readCa(paths: StatePaths) {
  const cert = readCertificate(join(paths.ca, CA_FILES.cert));
  const key = readPrivateKey(join(paths.ca, CA_FILES.key));
  if (!cert || !key) throw new BadInputError(`no local CA in ${paths.ca}: pgBackRest certificates are signed by it; run generate-certs.ts --mode ca first.`);
  return cert;
}

/** Reads only: which host certificates are missing, stale or for another name. */
export function planPgbackrestCerts(request: PgbackrestCertRequest, now = new Date()): PgbackrestCertPlan {
  const ca = readCa(request.paths);
  const hosts = PGBACKREST_ROLES.map((role) => {
    const name = request.hosts[role];
    const dir = pgbackrestTlsDir(request.paths, role);
    const cert = readCertificate(join(dir, PGBACKREST_TLS_FILES.cert));
    const key = readPrivateKey(join(dir, PGBACKREST_TLS_FILES.key));
    const decide = (): { action: 'issue' | 'keep'; reason: string } => {
      if (!cert || !key) return { action: 'issue', reason: 'no certificate yet' };
      if (request.force) return { action: 'issue', reason: '--force' };
      if (!cert.checkPrivateKey(key)) return { action: 'issue', reason: 'the key does not match the certificate' };
      if (!issuedBy(cert, ca)) return { action: 'issue', reason: 'not signed by the current local CA' };
      if (!cert.subject.split('\n').includes(`CN=${name}`)) return { action: 'issue', reason: `the CN changes to ${name}` };
      const want = sanStrings(sansFor(name, request.extraSans));
      if (certificateSans(cert).join(',') !== want.join(',')) return { action: 'issue', reason: `SANs change to ${want.join(', ')}` };
      // 1.3.6.1.5.5.7.3.2 = clientAuth: each side also dials the other.
      if (!(cert.keyUsage ?? []).includes('1.3.6.1.5.5.7.3.2')) return { action: 'issue', reason: 'it cannot authenticate a client' };
      const left = daysLeft(cert, now);
      if (left < RENEW_DAYS) return { action: 'issue', reason: `only ${left} days left` };
      return { action: 'keep', reason: `CN=${name}, ${left} days left` };
    };
    return { role, name, dir, ...decide() };
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

/**
 * Issues what the plan says. pgBackRest accepts a key owned by the user running
 * it or by root: as root the key is root:999 mode 0640 (like PostgreSQL's
 * ssl_key_file rule), so uid 999 in the containers and root both can use it.
 */
export async function applyPgbackrestCerts(plan: PgbackrestCertPlan): Promise<string[]> {
  const { request } = plan;
  const caPem = readFileSync(join(request.paths.ca, CA_FILES.cert), 'utf8');
  const caKeyPem = readFileSync(join(request.paths.ca, CA_FILES.key), 'utf8');
  const written: string[] = [];
  for (const host of plan.hosts.filter((h) => h.action === 'issue')) {
    ensureWritableFolder(host.dir, 0o755);
    const keys = await generateRsaKey(request.bits);
    const certPem = buildServerCertificate({
      keys,
      commonName: host.name,
      sans: sansFor(host.name, request.extraSans),
      days: request.days,
      ca: { certPem: caPem, privateKeyPem: caKeyPem },
      profile: 'peer',
    });
    const keyPath = join(host.dir, PGBACKREST_TLS_FILES.key);
    const asRoot = process.getuid?.() === 0;
    writeFileAtomic(keyPath, keys.privateKeyPem, asRoot ? 0o640 : 0o600);
    if (asRoot) chownSync(keyPath, 0, PGBACKREST_UID);
    writeFileAtomic(join(host.dir, PGBACKREST_TLS_FILES.cert), certPem, 0o644);
    writeFileAtomic(join(host.dir, PGBACKREST_TLS_FILES.ca), caPem, 0o644);
    written.push(keyPath, join(host.dir, PGBACKREST_TLS_FILES.cert), join(host.dir, PGBACKREST_TLS_FILES.ca));
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
