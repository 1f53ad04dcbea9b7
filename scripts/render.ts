import { resolve } from 'node:path';
import { SPEC } from './lib/cli/specs/render.js';
import { runCli } from './lib/cli.js';
import { OperationError } from './lib/errors.js';
import { log } from './lib/log.js';

await runCli(SPEC, async (args) => {
  // Every area's template derivers, registered with render.
  await import('./lib/derivers.js');
  const { envFromCli } = await import('./lib/env/from-cli.js');
  const { bundleDrift, planBundle, relativeToCwd, writeBundle } = await import('./lib/render/bundle.js');
  const env = envFromCli(args, 'plan');
  const outRoot = args.values.out;
  const bundle = planBundle(env);
  const target = resolve(outRoot, env.name);
  if (args.values.check) {
    const drift = bundleDrift(bundle, target);
    for (const d of drift) log.out(`${d.change}: ${d.path}`);
    if (drift.length > 0)
      throw new OperationError(`${relativeToCwd(target)} differs from a fresh render in ${drift.length} files.`, 'run render.ts again to update it');
    log.info(`${relativeToCwd(target)} matches a fresh render (${bundle.files.length} files).`);
    return;
  }
  if (args.dryRun) {
    for (const file of bundle.files) log.out(`would write ${relativeToCwd(resolve(target, file.path))} (${file.mode.toString(8)})`);
    return;
  }
  const dir = writeBundle(bundle, outRoot);
  log.info(`rendered ${bundle.files.length} files into ${relativeToCwd(dir)}`);
});
