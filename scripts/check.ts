import { resolve } from 'node:path';
import type { TempDir } from './lib/cleanup.js';
import { runCli } from './lib/cli.js';
import { BadInputError, OperationError } from './lib/errors.js';
import { log, registeredSecrets } from './lib/log.js';

await runCli(
  {
    name: 'check.ts',
    summary:
      'Render the env (or read an existing bundle) and run every validator: syntax, placeholders, secret leaks, nginx -t, promtool, amtool, compose config, Kubernetes schemas, dashboards. A promtool rule test that passed before on the same promtool and files is not run again (HEALTHMATE_CHECK_CACHE=off runs all).',
    options: {
      bundle: { type: 'string', value: '<dir>', description: 'check this rendered bundle instead of rendering now' },
    },
    examples: ['npx tsx scripts/check.ts --env prod --env-file .env.example', 'npx tsx scripts/check.ts --env prod --bundle dist/prod'],
  },
  async (args) => {
    // Every area's template derivers, registered with render.
    await import('./lib/derivers.js');
    const { formatReport, runValidators } = await import('./lib/check/runner.js');
    const { privateTempDir } = await import('./lib/cleanup.js');
    const { withStandInSecrets } = await import('./lib/env/stand-in.js');
    const { envFromCli } = await import('./lib/env/from-cli.js');
    const { listBundle, planBundle, writeBundle } = await import('./lib/render/bundle.js');
    const { checkBundleFolder } = await import('./lib/render/bundle-env.js');
    let env = envFromCli(args, 'plan');
    let bundleDir: string;
    let scratch: TempDir | undefined;
    if (typeof args.values.bundle === 'string') {
      bundleDir = resolve(args.values.bundle);
      checkBundleFolder(bundleDir, args.values.bundle, env.name);
      try {
        listBundle(bundleDir);
      } catch {
        throw new BadInputError(`bundle folder ${args.values.bundle} cannot be read.`, 'render one with scripts/render.ts first');
      }
    } else {
      // The validators need secret files of the right shape, not the real ones: no real secret reaches the disk.
      const bundle = planBundle(withStandInSecrets(env));
      scratch = privateTempDir('healthmate-check-');
      bundleDir = writeBundle(bundle, scratch.path);
      env = bundle.env;
    }
    try {
      const report = await runValidators({ bundleDir, env, files: listBundle(bundleDir), secretValues: registeredSecrets() });
      // The env's own warnings (printed above) count in the summary too.
      log.out(formatReport(report, env.warnings.length));
      if (report.errors > 0) throw new OperationError(`check found ${report.errors} problems.`);
    } finally {
      scratch?.remove();
    }
  },
);
