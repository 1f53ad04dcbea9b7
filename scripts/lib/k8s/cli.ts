import { resolve } from 'node:path';
import { privateTempDir } from '../cleanup.js';
import type { CliArgs } from '../cli.js';
import { envFromCli } from '../env/from-cli.js';
import { BadInputError } from '../errors.js';
import { listBundle, planBundle, writeBundle } from '../render/bundle.js';
import { deployK8s, resolveContext } from './deploy.js';
// Every area's template derivers, registered with render.
import '../derivers.js';

export { K8S_CLI_OPTIONS } from './options.js';

/**
 * The whole Kubernetes deploy from parsed CLI arguments: load the env, check
 * the context, render into a private temp folder (or use --bundle), then
 * deployK8s. Entry point for deploy-k8s.ts and deploy-prod.ts --target k8s.
 */
export async function runDeployK8s(args: CliArgs): Promise<void> {
  const env = envFromCli(args, 'apply');
  const context = resolveContext(typeof args.values.context === 'string' ? args.values.context : env.values.K8S_CONTEXT);
  let bundleDir: string;
  if (typeof args.values.bundle === 'string') {
    bundleDir = resolve(args.values.bundle);
    try {
      listBundle(bundleDir);
    } catch {
      throw new BadInputError(`bundle folder ${args.values.bundle} cannot be read; render one with scripts/render.ts or drop --bundle.`);
    }
  } else {
    const bundle = planBundle(env);
    bundleDir = writeBundle(bundle, privateTempDir('healthmate-k8s-').path);
  }
  await deployK8s({ env, bundleDir, context, dryRun: args.dryRun });
}
