import type { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import type { LoadedEnv } from '../env/load.js';
import { BadInputError } from '../errors.js';
import type { StatePaths } from '../paths.js';
import { certificateSans, daysLeft, isSelfSigned, issuedBy, keyBits, readCertificate, readPrivateKey, sanStrings } from './inspect.js';
import type { SubjectAltName } from './x509.js';

export type CertMode = 'ca' | 'self-signed';

/** Files in statePaths.certs, the folder nginx mounts read-only at /etc/nginx/certs. */
export const SERVER_FILES = { fullchain: 'fullchain.pem', privkey: 'privkey.pem', chain: 'chain.pem', ca: 'ca.pem' } as const;
/** Files in statePaths.ca: the CA key never leaves this folder. */
export const CA_FILES = { key: 'ca.key', cert: 'ca.pem' } as const;

/** A certificate with fewer days left than this is renewed. */
export const RENEW_DAYS = 30;
export const CA_DAYS = 3650;

export interface CertRequest {
  mode: CertMode;
  commonName: string;
  sans: SubjectAltName[];
  bits: number;
  days: number;
  force: boolean;
  paths: StatePaths;
  envName: string;
}

export interface CertPlan {
  request: CertRequest;
  ca: { action: 'create' | 'keep' | 'none'; reason: string };
  server: { action: 'issue' | 'keep'; reason: string };
}

/** DOMAIN first (it is also the CN), then dev's local names, then extras; no duplicates. */
export function wantedSans(env: LoadedEnv, extras: SubjectAltName[]): SubjectAltName[] {
  const all: SubjectAltName[] = [{ type: 'DNS', value: env.values.DOMAIN }];
  if (env.name === 'dev') all.push({ type: 'DNS', value: 'localhost' }, { type: 'IP', value: '127.0.0.1' });
  all.push(...extras);
  const seen = new Set<string>();
  return all.filter((san) => {
    const key = `${san.type}:${san.value}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** A key and certificate pair that must exist together and match, or both be absent. */
function readPair(certPath: string, keyPath: string): X509Certificate | undefined {
  const cert = readCertificate(certPath);
  const key = readPrivateKey(keyPath);
  if (!cert && !key) return undefined;
  if (!cert || !key) {
    const [present, missing] = cert ? [certPath, keyPath] : [keyPath, certPath];
    throw new BadInputError(`${present} exists but ${missing} does not; restore the missing file or move ${present} away.`);
  }
  if (!cert.checkPrivateKey(key)) {
    throw new BadInputError(
      `${keyPath} does not match the certificate ${certPath}; nothing was changed. Restore the right key, or move both files away to issue a new pair.`,
    );
  }
  return cert;
}

/**
 * Decides what generate-certs does, reading only: keep what is valid, issue
 * what is missing, stale or different. Refuses (exit 2) mismatched pairs.
 */
export function planCertificates(request: CertRequest, now = new Date()): CertPlan {
  const { paths, mode } = request;
  const existingCa = readPair(join(paths.ca, CA_FILES.cert), join(paths.ca, CA_FILES.key));
  const server = readPair(join(paths.certs, SERVER_FILES.fullchain), join(paths.certs, SERVER_FILES.privkey));

  let ca: CertPlan['ca'] = { action: 'none', reason: 'self-signed mode uses no CA' };
  if (mode === 'ca') {
    if (!existingCa) ca = { action: 'create', reason: 'no local CA yet' };
    else if (daysLeft(existingCa, now) < RENEW_DAYS) ca = { action: 'create', reason: `the CA expires in ${daysLeft(existingCa, now)} days` };
    else ca = { action: 'keep', reason: `valid for ${daysLeft(existingCa, now)} more days` };
  }
  return { request, ca, server: serverAction(request, server, ca.action === 'keep' ? existingCa : undefined, existingCa, now) };
}

function serverAction(
  request: CertRequest,
  cert: X509Certificate | undefined,
  signingCa: X509Certificate | undefined,
  anyCa: X509Certificate | undefined,
  now: Date,
): CertPlan['server'] {
  if (!cert) return { action: 'issue', reason: 'no server certificate yet' };
  if (request.force) return { action: 'issue', reason: '--force' };
  const ours = isSelfSigned(cert) || (anyCa !== undefined && issuedBy(cert, anyCa));
  if (!ours) {
    // Let's Encrypt (certbot) or an operator put it there: never replace it silently.
    return { action: 'keep', reason: `issued by ${cert.issuer.split('\n').join(', ')}, not by this script; pass --force to replace it` };
  }
  if (request.mode === 'ca' && !(signingCa && issuedBy(cert, signingCa))) return { action: 'issue', reason: 'not signed by the current local CA' };
  if (request.mode === 'self-signed' && !isSelfSigned(cert)) return { action: 'issue', reason: 'switching to a self-signed certificate' };
  const have = certificateSans(cert);
  const want = sanStrings(request.sans);
  if (have.join(',') !== want.join(',')) return { action: 'issue', reason: `SANs change from ${have.join(', ')} to ${want.join(', ')}` };
  if (keyBits(cert) !== request.bits) return { action: 'issue', reason: `key size changes from ${keyBits(cert)} to ${request.bits} bits` };
  const left = daysLeft(cert, now);
  if (left < RENEW_DAYS) return { action: 'issue', reason: `only ${left} days left (renewal window ${RENEW_DAYS} days)` };
  return { action: 'keep', reason: `matches the SANs, ${left} days left` };
}

/** Human-readable steps, the same for --dry-run and a real run. */
export function describePlan(plan: CertPlan): string[] {
  const { request } = plan;
  const lines: string[] = [];
  const caCert = join(request.paths.ca, CA_FILES.cert);
  if (plan.ca.action === 'create') lines.push(`create local CA ${caCert} (RSA ${request.bits}, ${CA_DAYS} days): ${plan.ca.reason}`);
  if (plan.ca.action === 'keep') lines.push(`keep local CA ${caCert}: ${plan.ca.reason}`);
  const fullchain = join(request.paths.certs, SERVER_FILES.fullchain);
  if (plan.server.action === 'issue') {
    const signer = request.mode === 'ca' ? 'signed by the local CA' : 'self-signed';
    lines.push(`issue ${fullchain} for ${sanStrings(request.sans).join(', ')} (RSA ${request.bits}, ${request.days} days, ${signer}): ${plan.server.reason}`);
  } else {
    lines.push(`keep ${fullchain}: ${plan.server.reason}`);
  }
  return lines;
}
