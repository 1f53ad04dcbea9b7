import { createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { StatePaths } from '../paths.js';
import { certificateSans, daysLeft, distinguishedName, expiryDate, readCertificate } from './inspect.js';
import { CA_FILES, SERVER_FILES } from './plan.js';

export interface CertStatus {
  /** Path relative to STATE_DIR, e.g. certs/fullchain.pem (the metric's `file` label). */
  file: string;
  subject: string;
  issuer: string;
  sans: string[];
  expires: Date;
  daysLeft: number;
  problems: string[];
}

/** Every certificate generate-certs or certbot leaves in STATE_DIR, leaf first. */
export function certificateFiles(paths: StatePaths): string[] {
  return [
    join(paths.certs, SERVER_FILES.fullchain),
    join(paths.certs, SERVER_FILES.chain),
    join(paths.certs, SERVER_FILES.ca),
    join(paths.ca, CA_FILES.cert),
  ].filter((path) => existsSync(path));
}

export function inspectCertificates(paths: StatePaths, warnDays: number, now = new Date()): CertStatus[] {
  return certificateFiles(paths).map((path) => {
    const cert = readCertificate(path);
    if (!cert) throw new Error(`${path} vanished while being read`);
    const left = daysLeft(cert, now);
    const problems: string[] = [];
    if (left < 0) problems.push('expired');
    else if (left < warnDays) problems.push(`expires in ${left} days (under ${warnDays})`);
    if (path.endsWith(SERVER_FILES.fullchain)) {
      const keyPath = join(paths.certs, SERVER_FILES.privkey);
      if (!existsSync(keyPath)) problems.push(`${SERVER_FILES.privkey} is missing`);
      else if (!cert.checkPrivateKey(createPrivateKey(readFileSync(keyPath)))) problems.push(`${SERVER_FILES.privkey} does not match`);
    }
    return {
      file: relative(paths.root, path),
      subject: distinguishedName(cert.subject),
      issuer: distinguishedName(cert.issuer),
      sans: certificateSans(cert),
      expires: expiryDate(cert),
      daysLeft: left,
      problems,
    };
  });
}

export function formatStatus(status: CertStatus): string {
  const state = status.problems.length > 0 ? `PROBLEM: ${status.problems.join('; ')}` : 'ok';
  return [
    `${status.file}: ${state}`,
    `  subject: ${status.subject}`,
    `  issuer:  ${status.issuer}`,
    `  SANs:    ${status.sans.join(', ') || '(none)'}`,
    `  expires: ${status.expires.toISOString()} (${status.daysLeft} days left)`,
  ].join('\n');
}
