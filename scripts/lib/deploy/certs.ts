import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StatePaths } from '../paths.js';

export const WARN_DAYS = 21;

export type CertStatus =
  | { state: 'missing' }
  | { state: 'unreadable'; reason: string }
  | { state: 'ok' | 'expiring'; daysLeft: number; subject: string; localCa: boolean };

/**
 * Reads the server certificate nginx will mount (read-only: the dry run uses
 * it too). `localCa` says whether generate-certs.ts can renew it (its CA key
 * is kept in the ca/ folder); otherwise it came from ACME or an operator.
 */
export function certificateStatus(paths: StatePaths, now = new Date()): CertStatus {
  const chain = join(paths.certs, 'fullchain.pem');
  if (!existsSync(chain) || !existsSync(join(paths.certs, 'privkey.pem'))) return { state: 'missing' };
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(chain));
  } catch (error) {
    return { state: 'unreadable', reason: error instanceof Error ? error.message : String(error) };
  }
  const daysLeft = Math.floor((new Date(cert.validTo).getTime() - now.getTime()) / 86_400_000);
  return {
    state: daysLeft < WARN_DAYS ? 'expiring' : 'ok',
    daysLeft,
    subject: cert.subject.replace(/\n/g, ', '),
    localCa: existsSync(join(paths.ca, 'ca.key')),
  };
}
