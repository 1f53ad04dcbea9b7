import { spawnSync } from 'node:child_process';

/** An engine the harness talks to: its environment names it (DOCKER_HOST). */
export interface Engine {
  env: NodeJS.ProcessEnv;
}

/** Runs docker against the given engine only; throws with its output on failure. */
export function docker(engine: Engine, args: string[], input?: string): string {
  const result = spawnSync('docker', args, { env: engine.env, encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`docker ${args.join(' ')} failed (exit ${result.status}): ${result.stderr.trim()}`);
  return result.stdout;
}

/** docker without throwing, for probes. */
export function dockerProbe(engine: Engine, args: string[]): { code: number; stdout: string; stderr: string } {
  const result = spawnSync('docker', args, { env: engine.env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { code: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}
