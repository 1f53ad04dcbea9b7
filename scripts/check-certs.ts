import { SPEC } from './lib/cli/specs/check-certs.js';
import { runCli } from './lib/cli.js';
import { OperationError } from './lib/errors.js';
import { log } from './lib/log.js';

await runCli(SPEC, async (args) => {
  const { writeCertificateMetrics } = await import('./lib/certs/metrics.js');
  const { SERVER_FILES } = await import('./lib/certs/plan.js');
  const { formatStatus, inspectCertificates } = await import('./lib/certs/report.js');
  const { envFromCli } = await import('./lib/env/from-cli.js');
  const { statePaths } = await import('./lib/paths.js');
  const env = envFromCli(args, 'plan');
  const paths = statePaths(env);
  const statuses = inspectCertificates(paths, args.values['warn-days']);
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
});
