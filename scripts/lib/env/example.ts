import { SCHEMA_SECTIONS } from './schema.js';
import { defaultFor, type VarSpec } from './spec.js';

/** Placeholder written for secrets: valid for a dry run, refused by a real prod deploy. */
export const EXAMPLE_SECRET = 'changeme-generate-with-init-env';

/**
 * The text of .env.example, generated from the schema. Variables that prod
 * requires are set (secrets to a placeholder); the rest are shown commented
 * out with their per-env defaults.
 */
export function envExampleText(): string {
  const out = [
    '# HealthMate deploy settings. Generated from scripts/lib/env/vars by `npm run env:example`: do not edit by hand.',
    '# Copy to .env.prod or .env.dev, or better: `npx tsx scripts/init-env.ts --env prod` fills every secret with a random value.',
    '# Precedence: --set NAME=value > process environment > env file > default.',
    '# Secrets are never rendered into configs: they reach containers as files under dist/<env>/secrets/.',
    '',
  ];
  out.push(...INVENTORY_EXAMPLE, '');
  for (const section of SCHEMA_SECTIONS) {
    out.push(`# ---- ${section.title} ----`, '');
    for (const [name, spec] of Object.entries(section.vars) as [string, VarSpec][]) {
      out.push(`# ${spec.description}`);
      const dev = defaultFor(spec, 'dev');
      const prod = defaultFor(spec, 'prod');
      const kind = spec.secret ? 'secret' : spec.type;
      out.push(`# type: ${kind}; default: dev ${show(dev, spec)}, prod ${show(prod, spec)}`);
      if (prod === undefined) out.push(`${name}=${spec.secret ? EXAMPLE_SECRET : exampleValue(name, spec)}`);
      else out.push(`# ${name}=${prod}`);
      out.push('');
    }
  }
  return out.join('\n');
}

/** The HOST_ lines (scripts/lib/env/inventory.ts), commented out: without them the deployment is one host. */
const INVENTORY_EXAMPLE = [
  '# ---- Hosts (production) ----',
  '',
  '# One line per host: HOST_<NAME>=engine=<ssh://[user@]host[:port] | local> roles=<db,app> [address=<private IP or DNS name>].',
  '# db: a Patroni member and an etcd member; app: nginx, backend, workers, HAProxy, Redis, monitoring.',
  '# address: where the other hosts reach its cluster ports (required with several hosts). Use 1 or 3 db hosts (etcd quorum; docs/ha.md).',
  '# Without HOST_ lines the deployment is one host, main, with both roles on the local engine (or DOCKER_HOST).',
  '# HOST_DB1=engine=ssh://deploy@db1.internal roles=db,app address=10.0.0.11',
  '# HOST_DB2=engine=ssh://deploy@db2.internal roles=db,app address=10.0.0.12',
  '# HOST_DB3=engine=ssh://deploy@db3.internal roles=db address=10.0.0.13',
];

function show(value: string | undefined, spec: VarSpec): string {
  if (value === undefined) return 'required';
  return spec.secret ? '(dev-only value)' : JSON.stringify(value);
}

function exampleValue(name: string, spec: VarSpec): string {
  if (spec.example === undefined) throw new Error(`${name} is required in prod but has no \`example\` in its VarSpec`);
  return spec.example;
}
