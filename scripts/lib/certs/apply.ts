import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BadInputError } from '../errors.js';
import { writeFileAtomic } from '../fs-atomic.js';
import { CA_DAYS, CA_FILES, type CertPlan, SERVER_FILES } from './plan.js';
import { buildCaCertificate, buildServerCertificate, generateRsaKey } from './x509.js';

/** Creates `dir` (with `mode`) and proves a file can be written there, before anything is generated. */
export function ensureWritableFolder(dir: string, mode: number): void {
  const probe = join(dir, `.write-test-${process.pid}`);
  try {
    // Only the last folder gets the restrictive mode, not STATE_DIR itself.
    mkdirSync(dirname(dir), { recursive: true });
    mkdirSync(dir, { recursive: true, mode });
    chmodSync(dir, mode);
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new BadInputError(
      `certificate folder ${dir} is not writable (${code}); nothing was changed.`,
      'fix its permissions or point STATE_DIR at a writable folder',
    );
  }
}

/** Carries out a plan from planCertificates. Keys are 0600; the CA folder is 0700. */
export async function applyCertPlan(plan: CertPlan): Promise<string[]> {
  const { request } = plan;
  const { paths } = request;
  const written: string[] = [];
  if (plan.ca.action === 'create') ensureWritableFolder(paths.ca, 0o700);
  if (plan.server.action === 'issue') ensureWritableFolder(paths.certs, 0o755);

  const caCertPath = join(paths.ca, CA_FILES.cert);
  const caKeyPath = join(paths.ca, CA_FILES.key);
  if (plan.ca.action === 'create') {
    const keys = await generateRsaKey(request.bits);
    const certPem = buildCaCertificate(keys, `HealthMate ${request.envName} local CA`, CA_DAYS);
    writeFileAtomic(caKeyPath, keys.privateKeyPem, 0o600);
    writeFileAtomic(caCertPath, certPem, 0o644);
    written.push(caKeyPath, caCertPath);
  }

  if (plan.server.action === 'issue') {
    const keys = await generateRsaKey(request.bits);
    const ca = request.mode === 'ca' ? { certPem: readFileSync(caCertPath, 'utf8'), privateKeyPem: readFileSync(caKeyPath, 'utf8') } : undefined;
    const certPem = buildServerCertificate({ keys, commonName: request.commonName, sans: request.sans, days: request.days, ...(ca ? { ca } : {}) });
    // The certificate clients trust: the CA, or the certificate itself when self-signed.
    const trustPem = ca ? ca.certPem : certPem;
    // Key first, certificate right after: the pair mismatches only between two renames.
    const files: [string, string, number][] = [
      [SERVER_FILES.privkey, keys.privateKeyPem, 0o600],
      [SERVER_FILES.fullchain, certPem, 0o644],
      [SERVER_FILES.chain, trustPem, 0o644],
      [SERVER_FILES.ca, trustPem, 0o644],
    ];
    for (const [name, content, mode] of files) {
      writeFileAtomic(join(paths.certs, name), content, mode);
      written.push(join(paths.certs, name));
    }
  }
  return written;
}
