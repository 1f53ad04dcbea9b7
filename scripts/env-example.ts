import { SPEC } from './lib/cli/specs/env-example.js';
import { runCli } from './lib/cli.js';
import { log } from './lib/log.js';

await runCli(SPEC, async (args) => {
  const { envExampleText } = await import('./lib/env/example.js');
  const { writeFileAtomic } = await import('./lib/fs-atomic.js');
  if (args.dryRun) {
    log.out(envExampleText());
    return;
  }
  writeFileAtomic('.env.example', envExampleText());
  log.info('wrote .env.example');
});
