import { error, type Problem } from '../../check/types.js';
import type { LoadedEnv } from '../../env/load.js';
import { describe, type LoadedObject } from '../manifests.js';
import { HEALTHMATE_RULES } from './healthmate.js';
import { KUBE_LINTER_RULES, MONITOR_RULES } from './kube-linter.js';
import { KUBE_SCORE_RULES } from './kube-score.js';
import { Manifests, type PolicyContext, type Rule, type RuleOrigin } from './model.js';
import { POLARIS_RULES } from './polaris.js';

export { REQUIRED_FLOWS } from './healthmate.js';
export type { PolicyContext, Rule, RuleOrigin } from './model.js';
export { Manifests } from './model.js';

/**
 * The policy rules, one module per origin: the default checks of kube-score,
 * Polaris and kube-linter, then HealthMate's own. docs/kubernetes.md's table
 * is generated from this list (npm run docs:k8s-policy).
 * An object may break a rule on purpose only by naming the rule in the
 * annotation healthmate.io/policy-exempt AND giving a reason in
 * healthmate.io/policy-exempt-reason.
 */
export const RULES: Rule[] = [...KUBE_SCORE_RULES, ...POLARIS_RULES, ...KUBE_LINTER_RULES, ...MONITOR_RULES, ...HEALTHMATE_RULES];

export const EXEMPT_ANNOTATION = 'healthmate.io/policy-exempt';
export const EXEMPT_REASON_ANNOTATION = 'healthmate.io/policy-exempt-reason';

function exemptions(o: LoadedObject): { ids: Set<string>; reason?: string } {
  const annotations = o.object.metadata?.annotations ?? {};
  const ids = new Set(
    (annotations[EXEMPT_ANNOTATION] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  const reason = annotations[EXEMPT_REASON_ANNOTATION]?.trim();
  return reason ? { ids, reason } : { ids };
}

export function policyContext(env: LoadedEnv): PolicyContext {
  const v = env.values;
  return {
    namespace: v.K8S_NAMESPACE,
    ingressNamespace: v.K8S_INGRESS_NAMESPACE,
    monitoringNamespace: v.K8S_MONITORING_NAMESPACE,
    cnpgNamespace: v.K8S_CNPG_NAMESPACE,
    capacity: { poolSize: v.DB_POOL_SIZE, maxOverflow: v.DB_MAX_OVERFLOW, workerConnections: v.WORKER_DB_CONNECTIONS },
  };
}

/** Runs every rule; findings on an object that exempts the rule (with a reason) are dropped. */
export function checkPolicy(objects: LoadedObject[], ctx: PolicyContext): Problem[] {
  const all = new Manifests(objects);
  const problems: Problem[] = [];
  const known = new Set(RULES.map((r) => r.id));
  for (const o of objects) {
    const { ids, reason } = exemptions(o);
    for (const id of ids) if (!known.has(id)) problems.push(error(`${describe(o)} exempts unknown policy rule "${id}".`, o.file, o.line));
    if (ids.size > 0 && !reason) problems.push(error(`${describe(o)} exempts policy rules without ${EXEMPT_REASON_ANNOTATION}.`, o.file, o.line));
  }
  for (const rule of RULES) {
    for (const finding of rule.check(all, ctx)) {
      const { ids, reason } = exemptions(finding.on);
      if (ids.has(rule.id) && reason) continue;
      problems.push(error(`[${rule.id}] ${describe(finding.on)}: ${finding.message}`, finding.on.file, finding.on.line));
    }
  }
  return problems;
}

const ORIGINS: RuleOrigin[] = ['kube-score', 'Polaris', 'kube-linter', 'HealthMate'];

/** The Markdown that docs/kubernetes.md holds between the policy-rules markers: a count per origin and one row per rule. */
export function policyRulesMarkdown(): string {
  const cell = (text: string) => text.replaceAll('|', '\\|');
  const counts = ORIGINS.map((o) => `${RULES.filter((r) => r.origin === o).length} ${o === 'HealthMate' ? "of HealthMate's own" : `from ${o}`}`);
  return [
    `${RULES.length} rules: ${counts.join(', ')}. A rule's origin is the tool whose default check it is (the first one named when several tools have it); "HealthMate" rules encode our own requirements, not a default check of the three tools.`,
    '',
    '| Rule | Origin | What it requires | Encodes |',
    '| --- | --- | --- | --- |',
    ...RULES.map((r) => `| \`${r.id}\` | ${r.origin} | ${cell(r.description)} | ${cell(r.encodes)} |`),
  ].join('\n');
}
