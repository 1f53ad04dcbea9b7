import { SPEC } from './lib/cli/specs/generate-certs.js';
import { type CliArgs, runCli } from './lib/cli.js';
import { log } from './lib/log.js';

type Args = CliArgs<NonNullable<(typeof SPEC)['options']>>;

/** Installs a certificate obtained elsewhere (certbot) where nginx reads it. */
async function importCertificate(args: Args, from: string): Promise<void> {
  const { applyImport, describeImport, planImport } = await import('./lib/certs/import.js');
  const { envFromCli } = await import('./lib/env/from-cli.js');
  const { statePaths } = await import('./lib/paths.js');
  const env = envFromCli(args, 'apply');
  const paths = statePaths(env);
  const plan = planImport(from, env.values.DOMAIN, paths);
  await carryOut([describeImport(plan, paths)], args.dryRun, async () => applyImport(plan, paths));
}

/**
 * Certificates of a profile, all signed by the local CA: the two pgBackRest hosts
 * (mutual TLS), or the PostgreSQL cluster (etcd and Patroni per db host).
 */
async function profileCertificates(args: Args, profile: 'pgbackrest' | 'cluster'): Promise<void> {
  const { envFromCli } = await import('./lib/env/from-cli.js');
  const { statePaths } = await import('./lib/paths.js');
  const env = envFromCli(args, 'apply');
  const options = { extraSans: args.values.san, bits: args.values.bits, days: args.values.days, force: args.values.force };
  if (profile === 'pgbackrest') {
    const { applyPgbackrestCerts, describePgbackrestPlan, planPgbackrestCerts } = await import('./lib/certs/pgbackrest.js');
    const { pgbackrestDbNames } = await import('./lib/pgbackrest/layout.js');
    const plan = planPgbackrestCerts({
      paths: statePaths(env),
      hosts: { db: env.values.PGBACKREST_DB_HOST, repo: env.values.PGBACKREST_REPO_HOST },
      dbNames: pgbackrestDbNames(env),
      ...options,
    });
    await carryOut(describePgbackrestPlan(plan), args.dryRun, () => applyPgbackrestCerts(plan));
    return;
  }
  const { applyClusterCerts, clusterCertRequest, describeClusterPlan, planClusterCerts } = await import('./lib/certs/cluster.js');
  const plan = planClusterCerts(clusterCertRequest(env, options));
  await carryOut(describeClusterPlan(plan), args.dryRun, () => applyClusterCerts(plan));
}

/** Prints a plan's steps (all a dry run does), or applies it and names what it wrote. */
async function carryOut(steps: string[], dryRun: boolean, apply: () => Promise<string[]>): Promise<void> {
  if (dryRun) {
    for (const step of steps) log.out(`would ${step}`);
    return;
  }
  for (const step of steps) log.info(step);
  const written = await apply();
  for (const file of written) log.out(`wrote ${file}`);
  if (written.length === 0) log.out('certificates unchanged');
}

await runCli(SPEC, async (args) => {
  const { profile } = args.values;
  if (profile === 'pgbackrest' || profile === 'cluster') {
    await profileCertificates(args, profile);
    return;
  }
  const { mode, from } = args.values;
  if (mode === 'import') {
    await importCertificate(args, from as string);
    return;
  }
  const { applyCertPlan } = await import('./lib/certs/apply.js');
  const { describePlan, planCertificates, wantedSans } = await import('./lib/certs/plan.js');
  const { envFromCli } = await import('./lib/env/from-cli.js');
  const { statePaths } = await import('./lib/paths.js');
  const env = envFromCli(args, 'apply');
  const plan = planCertificates({
    mode,
    commonName: env.values.DOMAIN,
    sans: wantedSans(env, args.values.san),
    bits: args.values.bits,
    days: args.values.days,
    force: args.values.force,
    paths: statePaths(env),
    envName: env.name,
  });
  await carryOut(describePlan(plan), args.dryRun, () => applyCertPlan(plan));
});
