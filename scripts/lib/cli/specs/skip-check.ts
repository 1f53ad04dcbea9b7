import type { OptionSpec } from '../../cli.js';
import { oneOfLoaded } from '../kinds.js';

/** --skip-check of the deploy scripts: a name the check step knows (the validators load only when it is given). */
export function skipCheckOption(description: string): OptionSpec<string> & { multiple: true } {
  return {
    kind: oneOfLoaded('<name>', 'check', async () => (await import('../../check/runner.js')).checkNames()),
    multiple: true,
    description,
  };
}
