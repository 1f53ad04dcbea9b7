import { runCli } from './lib/cli.js';
import { writeFileAtomic } from './lib/fs-atomic.js';
import { POLICY_DOCS, policyDocsText } from './lib/k8s/policy-docs.js';
import { log } from './lib/log.js';

await runCli(
  {
    name: 'docs-k8s-policy.ts',
    summary: 'Regenerate the Kubernetes policy rules table in docs/kubernetes.md from the rule list (scripts/lib/k8s/policy/).',
    envOptions: false,
    dryRun: true,
  },
  async (args) => {
    const text = policyDocsText();
    if (args.dryRun) {
      log.out(text);
      return;
    }
    writeFileAtomic(POLICY_DOCS, text);
    log.info(`wrote ${POLICY_DOCS}`);
  },
);
