import { readFileSync } from 'node:fs';
import type { LintProblem } from './alert-lint.js';
import type { MetricCatalog } from './catalog.js';
import { parsePromql } from './promql.js';

interface Panel {
  id?: number;
  type?: string;
  title?: string;
  datasource?: { uid?: string };
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: { expr?: string; refId?: string; datasource?: { uid?: string } }[];
  panels?: Panel[];
}

interface Dashboard {
  uid?: string;
  title?: string;
  templating?: { list?: { name?: string; type?: string }[] };
  panels?: Panel[];
}

// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template.
const DATASOURCE_REF = '${datasource}';
const RATE_FUNCTIONS = /\b(rate|irate|increase)\s*\(/;

function allPanels(panels: Panel[] = []): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels)]);
}

/**
 * Static checks of a Grafana dashboard (Grafana itself is not available here):
 * fixed uid, a datasource variable every query uses, units, queries that parse
 * as PromQL, name only known metrics and use $__rate_interval in rate().
 */
export function lintDashboard(file: string, catalog: MetricCatalog, displayName = file): LintProblem[] {
  const problems: LintProblem[] = [];
  const add = (message: string): void => {
    problems.push({ file: displayName, message });
  };
  let dashboard: Dashboard;
  try {
    dashboard = JSON.parse(readFileSync(file, 'utf8')) as Dashboard;
  } catch (error) {
    return [{ file: displayName, message: `invalid JSON: ${error instanceof Error ? error.message : String(error)}` }];
  }
  if (!dashboard.uid || !/^[a-z0-9-]{1,40}$/.test(dashboard.uid)) add('needs a fixed uid (lowercase, at most 40 characters).');
  if (!dashboard.title) add('needs a title.');
  if (!dashboard.templating?.list?.some((v) => v.name === 'datasource' && v.type === 'datasource'))
    add('needs a template variable "datasource" of type datasource.');
  for (const panel of allPanels(dashboard.panels)) {
    if (panel.type === 'row') continue;
    const where = `panel "${panel.title ?? panel.id ?? '?'}"`;
    if (!panel.title) add(`${where}: needs a title.`);
    if (panel.datasource?.uid !== DATASOURCE_REF) add(`${where}: datasource uid must be ${DATASOURCE_REF}.`);
    if (!panel.fieldConfig?.defaults?.unit) add(`${where}: set a unit (fieldConfig.defaults.unit).`);
    if (!panel.targets?.length) add(`${where}: has no query.`);
    for (const target of panel.targets ?? []) {
      const query = `${where} query ${target.refId ?? '?'}`;
      if (target.datasource && target.datasource.uid !== DATASOURCE_REF) add(`${query}: datasource uid must be ${DATASOURCE_REF}.`);
      const expr = target.expr ?? '';
      const parsed = parsePromql(expr);
      for (const error of parsed.errors) add(`${query}: does not parse as PromQL: ${error}.`);
      for (const metric of parsed.metrics) {
        if (!catalog.names.has(metric)) add(`${query}: metric ${metric} is not in metrics-contract.yml, exporter-metrics.yml or a recording rule.`);
      }
      if (RATE_FUNCTIONS.test(expr) && parsed.ranges.some((r) => r !== '$__rate_interval'))
        add(`${query}: use [$__rate_interval] in rate()/increase(), not a fixed range.`);
    }
  }
  return problems;
}
