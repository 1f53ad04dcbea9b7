import { existsSync } from 'node:fs';
/** Steps 3-6: render, check, certificates (also in a dry run) and the pre-migration backup. */
import { join, resolve } from 'node:path';
import { VALIDATORS } from '../check/registry.js';
import { formatReport, runValidators } from '../check/runner.js';
import { inspectContainers, serviceContainers } from '../containers.js';
import { withStandInSecrets } from '../env/stand-in.js';
import { BadInputError, OperationError } from '../errors.js';
import { log, registeredSecrets } from '../log.js';
import { DIST_DIR, distBundleDir } from '../paths.js';
import { listBundle, planHostBundles, refuseToReplace, writeBundles } from '../render/bundle.js';
import { certificateStatus, WARN_DAYS } from './certs.js';
import { runScript } from './commands.js';
import type { DeployContext } from './context.js';
import { onEngine } from './hosts.js';
import { storeRelease } from './releases.js';
// Every area's template derivers, registered with render.
import '../derivers.js';

/**
 * Renders every host's bundle into dist/<env> (what backup-db.ts --compose and
 * the docs use) and keeps a copy as releases/<id>; in a dry run into a temp
 * folder only, with stand-in secrets (it is only checked). Returns the release.
 */
export function render(ctx: DeployContext, scratch: string): string {
  if (ctx.dryRun) {
    // The dry run refuses the dist/<env> the real run would refuse to replace.
    refuseToReplace(distBundleDir(ctx.plan.env.name));
    return writeBundles(planHostBundles(withStandInSecrets(ctx.plan.env)), scratch);
  }
  writeBundles(planHostBundles(ctx.plan.env), resolve(DIST_DIR));
  return storeRelease(distBundleDir(ctx.plan.env.name), ctx.paths.deploy, ctx.plan.releaseId);
}

/**
 * Every validator on each host's bundle; the tools run in the images the stack
 * will run, through that host's engine. A dry run whose engine cannot be
 * reached falls back to the local tools with a warning (a real run stopped at
 * the engine probe already).
 */
export async function check(ctx: DeployContext, releaseDir: string): Promise<void> {
  for (const target of ctx.plan.hosts) {
    const bundleDir = join(releaseDir, target.folder);
    const reachable = ctx.engines.find((e) => e.target.host.name === target.host.name)?.version !== undefined;
    const inImage = !ctx.dryRun || reachable;
    const where = ctx.plan.hosts.length > 1 ? `host ${target.host.name}'s ` : '';
    if (!inImage) log.warn(`no Docker engine: the dry run checks ${where}bundle with the local tools; a real deploy runs them in the images of the stack.`);
    const report = await onEngine(target, () =>
      runValidators({ bundleDir, env: ctx.plan.env, files: listBundle(bundleDir), secretValues: registeredSecrets() }, VALIDATORS, {
        inImage,
        strict: inImage,
        skip: new Set(ctx.input.skipChecks),
      }),
    );
    if (report.errors > 0 || report.warnings > 0) log.info(`${where ? `${where}bundle: ` : ''}${formatReport(report)}`);
    const failed = report.errors - report.cannotRun.length;
    if (failed > 0)
      throw new BadInputError(`the rendered ${where}bundle fails check with ${report.errors} errors (listed above); nothing was started or stopped.`);
    if (report.cannotRun.length > 0)
      throw new OperationError(
        `the ${where}bundle check could not run ${report.cannotRun.join(', ')} (see above); nothing was started or stopped.`,
        `fix the cause, or deploy without it: ${report.cannotRun.map((name) => `--skip-check ${name}`).join(' ')} (recorded in the audit log)`,
      );
  }
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

/** The pre-migration dump, through the first db host's engine (ctx acts on it). */
export async function backup(ctx: DeployContext): Promise<void> {
  const postgres = await inspectContainers(await serviceContainers(ctx.plan.env.values.COMPOSE_PROJECT_NAME, 'postgres'));
  if (!postgres.some((c) => c.status === 'running')) {
    log.info('  PostgreSQL is not running yet (first deploy): nothing to back up.');
    return;
  }
  // An offsite outage must not block a deploy; the next scheduled run copies this dump too.
  await runScript(ctx, 'backup-db.ts', ['--compose', '--no-offsite']);
}
