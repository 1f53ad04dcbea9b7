import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { KUBERNETES_CONFIG, MONITORING_DIR, runToolChecks, stageUnitTests, toolChecks, withoutKubernetesSd } from '../../monitoring/validate.js';
import { repoRoot } from '../../render/bundle.js';
import { error, type ImageCheck, type Validator } from '../types.js';

/** Where compose mounts the bundle's monitoring folder in the prometheus container. */
const PROMETHEUS_DIR = '/etc/prometheus';
/** The Kubernetes config with its discovery stubbed, beside the rules it names (check container only). */
const KUBERNETES_STUB = `${PROMETHEUS_DIR}/.prometheus-kubernetes.check.yml`;

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
  async run({ bundleDir }) {
    const monitoringDir = join(bundleDir, MONITORING_DIR);
    const staged = stageUnitTests(monitoringDir, join(repoRoot(), MONITORING_DIR));
    try {
      const results = await runToolChecks(toolChecks(monitoringDir, staged.dir));
      return results.filter((r) => !r.ok).map((r) => error(`${r.check.label} failed:\n${r.output}`, MONITORING_DIR));
    } finally {
      staged.cleanup();
    }
  },
  inImage: monitoringImageChecks,
};

/** Alert rule lint (mixtool rules, runbook links) and dashboard lint (PromQL, metrics, units). */
const monitoringLintValidator: Validator = {
  name: 'alert rules and dashboards lint',
  async run({ bundleDir }) {
    // The PromQL parser (lezer) loads only when the lint runs, not when a deploy plans its checks.
    const { lintMonitoring } = await import('../../monitoring/lint.js');
    return lintMonitoring(join(bundleDir, MONITORING_DIR), join(repoRoot(), 'docs', 'runbooks.md'), bundleDir).map((p) => error(p.message, p.file, p.line));
  },
};

export const monitoringValidators: Validator[] = [monitoringToolsValidator, monitoringLintValidator];
