import { generateKeyPair, randomBytes, sign } from 'node:crypto';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import type forge from 'node-forge';

const generateKeyPairAsync = promisify(generateKeyPair);

// node-forge is required on first use: it takes ~40 ms to load, and most
// commands that reach this module (render, check, deploy) never build a certificate.
const requireCjs = createRequire(import.meta.url);
let forgeModule: typeof forge | undefined;
function nodeForge(): typeof forge {
  forgeModule ??= requireCjs('node-forge') as typeof forge;
  return forgeModule;
}
const pki = (): typeof forge.pki => nodeForge().pki;
const asn1 = (): typeof forge.asn1 => nodeForge().asn1;
// Part of node-forge, missing from @types/node-forge.
const getTBSCertificate = (cert: forge.pki.Certificate): forge.asn1.Asn1 =>
  (pki() as unknown as { getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate(cert);

export interface KeyPair {
  /** PKCS#8 PEM. */
  privateKeyPem: string;
  /** SubjectPublicKeyInfo PEM. */
  publicKeyPem: string;
}

export interface SubjectAltName {
  type: 'DNS' | 'IP';
  value: string;
}

/** RSA key through Node's native crypto (OpenSSL): far faster than pure JS. */
export async function generateRsaKey(bits: number): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPairAsync('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** A positive 127-bit serial (RFC 5280: at most 20 octets, unpredictable). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] as number) & 0x7f;
  return bytes.toString('hex');
}

/** SHA-1 of the public key, the usual subject/authority key identifier. */
function keyIdentifier(publicKeyPem: string): string {
  return pki().getPublicKeyFingerprint(pki().publicKeyFromPem(publicKeyPem), { type: 'RSAPublicKey' }).getBytes();
}

const DAY_MS = 86_400_000;
// Backdated a little so a client whose clock runs slow accepts a fresh cert.
const CLOCK_SKEW_MS = 5 * 60_000;

interface Issuer {
  subject: forge.pki.CertificateField[];
  publicKeyPem: string;
  privateKeyPem: string;
}

function newCertificate(publicKeyPem: string, subject: forge.pki.CertificateField[], days: number, now: Date): forge.pki.Certificate {
  const cert = pki().createCertificate();
  cert.publicKey = pki().publicKeyFromPem(publicKeyPem);
  cert.serialNumber = randomSerial();
  cert.validity.notBefore = new Date(now.getTime() - CLOCK_SKEW_MS);
  cert.validity.notAfter = new Date(now.getTime() + days * DAY_MS);
  cert.setSubject(subject);
  return cert;
}

/** Signs with SHA-256/RSA through native crypto, as forge's cert.sign would, only faster. */
function signCertificate(cert: forge.pki.Certificate, issuer: Issuer): string {
  cert.setIssuer(issuer.subject);
  const oid = pki().oids.sha256WithRSAEncryption as string;
  cert.signatureOid = oid;
  cert.siginfo.algorithmOid = oid;
  const tbs = getTBSCertificate(cert);
  (cert as unknown as { tbsCertificate: forge.asn1.Asn1 }).tbsCertificate = tbs;
  const data = Buffer.from(asn1().toDer(tbs).getBytes(), 'binary');
  cert.signature = sign('sha256', data, issuer.privateKeyPem).toString('binary');
  return pki().certificateToPem(cert);
}

export function subjectFields(commonName: string, organization = 'HealthMate'): forge.pki.CertificateField[] {
  return [
    { name: 'commonName', value: commonName },
    { name: 'organizationName', value: organization },
  ];
}

/** A local certificate authority: signs server certificates, nothing else. */
export function buildCaCertificate(keys: KeyPair, commonName: string, days: number, now = new Date()): string {
  const subject = subjectFields(commonName);
  const cert = newCertificate(keys.publicKeyPem, subject, days, now);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    // forge derives the identifier from the certificate's public key.
    { name: 'subjectKeyIdentifier' },
  ]);
  return signCertificate(cert, { subject, ...keys });
}

export interface ServerCertOptions {
  keys: KeyPair;
  commonName: string;
  sans: SubjectAltName[];
  days: number;
  /** The signing CA; absent for a self-signed certificate. */
  ca?: { certPem: string; privateKeyPem: string };
  now?: Date;
  /** What the key may authenticate: a TLS server (default), and also a TLS client (mutual TLS peers such as pgBackRest). */
  profile?: CertProfile;
}

/** `server`: serverAuth only (nginx). `peer`: serverAuth and clientAuth, for hosts that both serve and dial with one certificate. */
export type CertProfile = 'server' | 'peer';

/** A TLS server (or peer) certificate: SANs as the names that count. */
export function buildServerCertificate(options: ServerCertOptions): string {
  const { keys, commonName, sans, days, ca } = options;
  const subject = subjectFields(commonName);
  const cert = newCertificate(keys.publicKeyPem, subject, days, options.now ?? new Date());
  const caCert = ca ? pki().certificateFromPem(ca.certPem) : undefined;
  const issuerKeyPem = caCert ? pki().publicKeyToPem(caCert.publicKey as forge.pki.rsa.PublicKey) : keys.publicKeyPem;
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, ...(options.profile === 'peer' ? { clientAuth: true } : {}) },
    { name: 'subjectAltName', altNames: sans.map((san) => (san.type === 'IP' ? { type: 7, ip: san.value } : { type: 2, value: san.value })) },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: keyIdentifier(issuerKeyPem) },
  ]);
  const issuer: Issuer = caCert
    ? { subject: caCert.subject.attributes, publicKeyPem: issuerKeyPem, privateKeyPem: (ca as { privateKeyPem: string }).privateKeyPem }
    : { subject, ...keys };
  return signCertificate(cert, issuer);
}
