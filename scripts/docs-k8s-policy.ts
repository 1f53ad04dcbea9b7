import { runCli } from './lib/cli.js';
import { writeFileAtomic } from './lib/fs-atomic.js';
import { log } from './lib/log.js';

await runCli(
  {
    name: 'docs-k8s-policy.ts',
    summary: 'Regenerate the Kubernetes policy rules table in docs/kubernetes.md from the rule list (scripts/lib/k8s/policy/).',
    envOptions: false,
    dryRun: true,
  },
  async (args) => {
    // The rule list loads here, not for --help.
    const { POLICY_DOCS, policyDocsText } = await import('./lib/k8s/policy-docs.js');
    const text = policyDocsText();
    if (args.dryRun) {
      log.out(text);
      return;
    }
    writeFileAtomic(POLICY_DOCS, text);
    log.info(`wrote ${POLICY_DOCS}`);
  },
);
