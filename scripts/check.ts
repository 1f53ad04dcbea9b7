import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SPEC } from './lib/cli/specs/check.js';
import { runCli } from './lib/cli.js';
import { OperationError } from './lib/errors.js';
import { log, registeredSecrets } from './lib/log.js';

await runCli(SPEC, async (args) => {
  // Every area's template derivers, registered with render.
  await import('./lib/derivers.js');
  const { formatReport, runValidators } = await import('./lib/check/runner.js');
  const { addCleanup } = await import('./lib/cleanup.js');
  const { envFromCli } = await import('./lib/env/from-cli.js');
  const { listBundle, planBundle, writeBundle } = await import('./lib/render/bundle.js');
  const env = envFromCli(args, 'plan');
  let bundleDir = args.values.bundle;
  let scratch: string | undefined;
  if (bundleDir === undefined) {
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
});
