import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { PROMETHEUS_RULE_FILE, prometheusRuleGroups, ruleGroupsOf } from '../../k8s/prometheus-rule.js';
import {
  KUBERNETES_CONFIG,
  MONITORING_DIR,
  runToolChecks,
  stageUnitTests,
  type ToolCheck,
  toolChecks,
  withoutKubernetesSd,
} from '../../monitoring/validate.js';
import { repoRoot } from '../../render/bundle.js';
import { writeYaml } from '../../yaml-data.js';
import { type CheckContext, error, type ImageCheck, type Problem, type Validator } from '../types.js';

/** Where compose mounts the bundle's monitoring folder in the prometheus container. */
const PROMETHEUS_DIR = '/etc/prometheus';
/** The Kubernetes config with its discovery stubbed, beside the rules it names (check container only). */
const KUBERNETES_STUB = `${PROMETHEUS_DIR}/.prometheus-kubernetes.check.yml`;

/**
 * The bundle's PrometheusRule (what the Prometheus Operator loads on Kubernetes) as a plain rule
 * file, so promtool checks its groups like monitoring/rules; undefined when the bundle has none.
 */
const PROMETHEUS_RULE_CHECK = '.prometheus-rule.check.yml';
const PROMETHEUS_RULE_LABEL = `promtool check rules ${PROMETHEUS_RULE_FILE} (its spec.groups)`;

function prometheusRuleAsRuleFile({ bundleDir, files }: Pick<CheckContext, 'bundleDir' | 'files'>): string | undefined {
  if (!files.includes(PROMETHEUS_RULE_FILE)) return undefined;
  return writeYaml({ groups: prometheusRuleGroups(readFileSync(join(bundleDir, PROMETHEUS_RULE_FILE), 'utf8')) ?? [] });
}

/**
 * The PrometheusRule must hold exactly the groups of monitoring/rules/*.yml, the files the lint
 * and the promtool unit tests judge: then what Kubernetes loads is what was tested.
 */
function prometheusRuleProblems({ bundleDir, files }: Pick<CheckContext, 'bundleDir' | 'files'>): Problem[] {
  if (!files.includes(PROMETHEUS_RULE_FILE)) return [];
  const groups = prometheusRuleGroups(readFileSync(join(bundleDir, PROMETHEUS_RULE_FILE), 'utf8'));
  if (!groups) return [error('holds no spec.groups: render the bundle again.', PROMETHEUS_RULE_FILE)];
  const ruleFiles = files.filter((path) => path.startsWith(`${MONITORING_DIR}/rules/`));
  const tested = ruleGroupsOf(ruleFiles.map((path) => ({ path, content: readFileSync(join(bundleDir, path), 'utf8') })));
  return isDeepStrictEqual(groups, tested)
    ? []
    : [
        error(
          `holds other rule groups than ${MONITORING_DIR}/rules/*.yml, the files promtool tests: render the bundle again, never edit it.`,
          PROMETHEUS_RULE_FILE,
        ),
      ];
}

const repoTests = (): string[] => {
  const dir = join(repoRoot(), MONITORING_DIR, 'tests');
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()
    : [];
};

/** The same tool runs as monitoringToolsValidator, inside the prometheus, alertmanager and blackbox images. */
const monitoringImageChecks: ImageCheck[] = [
  {
    name: 'promtool',
    label: 'promtool check config prometheus.yml (and its rules) in the prometheus image',
    service: 'prometheus',
    entrypoint: '/bin/promtool',
    args: ['check', 'config', `${PROMETHEUS_DIR}/prometheus.yml`],
  },
  {
    name: 'promtool',
    label: `promtool check config ${KUBERNETES_CONFIG} (Kubernetes discovery stubbed) in the prometheus image`,
    service: 'prometheus',
    entrypoint: '/bin/promtool',
    args: ['check', 'config', KUBERNETES_STUB],
    when: ({ files }) => files.includes(posix.join(MONITORING_DIR, KUBERNETES_CONFIG)),
    files: ({ bundleDir }) => ({ [KUBERNETES_STUB]: withoutKubernetesSd(readFileSync(join(bundleDir, MONITORING_DIR, KUBERNETES_CONFIG), 'utf8')) }),
  },
  {
    name: 'promtool',
    label: 'promtool test rules (the repo unit tests against the rendered rules) in the prometheus image',
    service: 'prometheus',
    entrypoint: '/bin/promtool',
    workdir: PROMETHEUS_DIR,
    args: () => ['test', 'rules', ...repoTests().map((f) => `tests/${f}`)],
    shownArgs: ['test', 'rules', 'tests/<each file of monitoring/tests>'],
    when: () => repoTests().length > 0,
    files: () =>
      Object.fromEntries(repoTests().map((f) => [`${PROMETHEUS_DIR}/tests/${f}`, readFileSync(join(repoRoot(), MONITORING_DIR, 'tests', f), 'utf8')])),
  },
  {
    name: 'promtool',
    label: `${PROMETHEUS_RULE_LABEL} in the prometheus image`,
    service: 'prometheus',
    entrypoint: '/bin/promtool',
    args: ['check', 'rules', `${PROMETHEUS_DIR}/${PROMETHEUS_RULE_CHECK}`],
    when: ({ files }) => files.includes(PROMETHEUS_RULE_FILE),
    files: (ctx) => ({ [`${PROMETHEUS_DIR}/${PROMETHEUS_RULE_CHECK}`]: prometheusRuleAsRuleFile(ctx) ?? '' }),
  },
  {
    name: 'amtool',
    label: 'amtool check-config in the alertmanager image',
    service: 'alertmanager',
    entrypoint: '/bin/amtool',
    args: ['check-config', '/etc/alertmanager/alertmanager.yml'],
  },
  {
    name: 'blackbox-exporter',
    label: 'blackbox_exporter --config.check in the blackbox-exporter image',
    service: 'blackbox-exporter',
    args: ['--config.check', '--config.file=/etc/blackbox_exporter/blackbox.yml'],
    when: ({ files }) => files.includes(posix.join(MONITORING_DIR, 'blackbox.yml')),
  },
];

/** promtool check config/rules, promtool test rules, amtool check-config and blackbox --config.check on the bundle. */
const monitoringToolsValidator: Validator = {
  name: 'promtool, amtool and blackbox config checks',
  tools: ['promtool', 'amtool', 'prometheus-blackbox-exporter'],
  async run(ctx) {
    const monitoringDir = join(ctx.bundleDir, MONITORING_DIR);
    const staged = stageUnitTests(monitoringDir, join(repoRoot(), MONITORING_DIR));
    try {
      const checks: ToolCheck[] = toolChecks(monitoringDir, staged.dir);
      const ruleFile = prometheusRuleAsRuleFile(ctx);
      if (ruleFile !== undefined) {
        writeFileSync(join(staged.dir, PROMETHEUS_RULE_CHECK), ruleFile);
        checks.push({ label: PROMETHEUS_RULE_LABEL, tool: 'promtool', args: ['check', 'rules', join(staged.dir, PROMETHEUS_RULE_CHECK)] });
      }
      const results = await runToolChecks(checks);
      return results
        .filter((r) => !r.ok)
        .map((r) => error(`${r.check.label} failed:\n${r.output}`, r.check.label === PROMETHEUS_RULE_LABEL ? PROMETHEUS_RULE_FILE : MONITORING_DIR));
    } finally {
      staged.cleanup();
    }
  },
  inImage: monitoringImageChecks,
};

/** Alert rule lint (mixtool rules, runbook links) and dashboard lint (PromQL, metrics, units). */
const monitoringLintValidator: Validator = {
  name: 'alert rules and dashboards lint',
  async run(ctx) {
    // The PromQL parser (lezer) loads only when the lint runs, not when a deploy plans its checks.
    const { lintMonitoring } = await import('../../monitoring/lint.js');
    return [
      ...lintMonitoring(join(ctx.bundleDir, MONITORING_DIR), join(repoRoot(), 'docs', 'runbooks.md'), ctx.bundleDir).map((p) =>
        error(p.message, p.file, p.line),
      ),
      ...prometheusRuleProblems(ctx),
    ];
  },
};

export const monitoringValidators: Validator[] = [monitoringToolsValidator, monitoringLintValidator];
