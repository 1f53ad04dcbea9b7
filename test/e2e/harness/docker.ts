import { spawnSync } from 'node:child_process';
import type { Dockerd } from './dockerd.js';

/** Runs docker against the private daemon only; throws with its output on failure. */
export function docker(daemon: Dockerd, args: string[], input?: string): string {
  const result = spawnSync('docker', args, { env: daemon.env, encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`docker ${args.join(' ')} failed (exit ${result.status}): ${result.stderr.trim()}`);
  return result.stdout;
}

/** docker without throwing, for probes. */
export function dockerProbe(daemon: Dockerd, args: string[]): { code: number; stdout: string; stderr: string } {
  const result = spawnSync('docker', args, { env: daemon.env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { code: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}
