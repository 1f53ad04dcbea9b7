import { type CertMode, DEFAULT_BITS, DEFAULT_DAYS, describePlan, parseSan, planCertificates, wantedSans } from './lib/certs/plan.js';
import { type CliArgs, runCli } from './lib/cli.js';
import { BadInputError } from './lib/errors.js';
import { log } from './lib/log.js';

/** Installs a certificate obtained elsewhere (certbot) where nginx reads it. */
async function importCertificate(args: CliArgs, from: string): Promise<void> {
  const { applyImport, describeImport, planImport } = await import('./lib/certs/import.js');
  const { envFromCli } = await import('./lib/env/from-cli.js');
  const { statePaths } = await import('./lib/paths.js');
  const env = envFromCli(args, 'apply');
  const paths = statePaths(env);
  const plan = planImport(from, env.values.DOMAIN, paths);
  const step = describeImport(plan, paths);
  if (args.dryRun) {
    log.out(`would ${step}`);
    return;
  }
  log.info(step);
  const written = applyImport(plan, paths);
  for (const file of written) log.out(`wrote ${file}`);
  if (written.length === 0) log.out('certificates unchanged');
}

/**
 * Certificates of a profile, all signed by the local CA: the two pgBackRest hosts
 * (mutual TLS), or the PostgreSQL cluster (etcd and Patroni per db host).
 */
async function profileCertificates(args: CliArgs, profile: 'pgbackrest' | 'cluster'): Promise<void> {
  const { envFromCli } = await import('./lib/env/from-cli.js');
  const { statePaths } = await import('./lib/paths.js');
  const env = envFromCli(args, 'apply');
  const options = {
    extraSans: ((args.values.san as string[] | undefined) ?? []).map(parseSan),
    bits: wholeNumber(args.values.bits, '--bits', 2048, 8192, DEFAULT_BITS),
    days: wholeNumber(args.values.days, '--days', 1, 825, DEFAULT_DAYS),
    force: args.values.force === true,
  };
  let steps: string[];
  let apply: () => Promise<string[]>;
  if (profile === 'pgbackrest') {
    const { applyPgbackrestCerts, describePgbackrestPlan, planPgbackrestCerts } = await import('./lib/certs/pgbackrest.js');
    const { pgbackrestDbNames } = await import('./lib/pgbackrest/layout.js');
    const plan = planPgbackrestCerts({
      paths: statePaths(env),
      hosts: { db: env.values.PGBACKREST_DB_HOST, repo: env.values.PGBACKREST_REPO_HOST },
      dbNames: pgbackrestDbNames(env),
      ...options,
    });
    steps = describePgbackrestPlan(plan);
    apply = () => applyPgbackrestCerts(plan);
  } else {
    const { applyClusterCerts, clusterCertRequest, describeClusterPlan, planClusterCerts } = await import('./lib/certs/cluster.js');
    const plan = planClusterCerts(clusterCertRequest(env, options));
    steps = describeClusterPlan(plan);
    apply = () => applyClusterCerts(plan);
  }
  if (args.dryRun) {
    for (const step of steps) log.out(`would ${step}`);
    return;
  }
  for (const step of steps) log.info(step);
  const written = await apply();
  for (const file of written) log.out(`wrote ${file}`);
  if (written.length === 0) log.out('certificates unchanged');
}

function wholeNumber(raw: unknown, flag: string, min: number, max: number, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(String(raw)) || value < min || value > max) throw new BadInputError(`${flag} must be a whole number from ${min} to ${max}, not "${raw}".`);
  return value;
}

await runCli(
  {
    name: 'generate-certs.ts',
    summary:
      "Create the TLS certificate nginx serves (STATE_DIR/certs: fullchain.pem, privkey.pem, chain.pem, ca.pem). `--mode ca` keeps a local CA in STATE_DIR/ca (never mounted) and signs with it; `--mode self-signed` makes a single self-signed certificate. `--mode import --from DIR` installs a certificate obtained elsewhere (certbot) after checking it. Idempotent: a valid certificate with the same SANs is kept. For Let's Encrypt see docs/edge.md; the cluster's TLS: docs/ha.md.",
    dryRun: true,
    options: {
      mode: {
        type: 'string',
        value: '<ca|self-signed|import>',
        description: 'who signs the server certificate (default ca); import installs one from --from',
      },
      from: { type: 'string', value: '<dir>', description: "with --mode import: folder holding fullchain.pem and privkey.pem (certbot's live/<domain>)" },
      san: {
        type: 'string',
        multiple: true,
        value: '<name|ip>',
        description: 'extra subject alternative name, DNS name or IP (repeatable); DOMAIN is always included',
      },
      bits: { type: 'string', value: '<n>', description: `RSA key size (default ${DEFAULT_BITS})` },
      days: { type: 'string', value: '<n>', description: `server certificate validity in days (default ${DEFAULT_DAYS})` },
      force: { type: 'boolean', description: 'issue a new server certificate even if the current one is fine (the CA is kept)' },
      profile: {
        type: 'string',
        value: '<server|pgbackrest|cluster>',
        description:
          'server (default): the nginx certificate; pgbackrest: one server+client certificate per pgBackRest host (CN PGBACKREST_DB_HOST / PGBACKREST_REPO_HOST) in STATE_DIR/pgbackrest/tls/{db,repo}; cluster: per db host of the inventory an etcd and a Patroni/PostgreSQL certificate in STATE_DIR/cluster/tls/<host>/{etcd,postgres}, and the CA alone in STATE_DIR/cluster/ca; all signed by the local CA',
      },
    },
    examples: [
      'npx tsx scripts/generate-certs.ts --env dev --mode self-signed',
      'npx tsx scripts/generate-certs.ts --env prod --mode ca --san api.internal.example.org --dry-run',
      'npx tsx scripts/generate-certs.ts --env prod --mode import --from /var/lib/healthmate/letsencrypt/live/api.example.org',
      'npx tsx scripts/generate-certs.ts --env prod --profile pgbackrest',
      'npx tsx scripts/generate-certs.ts --env prod --profile cluster --dry-run',
    ],
  },
  async (args) => {
    const { applyCertPlan } = await import('./lib/certs/apply.js');
    const { envFromCli } = await import('./lib/env/from-cli.js');
    const { statePaths } = await import('./lib/paths.js');
    const profile = args.values.profile ?? 'server';
    if (profile !== 'server' && profile !== 'pgbackrest' && profile !== 'cluster')
      throw new BadInputError(`--profile must be server, pgbackrest or cluster, not "${String(profile)}".`);
    if (profile === 'pgbackrest' || profile === 'cluster') {
      if (args.values.mode !== undefined || args.values.from !== undefined)
        throw new BadInputError(`--profile ${profile} always signs with the local CA; drop --mode and --from.`);
      await profileCertificates(args, profile);
      return;
    }
    const mode = args.values.mode ?? 'ca';
    if (!['ca', 'self-signed', 'import'].includes(String(mode))) throw new BadInputError(`--mode must be ca, self-signed or import, not "${String(mode)}".`);
    if ((mode === 'import') !== (typeof args.values.from === 'string')) throw new BadInputError('--from <dir> goes with --mode import, and only with it.');
    if (mode === 'import') {
      await importCertificate(args, String(args.values.from));
      return;
    }
    const bits = wholeNumber(args.values.bits, '--bits', 2048, 8192, DEFAULT_BITS);
    const days = wholeNumber(args.values.days, '--days', 1, 825, DEFAULT_DAYS);
    const env = envFromCli(args, 'apply');
    const plan = planCertificates({
      mode: mode as CertMode,
      commonName: env.values.DOMAIN,
      sans: wantedSans(env, (args.values.san as string[] | undefined) ?? []),
      bits,
      days,
      force: args.values.force === true,
      paths: statePaths(env),
      envName: env.name,
    });
    const steps = describePlan(plan);
    if (args.dryRun) {
      for (const step of steps) log.out(`would ${step}`);
      return;
    }
    for (const step of steps) log.info(step);
    const written = await applyCertPlan(plan);
    for (const file of written) log.out(`wrote ${file}`);
    if (written.length === 0) log.out('certificates unchanged');
  },
);
