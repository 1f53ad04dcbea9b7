import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

// Debian puts daemons such as nginx in sbin, which a non-login PATH may lack.
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Absolute path of an executable on PATH (plus the sbin folders), or undefined. */
export function findTool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...EXTRA_DIRS];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function isCI(): boolean {
  return process.env.CI === 'true' || process.env.CI === '1';
}

export class ToolMissingError extends Error {
  constructor(readonly tool: string) {
    super(`${tool} is not installed; run \`npm run setup\` (installs the Debian packages in .ci/apt-packages.txt).`);
    this.name = 'ToolMissingError';
  }
}

/** The tool's path; throws ToolMissingError when it is absent. */
export function requireTool(name: string): string {
  const path = findTool(name);
  if (!path) throw new ToolMissingError(name);
  return path;
}
