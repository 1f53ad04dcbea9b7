import type { LoadedEnv } from '../env/load.js';
import { deriveStatePaths } from '../paths.js';
import { deriveBackup } from './derivers/backup.js';
import { deriveEdge } from './derivers/edge.js';
import { deriveK8s } from './derivers/k8s.js';
import { deriveMonitoring } from './derivers/monitoring.js';
import { deriveStack } from './derivers/stack.js';

/**
 * Values computed from the env for templates, and secret files built from
 * several secrets (a connection URL, a PGPASSFILE). Names are upper case like
 * env variables; each area owns its deriver in ./derivers.
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

export const DERIVERS: Deriver[] = [general, deriveStatePaths, deriveEdge, deriveMonitoring, deriveBackup, deriveStack, deriveK8s];
