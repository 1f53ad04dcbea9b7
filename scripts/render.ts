import { resolve } from 'node:path';
import { SPEC } from './lib/cli/specs/render.js';
import { runCli } from './lib/cli.js';
import { OperationError } from './lib/errors.js';
import { log } from './lib/log.js';

await runCli(SPEC, async (args) => {
  // Every area's template derivers, registered with render.
  await import('./lib/derivers.js');
  const { envFromCli } = await import('./lib/env/from-cli.js');
  const { bundleDrift, filesOfHosts, planHostBundles, relativeToCwd, writeBundles } = await import('./lib/render/bundle.js');
  const env = envFromCli(args, 'plan');
  const outRoot = args.values.out;
  // One bundle per host of the inventory: dist/<env> itself for one host, dist/<env>/<host> for each of several.
  const bundles = planHostBundles(env);
  const target = resolve(outRoot, env.name);
  const files = filesOfHosts(bundles);
  if (args.values.check) {
    const drift = bundleDrift({ files }, target);
    for (const d of drift) log.out(`${d.change}: ${d.path}`);
    if (drift.length > 0)
      throw new OperationError(`${relativeToCwd(target)} differs from a fresh render in ${drift.length} files.`, 'run render.ts again to update it');
    log.info(`${relativeToCwd(target)} matches a fresh render (${files.length} files, ${bundles.length} host${bundles.length > 1 ? 's' : ''}).`);
    return;
  }
  if (args.dryRun) {
    for (const { host, folder, bundle } of bundles) {
      log.out(`host ${host.name} (roles ${host.roles.join(', ')}): ${relativeToCwd(resolve(target, folder))}`);
      for (const file of bundle.files) log.out(`  would write ${relativeToCwd(resolve(target, folder, file.path))} (${file.mode.toString(8)})`);
    }
    return;
  }
  const dir = writeBundles(bundles, outRoot);
  for (const { host, folder, bundle } of bundles)
    log.info(`rendered ${bundle.files.length} files for host ${host.name} (roles ${host.roles.join(', ')}) into ${relativeToCwd(resolve(dir, folder))}`);
});
