import type { LoadedEnv } from '../env/load.js';

/**
 * Values computed from the env for templates, and secret files built from
 * several secrets (a connection URL, a PGPASSFILE). Each area adds its
 * deriver to DERIVERS; names are upper case like env variables.
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

export const DERIVERS: Deriver[] = [general];
