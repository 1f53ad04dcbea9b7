import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { BadInputError } from '../errors.js';
import type { SubjectAltName } from './x509.js';

const DAY_MS = 86_400_000;

/** The first certificate of a PEM file (the leaf of a fullchain), or undefined when the file is absent. */
export function readCertificate(path: string): X509Certificate | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return new X509Certificate(readFileSync(path));
  } catch {
    throw new BadInputError(`${path} is not a PEM certificate; move it away or replace it with a valid one.`);
  }
}

export function readPrivateKey(path: string): KeyObject | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return createPrivateKey(readFileSync(path));
  } catch {
    throw new BadInputError(`${path} is not a PEM private key; move it away or replace it with a valid one.`);
  }
}

/** SANs as `DNS:name` / `IP:address` strings, sorted, for comparing and printing. */
export function sanStrings(sans: SubjectAltName[]): string[] {
  return sans.map((s) => `${s.type}:${s.value}`).sort();
}

export function certificateSans(cert: X509Certificate): string[] {
  if (!cert.subjectAltName) return [];
  return cert.subjectAltName
    .split(', ')
    .map((entry) => entry.replace(/^IP Address:/, 'IP:'))
    .sort();
}

export function expiryDate(cert: X509Certificate): Date {
  return new Date(cert.validTo);
}

export function daysLeft(cert: X509Certificate, now = new Date()): number {
  return Math.floor((expiryDate(cert).getTime() - now.getTime()) / DAY_MS);
}

/** Whether `issuer` issued and signed `cert`. */
export function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

/** Signed by its own key. (checkIssued would demand keyCertSign, which a server certificate lacks.) */
export function isSelfSigned(cert: X509Certificate): boolean {
  return cert.subject === cert.issuer && cert.verify(cert.publicKey);
}

export function keyBits(cert: X509Certificate): number | undefined {
  return cert.publicKey.asymmetricKeyDetails?.modulusLength;
}

/** One line per field, e.g. `CN=api.example.org, O=HealthMate`. */
export function distinguishedName(text: string): string {
  return text.split('\n').filter(Boolean).join(', ');
}
