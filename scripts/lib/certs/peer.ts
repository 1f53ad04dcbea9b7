import { chownSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BadInputError } from '../errors.js';
import { writeFileAtomic } from '../fs-atomic.js';
import type { StatePaths } from '../paths.js';
import { ensureWritableFolder } from './apply.js';
import { certificateSans, daysLeft, issuedBy, readCertificate, readPrivateKey, sanStrings } from './inspect.js';
import { CA_FILES, RENEW_DAYS } from './plan.js';
import { buildServerCertificate, generateRsaKey, type SubjectAltName } from './x509.js';

/**
 * A "peer" certificate of the local CA in its own folder (ca.pem, cert.pem,
 * key.pem): serverAuth and clientAuth, for services that both listen and dial
 * with one certificate (pgBackRest's servers, etcd members, Patroni).
 */
export const PEER_FILES = { ca: 'ca.pem', cert: 'cert.pem', key: 'key.pem' } as const;

/** The uid the containers that read these keys run as (the postgres image's postgres user; pgBackRest's repository image creates the same). */
export const PEER_KEY_GID = 999;

export interface PeerCert {
  dir: string;
  commonName: string;
  sans: SubjectAltName[];
}

export interface PeerDecision {
  action: 'issue' | 'keep';
  reason: string;
}

/** `name` first, then the others, each once. */
export function uniqueSans(sans: SubjectAltName[]): SubjectAltName[] {
  return sans.filter((san, i) => sans.findIndex((o) => o.type === san.type && o.value === san.value) === i);
}

/** The local CA's certificate; `what` names the certificates that need it. */
export function readLocalCa(paths: StatePaths, what: string) {
  const cert = readCertificate(join(paths.ca, CA_FILES.cert));
  const key = readPrivateKey(join(paths.ca, CA_FILES.key));
  if (!cert || !key) throw new BadInputError(`no local CA in ${paths.ca}: ${what} are signed by it; run generate-certs.ts --mode ca first.`);
  return cert;
}

/** Reads only: whether the folder's certificate is missing, stale, or for another name. */
export function decidePeerCert(spec: PeerCert, ca: ReturnType<typeof readLocalCa>, force: boolean, now = new Date()): PeerDecision {
  const cert = readCertificate(join(spec.dir, PEER_FILES.cert));
  const key = readPrivateKey(join(spec.dir, PEER_FILES.key));
  if (!cert || !key) return { action: 'issue', reason: 'no certificate yet' };
  if (force) return { action: 'issue', reason: '--force' };
  if (!cert.checkPrivateKey(key)) return { action: 'issue', reason: 'the key does not match the certificate' };
  if (!issuedBy(cert, ca)) return { action: 'issue', reason: 'not signed by the current local CA' };
  if (!cert.subject.split('\n').includes(`CN=${spec.commonName}`)) return { action: 'issue', reason: `the CN changes to ${spec.commonName}` };
  const want = sanStrings(spec.sans);
  if (certificateSans(cert).join(',') !== want.join(',')) return { action: 'issue', reason: `SANs change to ${want.join(', ')}` };
  // 1.3.6.1.5.5.7.3.2 = clientAuth: each side also dials the others.
  if (!(cert.keyUsage ?? []).includes('1.3.6.1.5.5.7.3.2')) return { action: 'issue', reason: 'it cannot authenticate a client' };
  const left = daysLeft(cert, now);
  if (left < RENEW_DAYS) return { action: 'issue', reason: `only ${left} days left` };
  return { action: 'keep', reason: `CN=${spec.commonName}, ${left} days left` };
}

/**
 * Issues one peer certificate into its folder. The services accept a key owned
 * by the user running them or by root: as root the key is root:999 mode 0640
 * (like PostgreSQL's ssl_key_file rule), so uid 999 in the containers and root
 * both can use it.
 */
export async function issuePeerCert(spec: PeerCert, ca: { certPem: string; privateKeyPem: string }, bits: number, days: number): Promise<string[]> {
  ensureWritableFolder(spec.dir, 0o755);
  const keys = await generateRsaKey(bits);
  const certPem = buildServerCertificate({ keys, commonName: spec.commonName, sans: spec.sans, days, ca, profile: 'peer' });
  const keyPath = join(spec.dir, PEER_FILES.key);
  const asRoot = process.getuid?.() === 0;
  writeFileAtomic(keyPath, keys.privateKeyPem, asRoot ? 0o640 : 0o600);
  if (asRoot) chownSync(keyPath, 0, PEER_KEY_GID);
  writeFileAtomic(join(spec.dir, PEER_FILES.cert), certPem, 0o644);
  writeFileAtomic(join(spec.dir, PEER_FILES.ca), ca.certPem, 0o644);
  return [keyPath, join(spec.dir, PEER_FILES.cert), join(spec.dir, PEER_FILES.ca)];
}

/** The local CA's certificate and key as PEM, for issuePeerCert. */
export function localCaPem(paths: StatePaths): { certPem: string; privateKeyPem: string } {
  return { certPem: readFileSync(join(paths.ca, CA_FILES.cert), 'utf8'), privateKeyPem: readFileSync(join(paths.ca, CA_FILES.key), 'utf8') };
}
