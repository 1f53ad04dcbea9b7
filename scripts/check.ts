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
  const { listBundle, planBundle, writeBundle } = await import('./lib/render/bundle.js');
  let env = envFromCli(args, 'plan');
  // --bundle is a bundle of this env already (its option kind checked it).
  let bundleDir = args.values.bundle;
  let scratch: TempDir | undefined;
  if (bundleDir === undefined) {
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
});
