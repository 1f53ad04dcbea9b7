import { join } from 'node:path';
import { lintMonitoring, MONITORING_DIR, runToolCheck, stageUnitTests, toolChecks } from '../../monitoring/validate.js';
import { repoRoot } from '../../render/bundle.js';
import { error, type Problem, type Validator } from '../types.js';

/** promtool check config/rules, promtool test rules, amtool check-config and blackbox --config.check on the bundle. */
const monitoringToolsValidator: Validator = {
  name: 'promtool, amtool and blackbox config checks',
  async run({ bundleDir }) {
    const monitoringDir = join(bundleDir, MONITORING_DIR);
    const staged = stageUnitTests(monitoringDir, join(repoRoot(), MONITORING_DIR));
    try {
      const problems: Problem[] = [];
      for (const check of toolChecks(monitoringDir, staged.dir)) {
        const result = await runToolCheck(check);
        if (!result.ok) problems.push(error(`${check.label} failed:\n${result.output}`, MONITORING_DIR));
      }
      return problems;
    } finally {
      staged.cleanup();
    }
  },
};

/** Alert rule lint (mixtool rules, runbook links) and dashboard lint (PromQL, metrics, units). */
const monitoringLintValidator: Validator = {
  name: 'alert rules and dashboards lint',
  run({ bundleDir }) {
    return lintMonitoring(join(bundleDir, MONITORING_DIR), join(repoRoot(), 'docs', 'runbooks.md'), bundleDir).map((p) => error(p.message, p.file, p.line));
  },
};

export const monitoringValidators: Validator[] = [monitoringToolsValidator, monitoringLintValidator];
