import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { needTool } from './tools.js';

/**
 * A PATH of one folder holding links to exactly these tools, as on a host with
 * only sh, coreutils and Docker: a script that calls anything else (node, awk,
 * bash) fails there with "not found".
 */
export function reducedPath(dir: string, tools: string[]): string {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true, mode: 0o755 });
  // sh is dash, the strictest common POSIX shell (no bash-isms pass).
  symlinkSync(needTool('dash'), join(bin, 'sh'));
  for (const tool of tools) symlinkSync(needTool(tool), join(bin, tool));
  return bin;
}

/** What up.sh may use besides sh and Docker: coreutils. */
export const COREUTILS = ['sha256sum', 'id', 'date', 'sleep', 'mkdir', 'chown', 'chmod', 'dirname', 'cat', 'timeout'];
