import type { LoadedEnv } from '../env/load.js';

export interface Problem {
  /** Bundle-relative path, when the problem is in a file. */
  file?: string;
  line?: number;
  message: string;
  severity: 'error' | 'warning';
}

export interface CheckContext {
  /** Absolute path of the bundle being checked. */
  bundleDir: string;
  env: LoadedEnv;
  /** Every file in the bundle, posix, relative to bundleDir. */
  files: string[];
  /** Values that must never appear outside secrets/. */
  secretValues: string[];
}

/**
 * One validator: a name for the summary and a run function returning problems.
 * A validator that needs an external tool calls requireTool(); when the tool is
 * missing the runner fails under CI=true and warns otherwise.
 */
export interface Validator {
  name: string;
  run(ctx: CheckContext): Promise<Problem[]> | Problem[];
}

export function error(message: string, file?: string, line?: number): Problem {
  return { message, severity: 'error', ...(file ? { file } : {}), ...(line ? { line } : {}) };
}

export function warning(message: string, file?: string, line?: number): Problem {
  return { message, severity: 'warning', ...(file ? { file } : {}), ...(line ? { line } : {}) };
}
