import { join } from 'node:path';
import type { TempDir } from './lib/cleanup.js';
import { SPEC } from './lib/cli/specs/check.js';
import { runCli } from './lib/cli.js';
import { OperationError } from './lib/errors.js';
import { log, registeredSecrets } from './lib/log.js';

await runCli(SPEC, async (args) => {
  // Every area's template derivers, registered with render.
  await import('./lib/derivers.js');
  const { formatReport, runValidators } = await import('./lib/check/runner.js');
  const { privateTempDir } = await import('./lib/cleanup.js');
  const { withStandInSecrets } = await import('./lib/env/stand-in.js');
  const { envFromCli } = await import('./lib/env/from-cli.js');
  const { listBundle, planHostBundles, writeBundles } = await import('./lib/render/bundle.js');
  let env = envFromCli(args, 'plan');
  // --bundle is one host's bundle of this env already (its option kind checked it).
  let bundles = args.values.bundle === undefined ? [] : [{ name: '', dir: args.values.bundle }];
  let scratch: TempDir | undefined;
  if (args.values.bundle === undefined) {
    // Every host's bundle. The validators need secret files of the right shape, not the real ones: no real secret reaches the disk.
    env = withStandInSecrets(env);
    const planned = planHostBundles(env);
    scratch = privateTempDir('healthmate-check-');
    const root = writeBundles(planned, scratch.path);
    bundles = planned.map((b) => ({ name: planned.length > 1 ? b.host.name : '', dir: join(root, b.folder) }));
  }
  try {
    let errors = 0;
    for (const { name, dir } of bundles) {
      if (name) log.out(`host ${name}:`);
      const report = await runValidators({ bundleDir: dir, env, files: listBundle(dir), secretValues: registeredSecrets() });
      // The env's own warnings (printed above) count in the summary too.
      log.out(formatReport(report, env.warnings.length));
      errors += report.errors;
    }
    if (errors > 0) throw new OperationError(`check found ${errors} problems${bundles.length > 1 ? ` in the bundles of ${bundles.length} hosts` : ''}.`);
  } finally {
    scratch?.remove();
  }
});
