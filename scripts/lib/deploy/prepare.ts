import { existsSync } from 'node:fs';
/** Steps 3-6: render, check, certificates (also in a dry run) and the pre-migration backup. */
import { join, resolve } from 'node:path';
import { VALIDATORS } from '../check/registry.js';
import { formatReport, runValidators } from '../check/runner.js';
import { withStandInSecrets } from '../env/stand-in.js';
import { BadInputError, OperationError } from '../errors.js';
import { log, registeredSecrets } from '../log.js';
import { listBundle, planBundle, refuseToReplace, writeBundle } from '../render/bundle.js';
import { certificateStatus, WARN_DAYS } from './certs.js';
import { runScript } from './commands.js';
import type { DeployContext } from './context.js';
import { engineVersion, inspectContainers, serviceContainers } from './docker.js';
import { storeRelease } from './releases.js';
// Every area's template derivers, registered with render.
import '../derivers.js';

/**
 * Renders into dist/<env> (what backup-db.ts --compose and the docs use) and
 * keeps a copy as releases/<id>; in a dry run into a temp folder only, with
 * stand-in secrets (it is only checked).
 */
export function render(ctx: DeployContext, scratch: string): string {
  if (ctx.dryRun) {
    // The dry run refuses the dist/<env> the real run would refuse to replace.
    refuseToReplace(resolve('dist', ctx.plan.env.name));
    return writeBundle(planBundle(withStandInSecrets(ctx.plan.env)), scratch);
  }
  const bundle = planBundle(ctx.plan.env);
  writeBundle(bundle, resolve('dist'));
  return storeRelease(resolve('dist', ctx.plan.env.name), ctx.paths.deploy, ctx.plan.releaseId);
}

/**
 * Every validator; the tools run in the images the stack will run, through
 * the deploy's engine. A dry run that cannot reach the engine falls back to
 * the local tools with a warning (the real run stops at the engine probe).
 */
export async function check(ctx: DeployContext, bundleDir: string): Promise<void> {
  const inImage = !ctx.dryRun || (await engineVersion()) !== undefined;
  if (!inImage) log.warn('no Docker engine: the dry run checks with the local tools; a real deploy runs them in the images of the stack.');
  const report = await runValidators({ bundleDir, env: ctx.plan.env, files: listBundle(bundleDir), secretValues: registeredSecrets() }, VALIDATORS, {
    inImage,
    strict: inImage,
    skip: new Set(ctx.input.skipChecks),
  });
  if (report.errors > 0 || report.warnings > 0) log.info(formatReport(report));
  const failed = report.errors - report.cannotRun.length;
  if (failed > 0) throw new BadInputError(`the rendered bundle fails check with ${report.errors} errors (listed above); nothing was started or stopped.`);
  if (report.cannotRun.length > 0)
    throw new OperationError(
      `the bundle check could not run ${report.cannotRun.join(', ')} (see above); nothing was started or stopped.`,
      `fix the cause, or deploy without it: ${report.cannotRun.map((name) => `--skip-check ${name}`).join(' ')} (recorded in the audit log)`,
    );
}

/**
 * pgBackRest's mutual-TLS certificates (STATE_DIR/pgbackrest/tls) and the cluster's (STATE_DIR/cluster:
 * etcd and Patroni per db host): issued by the local CA when missing or expiring, else kept.
 */
async function ensurePgbackrestCertificates(ctx: DeployContext): Promise<void> {
  if (ctx.dryRun) return;
  if (!existsSync(join(ctx.paths.ca, 'ca.pem'))) await runScript(ctx, 'generate-certs.ts', ['--mode', 'ca']);
  await runScript(ctx, 'generate-certs.ts', ['--profile', 'pgbackrest']);
  await runScript(ctx, 'generate-certs.ts', ['--profile', 'cluster']);
}

export async function ensureCertificates(ctx: DeployContext): Promise<void> {
  await ensureNginxCertificate(ctx);
  await ensurePgbackrestCertificates(ctx);
}

async function ensureNginxCertificate(ctx: DeployContext): Promise<void> {
  const status = certificateStatus(ctx.paths);
  const describe =
    status.state === 'ok' || status.state === 'expiring'
      ? `${status.subject}, ${status.daysLeft} days left`
      : status.state === 'unreadable'
        ? status.reason
        : 'missing';
  if (status.state === 'ok') {
    log.info(`  certificate ${join(ctx.paths.certs, 'fullchain.pem')}: ${describe}`);
    if (!ctx.dryRun) await runScript(ctx, 'check-certs.ts', ['--warn-days', String(WARN_DAYS)]);
    return;
  }
  const renewable = status.state === 'missing' || (status.state === 'expiring' && status.localCa);
  if (!renewable) {
    throw new BadInputError(
      `the certificate in ${ctx.paths.certs} is ${describe}; it is not from the local CA, so the deploy cannot renew it.`,
      'renew it with certbot (docs/edge.md) or remove it to fall back to the local CA',
    );
  }
  log.warn(
    `certificate ${describe}: ${ctx.dryRun ? 'the deploy would generate' : 'generating'} one signed by the local CA (clients must trust ${join(ctx.paths.certs, 'ca.pem')}; use certbot for a public one).`,
  );
  if (ctx.dryRun) return;
  await runScript(ctx, 'generate-certs.ts', ['--mode', 'ca', ...(status.state === 'expiring' ? ['--force'] : [])]);
  await runScript(ctx, 'check-certs.ts', ['--warn-days', String(WARN_DAYS)]);
}

export async function backup(ctx: DeployContext): Promise<void> {
  const postgres = await inspectContainers(await serviceContainers(ctx.plan.env.values.COMPOSE_PROJECT_NAME, 'postgres'));
  if (!postgres.some((c) => c.status === 'running')) {
    log.info('  PostgreSQL is not running yet (first deploy): nothing to back up.');
    return;
  }
  // An offsite outage must not block a deploy; the next scheduled run copies this dump too.
  await runScript(ctx, 'backup-db.ts', ['--compose', '--no-offsite']);
}
