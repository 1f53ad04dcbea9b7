import { runCli } from './lib/cli.js';
import { envExampleText } from './lib/env/example.js';
import { writeFileAtomic } from './lib/fs-atomic.js';
import { log } from './lib/log.js';

await runCli(
  {
    name: 'env-example.ts',
    summary: 'Regenerate .env.example from the env schema (scripts/lib/env/vars).',
    envOptions: false,
    dryRun: true,
  },
  async (args) => {
    if (args.dryRun) {
      log.out(envExampleText());
      return;
    }
    writeFileAtomic('.env.example', envExampleText());
    log.info('wrote .env.example');
  },
);
