import type { LoadedEnv } from '../env/load.js';

/**
 * Values computed from the env for templates, and secret files built from
 * several secrets (a connection URL, a PGPASSFILE). Names are upper case like
 * env variables.
 */
export interface Derived {
  values?: Record<string, string | number | boolean>;
  /** secrets/<name> → content; never rendered into a config. */
  secretFiles?: Record<string, string>;
}

export type Deriver = (env: LoadedEnv) => Derived;

const general: Deriver = (env) => ({
  values: { ENV_NAME: env.name },
});

/**
 * Render knows no area: each area hands its deriver over here, the way
 * validators register with check/ (scripts/lib/derivers.ts registers them all).
 */
const registry: { area: string; derive: Deriver }[] = [];

export function registerDeriver(area: string, derive: Deriver): void {
  if (!registry.some((r) => r.area === area)) registry.push({ area, derive });
}

/** The general deriver, then every registered area's, in registration order. */
export function derivers(): Deriver[] {
  if (registry.length === 0) throw new Error('no area has registered its template derivers: import scripts/lib/derivers.ts before rendering.');
  return [general, ...registry.map((r) => r.derive)];
}
