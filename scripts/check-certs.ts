import { runCli } from './lib/cli.js';
import { BadInputError, OperationError } from './lib/errors.js';
import { log } from './lib/log.js';

await runCli(
  {
    name: 'check-certs.ts',
    summary:
      'Show subject, SANs, issuer and days left of every certificate in STATE_DIR (certs/ and ca/), and write their expiry to the node_exporter textfile folder (healthmate_certificates.prom). Exit 1 when one expires within --warn-days or the key does not match.',
    dryRun: true,
    options: {
      'warn-days': { type: 'string', value: '<n>', description: 'fail when a certificate has fewer days left (default 21)' },
    },
    examples: ['npx tsx scripts/check-certs.ts --env prod', 'npx tsx scripts/check-certs.ts --env dev --warn-days 60'],
  },
  async (args) => {
    const { writeCertificateMetrics } = await import('./lib/certs/metrics.js');
    const { SERVER_FILES } = await import('./lib/certs/plan.js');
    const { formatStatus, inspectCertificates } = await import('./lib/certs/report.js');
    const { envFromCli } = await import('./lib/env/from-cli.js');
    const { statePaths } = await import('./lib/paths.js');
    const raw = args.values['warn-days'] ?? '21';
    if (!/^\d+$/.test(String(raw))) throw new BadInputError(`--warn-days must be a whole number of days, not "${raw}".`);
    const env = envFromCli(args, 'plan');
    const paths = statePaths(env);
    const statuses = inspectCertificates(paths, Number(raw));
    for (const status of statuses) log.out(formatStatus(status));
    if (args.dryRun) log.out(`would write ${paths.textfile}/healthmate_certificates.prom`);
    else if (statuses.length > 0) log.info(`wrote ${writeCertificateMetrics(paths.textfile, statuses)}`);
    if (!statuses.some((s) => s.file.endsWith(SERVER_FILES.fullchain))) {
      throw new OperationError(`no server certificate in ${paths.certs}.`, `run npx tsx scripts/generate-certs.ts --env ${env.name}`);
    }
    const bad = statuses.filter((s) => s.problems.length > 0);
    if (bad.length > 0)
      throw new OperationError(
        `${bad.length} certificate(s) need attention: ${bad.map((s) => s.file).join(', ')}.`,
        'renew with generate-certs.ts (local CA) or certbot renew (docs/edge.md)',
      );
  },
);
