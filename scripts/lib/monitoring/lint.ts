import { resolve } from 'node:path';
import { type LintProblem, lintRuleFile } from './alert-lint.js';
import { metricCatalog } from './catalog.js';
import { lintDashboard } from './dashboard-lint.js';
import { runbookAnchors } from './runbooks.js';
import { dashboardFilesIn, ruleFilesIn } from './validate.js';

/** The two static lints: rules (names, annotations, runbooks, metrics) and dashboards. */
export function lintMonitoring(monitoringDir: string, runbookFile: string, relativeTo = resolve(monitoringDir, '..')): LintProblem[] {
  const rules = ruleFilesIn(monitoringDir);
  const catalog = metricCatalog(monitoringDir, rules);
  const anchors = runbookAnchors(runbookFile);
  const name = (path: string): string => path.slice(relativeTo.length + 1);
  return [
    ...rules.flatMap((file) => lintRuleFile(file, catalog, anchors, name(file))),
    ...dashboardFilesIn(monitoringDir).flatMap((file) => lintDashboard(file, catalog, name(file))),
  ];
}
