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
 * missing the runner fails under CI=true and warns otherwise (check.ts), and
 * the deploy stops unless --skip-check names the tool.
 */
export interface Validator {
  name: string;
  run(ctx: CheckContext): Promise<Problem[]> | Problem[];
  /** Local tools run() needs (the names --skip-check accepts for it). */
  tools?: string[];
  /**
   * The same checks run by the tool inside the image the stack will run: what
   * the deploy uses instead of run(), so it needs only Docker and checks with
   * the exact versions it deploys.
   */
  inImage?: ImageCheck[];
}

/**
 * One tool run inside a service's image, through the deploy's engine
 * (DOCKER_HOST): `docker create` with the service's image and the bundle
 * copied in where compose mounts it, `docker cp`, `docker start -a`.
 */
export interface ImageCheck {
  /** The name --skip-check takes and the audit log records. */
  name: string;
  /** What the report shows, e.g. "promtool check config prometheus.yml". */
  label: string;
  /** The compose service whose image and mounts the check borrows. */
  service: string;
  /** The image the plan names, when it is not the service's *_IMAGE variable (a service the deploy builds). */
  planImage?(env: LoadedEnv): string;
  /** Overrides the image's entrypoint (a tool beside the daemon, e.g. /bin/promtool). */
  entrypoint?: string;
  /** Arguments inside the container; a function when they depend on the bundle. */
  args: string[] | ((ctx: CheckContext) => string[]);
  /** How the plan shows args that are a function. */
  shownArgs?: string[];
  workdir?: string;
  /** Extra files in the container, absolute path → content (never a secret). */
  files?(ctx: CheckContext): Record<string, string> | Promise<Record<string, string>>;
  /** Extra empty folders (tmpfs mounts in compose). */
  dirs?: string[];
  /** Whether the bundle needs this check (e.g. only when it has blackbox.yml). */
  when?(ctx: CheckContext): boolean;
}

export function error(message: string, file?: string, line?: number): Problem {
  return { message, severity: 'error', ...(file ? { file } : {}), ...(line ? { line } : {}) };
}

export function warning(message: string, file?: string, line?: number): Problem {
  return { message, severity: 'warning', ...(file ? { file } : {}), ...(line ? { line } : {}) };
}
