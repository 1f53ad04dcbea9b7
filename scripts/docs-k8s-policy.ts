import { SPEC } from './lib/cli/specs/docs-k8s-policy.js';
import { runCli } from './lib/cli.js';
import { writeFileAtomic } from './lib/fs-atomic.js';
import { log } from './lib/log.js';

await runCli(SPEC, async (args) => {
  // The rule list loads here, not for --help.
  const { POLICY_DOCS, policyDocsText } = await import('./lib/k8s/policy-docs.js');
  const text = policyDocsText();
  if (args.dryRun) {
    log.out(text);
    return;
  }
  writeFileAtomic(POLICY_DOCS, text);
  log.info(`wrote ${POLICY_DOCS}`);
});
