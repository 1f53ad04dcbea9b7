import { findTool } from '../../scripts/lib/tools.js';

/**
 * Path of a real tool the test needs. A missing tool fails the test (in CI and
 * locally alike) with the command that installs it; tests never skip silently.
 */
export function needTool(name: string): string {
  const path = findTool(name);
  if (!path) throw new Error(`${name} is not installed: run \`npm run setup\` (Debian packages in .ci/apt-packages.txt).`);
  return path;
}
