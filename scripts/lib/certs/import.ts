import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BadInputError } from '../errors.js';
import { writeFileAtomic } from '../fs-atomic.js';
import type { StatePaths } from '../paths.js';
import { ensureWritableFolder } from './apply.js';
import { certificateSans, daysLeft, distinguishedName, issuedBy, readCertificate, readPrivateKey } from './inspect.js';
import { SERVER_FILES } from './plan.js';

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g;

/** `DNS:name` matches exactly; `DNS:*.zone` matches one label under zone. */
function covers(san: string, domain: string): boolean {
  if (san === `DNS:${domain}`) return true;
  return san.startsWith('DNS:*.') && domain.split('.').slice(1).join('.') === san.slice('DNS:*.'.length);
}

export interface ImportPlan {
  from: string;
  action: 'install' | 'keep';
  reason: string;
  files: { name: string; content: string; mode: number }[];
}

/**
 * Checks a certificate obtained elsewhere (certbot's live/<domain> folder)
 * before it replaces what nginx serves: the key matches, the name is covered,
 * it is valid, and the chain signs it. Reads only.
 */
export function planImport(from: string, domain: string, paths: StatePaths, now = new Date()): ImportPlan {
  const fullchainPath = join(from, SERVER_FILES.fullchain);
  const keyPath = join(from, SERVER_FILES.privkey);
  const leaf = readCertificate(fullchainPath);
  const key = readPrivateKey(keyPath);
  if (!leaf || !key)
    throw new BadInputError(`--from ${from} must hold ${SERVER_FILES.fullchain} and ${SERVER_FILES.privkey} (certbot's live/<domain> folder).`);
  if (!leaf.checkPrivateKey(key)) throw new BadInputError(`${keyPath} does not match ${fullchainPath}; nothing was changed.`);
  if (!certificateSans(leaf).some((san) => covers(san, domain)))
    throw new BadInputError(
      `${fullchainPath} does not cover DOMAIN ${domain} (its names: ${certificateSans(leaf).join(', ') || 'none'}); nothing was changed.`,
    );
  if (daysLeft(leaf, now) < 0) throw new BadInputError(`${fullchainPath} expired on ${leaf.validTo}; nothing was changed.`);

  const fullchain = readFileSync(fullchainPath, 'utf8');
  const chainPath = join(from, SERVER_FILES.chain);
  // certbot's chain.pem; without one, the intermediates after the leaf in fullchain.pem.
  const chain = existsSync(chainPath) ? readFileSync(chainPath, 'utf8') : (fullchain.match(PEM_BLOCK) ?? []).slice(1).join('');
  const issuerPem = chain.match(PEM_BLOCK)?.[0];
  if (issuerPem && !issuedBy(leaf, new X509Certificate(issuerPem))) {
    throw new BadInputError(`the chain in ${from} did not issue ${fullchainPath}; nothing was changed.`);
  }

  const current = existsSync(join(paths.certs, SERVER_FILES.fullchain)) ? readFileSync(join(paths.certs, SERVER_FILES.fullchain), 'utf8') : undefined;
  const files = [
    { name: SERVER_FILES.privkey, content: readFileSync(keyPath, 'utf8'), mode: 0o600 },
    { name: SERVER_FILES.fullchain, content: fullchain, mode: 0o644 },
    // ca.pem is what local clients (the blackbox probe) trust: the issuing chain, an accepted trust anchor.
    ...(chain
      ? [
          { name: SERVER_FILES.chain, content: chain, mode: 0o644 },
          { name: SERVER_FILES.ca, content: chain, mode: 0o644 },
        ]
      : []),
  ];
  if (current === fullchain) return { from, action: 'keep', reason: 'already installed', files: [] };
  return {
    from,
    action: 'install',
    reason: `${distinguishedName(leaf.subject)} from ${distinguishedName(leaf.issuer)}, ${daysLeft(leaf, now)} days left`,
    files,
  };
}

export function describeImport(plan: ImportPlan, paths: StatePaths): string {
  const target = join(paths.certs, SERVER_FILES.fullchain);
  return plan.action === 'install' ? `install ${plan.from} into ${target}: ${plan.reason}` : `keep ${target}: ${plan.reason}`;
}

/** Key first, certificate right after: each file is swapped in by rename. */
export function applyImport(plan: ImportPlan, paths: StatePaths): string[] {
  if (plan.files.length > 0) ensureWritableFolder(paths.certs, 0o755);
  return plan.files.map((file) => {
    const path = join(paths.certs, file.name);
    writeFileAtomic(path, file.content, file.mode);
    return path;
  });
}
