import { defineCli } from '../../cli.js';
import { int } from '../kinds.js';

export const SPEC = defineCli({
  name: 'check-certs.ts',
  summary:
    'Show subject, SANs, issuer and days left of every certificate in STATE_DIR (certs/ and ca/), and write their expiry to the node_exporter textfile folder (healthmate_certificates.prom). Exit 1 when one expires within --warn-days or the key does not match.',
  dryRun: true,
  options: {
    'warn-days': { kind: int(0, 3650, 'days'), default: '21', description: 'fail when a certificate has fewer days left' },
  },
  examples: ['npx tsx scripts/check-certs.ts --env prod', 'npx tsx scripts/check-certs.ts --env dev --warn-days 60'],
});
