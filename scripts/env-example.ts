import { runCli } from './lib/cli.js';
import { log } from './lib/log.js';

await runCli(
  {
    name: 'env-example.ts',
    summary: 'Regenerate .env.example from the env schema (scripts/lib/env/vars).',
    envOptions: false,
    dryRun: true,
  },
  async (args) => {
    const { envExampleText } = await import('./lib/env/example.js');
    const { writeFileAtomic } = await import('./lib/fs-atomic.js');
    if (args.dryRun) {
      log.out(envExampleText());
      return;
    }
    writeFileAtomic('.env.example', envExampleText());
    log.info('wrote .env.example');
  },
);
