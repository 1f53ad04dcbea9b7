import { readFileSync } from 'node:fs';
import { isMap, isSeq, LineCounter, parseDocument, type YAMLMap } from 'yaml';
import type { MetricCatalog } from './catalog.js';
import { parsePromql } from './promql.js';
import { RUNBOOK_URL_PREFIX } from './runbooks.js';

export interface LintProblem {
  file: string;
  line?: number;
  message: string;
}

const ALERT_NAME = /^([A-Z]+[a-z0-9]+)+$/;
const SEVERITIES = ['critical', 'warning', 'info'];
const MAX_NAME_LENGTH = 40;

interface RuleEntry {
  rule: Record<string, unknown>;
  line: number;
}

function rulesOf(file: string, text: string): { entries: RuleEntry[]; problems: LintProblem[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  if (doc.errors.length > 0) return { entries: [], problems: [{ file, message: `invalid YAML: ${doc.errors[0]?.message.split('\n')[0]}` }] };
  const entries: RuleEntry[] = [];
  const groups = doc.get('groups');
  if (!isSeq(groups)) return { entries, problems: [{ file, message: 'has no groups: list.' }] };
  for (const group of groups.items) {
    const rules = isMap(group) ? group.get('rules') : undefined;
    if (!isSeq(rules)) continue;
    for (const node of rules.items) {
      if (!isMap(node)) continue;
      const line = lineCounter.linePos((node as YAMLMap).range?.[0] ?? 0).line;
      entries.push({ rule: (node as YAMLMap).toJSON() as Record<string, unknown>, line });
    }
  }
  return { entries, problems: [] };
}

/**
 * mixtool-style lint of alerting and recording rules: names, severity, summary,
 * description, runbook links that resolve, PromQL that parses and names only
 * known metrics.
 */
export function lintRuleFile(file: string, catalog: MetricCatalog, runbookAnchors: Set<string>, displayName = file): LintProblem[] {
  const { entries, problems } = rulesOf(displayName, readFileSync(file, 'utf8'));
  for (const { rule, line } of entries) {
    const at = (message: string): void => {
      problems.push({ file: displayName, line, message });
    };
    const name = String(rule.alert ?? rule.record ?? '?');
    const expr = typeof rule.expr === 'string' ? rule.expr : '';
    const parsed = parsePromql(expr);
    for (const error of parsed.errors) at(`${name}: expr does not parse: ${error}.`);
    for (const metric of parsed.metrics) {
      if (!catalog.names.has(metric)) at(`${name}: metric ${metric} is not in metrics-contract.yml, exporter-metrics.yml or a recording rule.`);
    }
    if (rule.alert === undefined) continue;
    if (!ALERT_NAME.test(name) || name.length > MAX_NAME_LENGTH) at(`alert ${name}: name must be CamelCase and at most ${MAX_NAME_LENGTH} characters.`);
    const labels = (rule.labels ?? {}) as Record<string, string>;
    const annotations = (rule.annotations ?? {}) as Record<string, string>;
    if (!SEVERITIES.includes(labels.severity ?? '')) at(`alert ${name}: labels.severity must be one of ${SEVERITIES.join(', ')}.`);
    const summary = annotations.summary;
    if (!summary) at(`alert ${name}: annotations.summary is missing.`);
    else if (summary.includes('{{') || !/^[A-Z]/.test(summary) || !summary.endsWith('.'))
      at(`alert ${name}: summary must be a plain sentence: capital first, ending with a period, no templates.`);
    const description = annotations.description;
    if (!description) at(`alert ${name}: annotations.description is missing.`);
    else if (!description.includes('{{')) at(`alert ${name}: description must template a value or label ({{ $value }}, {{ $labels.x }}).`);
    const runbook = annotations.runbook_url;
    if (!runbook) at(`alert ${name}: annotations.runbook_url is missing.`);
    else if (!runbook.startsWith(RUNBOOK_URL_PREFIX)) at(`alert ${name}: runbook_url must start with ${RUNBOOK_URL_PREFIX}.`);
    else if (!runbookAnchors.has(runbook.slice(RUNBOOK_URL_PREFIX.length)))
      at(`alert ${name}: runbook_url points to #${runbook.slice(RUNBOOK_URL_PREFIX.length)}, which is not a heading in docs/runbooks.md.`);
  }
  return problems;
}
