import { createHash } from 'node:crypto';
import type { BundleFile } from './bundle.js';

/**
 * SHA256SUMS in coreutils format (`<hex>  <path>`), so `sha256sum -c SHA256SUMS`
 * in the bundle folder proves a copy on a host is exact without Node. Secrets are
 * left out, as in MANIFEST.json: a hash of a weak secret can be brute-forced.
 */
export const CHECKSUMS_FILE = 'SHA256SUMS';

export function sha256(content: string): string {
  return createHash('sha256').update(content).digest('hex');
}

export function checksumsFile(files: BundleFile[]): BundleFile {
  const lines = files
    .filter((f) => !f.secret)
    .sort((a, b) => a.path.localeCompare(b.path))
    .map((f) => `${sha256(f.content)}  ${f.path}`);
  return { path: CHECKSUMS_FILE, content: `${lines.join('\n')}\n`, mode: 0o644, secret: false };
}
