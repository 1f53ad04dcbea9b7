import { privateTempDir } from '../cleanup.js';
import type { EnvArgs } from '../cli.js';
import { envFromCli } from '../env/from-cli.js';
import { planBundle, writeBundle } from '../render/bundle.js';
import { deployK8s, resolveContext } from './deploy.js';
// Every area's template derivers, registered with render.
import '../derivers.js';

/**
 * The whole Kubernetes deploy from the checked command line: load the env,
 * check the context, render into a private temp folder (or use --bundle, a
 * bundle of this env), then deployK8s. Entry point for deploy-k8s.ts and
 * deploy-prod.ts --target k8s.
 */
export async function runDeployK8s(args: EnvArgs, options: { context?: string | undefined; bundle?: string | undefined }): Promise<void> {
  const env = envFromCli(args, 'apply');
  const context = resolveContext(options.context ?? env.values.K8S_CONTEXT);
  let bundleDir = options.bundle;
  if (bundleDir === undefined) {
    const bundle = planBundle(env);
    bundleDir = writeBundle(bundle, privateTempDir('healthmate-k8s-').path);
  }
  await deployK8s({ env, bundleDir, context, dryRun: args.dryRun });
}
