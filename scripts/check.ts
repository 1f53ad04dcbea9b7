import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
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
    const { addCleanup } = await import('./lib/cleanup.js');
    const { envFromCli } = await import('./lib/env/from-cli.js');
    const { listBundle, planBundle, writeBundle } = await import('./lib/render/bundle.js');
    const { checkBundleFolder } = await import('./lib/render/bundle-env.js');
    const env = envFromCli(args, 'plan');
    let bundleDir: string;
    let scratch: string | undefined;
    if (typeof args.values.bundle === 'string') {
      bundleDir = resolve(args.values.bundle);
      checkBundleFolder(bundleDir, args.values.bundle, env.name);
      try {
        listBundle(bundleDir);
      } catch {
        throw new BadInputError(`bundle folder ${args.values.bundle} cannot be read.`, 'render one with scripts/render.ts first');
      }
    } else {
      const dir = mkdtempSync(join(tmpdir(), 'healthmate-check-'));
      // The temp bundle holds secrets: the registry removes it on Ctrl-C and SIGTERM too.
      addCleanup(() => rmSync(dir, { recursive: true, force: true }));
      scratch = dir;
      bundleDir = writeBundle(planBundle(env), dir);
    }
    try {
      const report = await runValidators({ bundleDir, env, files: listBundle(bundleDir), secretValues: registeredSecrets() });
      // The env's own warnings (printed above) count in the summary too.
      log.out(formatReport(report, env.warnings.length));
      if (report.errors > 0) throw new OperationError(`check found ${report.errors} problems.`);
    } finally {
      if (scratch) rmSync(scratch, { recursive: true, force: true });
    }
  },
);
