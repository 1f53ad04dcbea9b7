import { join } from 'node:path';
import { writeFileAtomic } from '../fs-atomic.js';
import type { CertStatus } from './report.js';

export const CERT_METRICS_FILE = 'healthmate_certificates.prom';
const METRIC = 'healthmate_certificate_expiry_timestamp_seconds';

function labelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** node_exporter textfile format; no timestamps (the collector stamps scrapes). */
export function certificateMetrics(statuses: CertStatus[]): string {
  const lines = [`# HELP ${METRIC} When the certificate stops being valid (notAfter), as a Unix time.`, `# TYPE ${METRIC} gauge`];
  for (const s of statuses) {
    lines.push(`${METRIC}{file="${labelValue(s.file)}",subject="${labelValue(s.subject)}"} ${Math.floor(s.expires.getTime() / 1000)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Written beside, then renamed: node_exporter never reads half a file. */
export function writeCertificateMetrics(textfileDir: string, statuses: CertStatus[]): string {
  const path = join(textfileDir, CERT_METRICS_FILE);
  writeFileAtomic(path, certificateMetrics(statuses), 0o644);
  return path;
}
