import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { isMap, isSeq, parseDocument } from 'yaml';
import { $ } from 'zx/core';
import { privateTempDir } from '../cleanup.js';
import { log } from '../log.js';
import { passedBefore, passKey, recordPass, toolCacheDir } from '../tool-cache.js';
import { requireTool } from '../tools.js';
import { readYaml } from '../yaml-data.js';

/** One run of a real tool over the rendered monitoring files. */
export interface ToolCheck {
  label: string;
  tool: 'promtool' | 'amtool' | 'prometheus-blackbox-exporter';
  args: string[];
  /** Working folder (promtool test rules resolves rule_files relative to the test file). */
  cwd?: string;
  /** Every file the result depends on (below cwd): the run is deterministic, so a pass is remembered (tool-cache.ts). */
  inputs?: string[];
}

export interface ToolResult {
  check: ToolCheck;
  ok: boolean;
  output: string;
  /** Not run: the same tool passed on the same inputs before. */
  cached: boolean;
}

export const MONITORING_DIR = 'monitoring';

const ymlIn = (dir: string): string[] =>
  existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()
        .map((f) => join(dir, f))
    : [];

export function ruleFilesIn(monitoringDir: string): string[] {
  return ymlIn(join(monitoringDir, 'rules'));
}

export function dashboardFilesIn(monitoringDir: string): string[] {
  const dir = join(monitoringDir, 'grafana', 'dashboards');
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) => join(dir, f))
    : [];
}

/**
 * The real-tool checks of a rendered monitoring folder, as data: the plan
 * `--dry-run` prints and the validator runs. `unitTestDir` holds a copy of the
 * rendered rules beside the repo's promtool unit tests.
 */
export function toolChecks(monitoringDir: string, unitTestDir?: string): ToolCheck[] {
  const checks: ToolCheck[] = [
    { label: 'promtool check config prometheus.yml', tool: 'promtool', args: ['check', 'config', join(monitoringDir, 'prometheus.yml')] },
  ];
  if (unitTestDir && existsSync(join(unitTestDir, KUBERNETES_CONFIG))) {
    checks.push({
      label: `promtool check config ${KUBERNETES_CONFIG} (Kubernetes discovery stubbed)`,
      tool: 'promtool',
      args: ['check', 'config', join(unitTestDir, KUBERNETES_CONFIG)],
    });
  }
  checks.push({ label: 'promtool check rules', tool: 'promtool', args: ['check', 'rules', ...ruleFilesIn(monitoringDir)] });
  if (unitTestDir) checks.push(...unitTestChecks(unitTestDir));
  checks.push({ label: 'amtool check-config', tool: 'amtool', args: ['check-config', join(monitoringDir, 'alertmanager', 'alertmanager.yml')] });
  const blackbox = join(monitoringDir, 'blackbox.yml');
  if (existsSync(blackbox))
    checks.push({ label: 'blackbox_exporter --config.check', tool: 'prometheus-blackbox-exporter', args: ['--config.check', `--config.file=${blackbox}`] });
  return checks;
}

/** The label of every unit-test run, followed by its test file. */
export const UNIT_TESTS_LABEL = 'promtool test rules';

/**
 * `promtool test rules` of each file in `<unitTestDir>/tests`. One run per file:
 * promtool runs the files of one call one after the other on one core, and
 * runToolChecks spreads the runs over every core.
 */
export function unitTestChecks(unitTestDir: string): ToolCheck[] {
  return ymlIn(join(unitTestDir, 'tests')).map((file) => {
    const test = relative(unitTestDir, file);
    const inputs = unitTestInputs(unitTestDir, test);
    return { label: `${UNIT_TESTS_LABEL} ${test}`, tool: 'promtool', args: ['test', 'rules', test], cwd: unitTestDir, ...(inputs ? { inputs } : {}) };
  });
}

/**
 * The test file and the rule files it names, relative to `dir`; undefined when
 * a rule file is a glob or lies outside `dir` (then the inputs are not known).
 */
function unitTestInputs(dir: string, test: string): string[] | undefined {
  let ruleFiles: unknown;
  try {
    ruleFiles = (readYaml(readFileSync(join(dir, test), 'utf8')) as { rule_files?: unknown } | null)?.rule_files ?? [];
  } catch {
    return undefined;
  }
  if (!Array.isArray(ruleFiles)) return undefined;
  const inputs = [test];
  for (const file of ruleFiles) {
    if (typeof file !== 'string' || /[*?[]/.test(file)) return undefined;
    const path = relative(dir, isAbsolute(file) ? file : join(dir, dirname(test), file));
    if (path.startsWith('..') || isAbsolute(path)) return undefined;
    inputs.push(path);
  }
  return inputs;
}

/** Runs the checks, as many at once as there are cores; results in the checks' order. */
export async function runToolChecks(checks: ToolCheck[]): Promise<ToolResult[]> {
  const results: ToolResult[] = new Array(checks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < checks.length) {
      const index = next++;
      results[index] = await runToolCheck(checks[index] as ToolCheck);
    }
  };
  await Promise.all(Array.from({ length: Math.min(availableParallelism(), checks.length) }, worker));
  const cached = results.filter((r) => r.cached).length;
  if (cached > 0)
    log.info(
      `${cached} of ${checks.length} tool checks passed before on the same tool and files and were not run again (cache ${toolCacheDir()}; HEALTHMATE_CHECK_CACHE=off runs them all)`,
    );
  return results;
}

export async function runToolCheck(check: ToolCheck): Promise<ToolResult> {
  const tool = requireTool(check.tool);
  const cacheDir = toolCacheDir();
  const key = cacheDir && check.inputs && check.cwd ? runKey(tool, check.args, check.cwd, check.inputs) : undefined;
  if (cacheDir && key && passedBefore(cacheDir, key)) return { check, ok: true, output: '', cached: true };
  const result = await $({ quiet: true, nothrow: true, ...(check.cwd ? { cwd: check.cwd } : {}) })`${tool} ${check.args}`;
  const ok = result.exitCode === 0;
  if (ok && cacheDir && key) recordPass(cacheDir, key, check.label);
  return { check, ok, output: `${result.stdout}${result.stderr}`.trim(), cached: false };
}

/** The cache key, or undefined when an input cannot be read (the tool then reports it). */
function runKey(tool: string, args: string[], cwd: string, inputs: string[]): string | undefined {
  try {
    return passKey(
      tool,
      args.join('\0'),
      inputs.map((input) => [input, readFileSync(join(cwd, input))]),
    );
  } catch {
    return undefined;
  }
}

export const KUBERNETES_CONFIG = 'prometheus-kubernetes.yml';

/**
 * Debian's Prometheus is built without Kubernetes discovery, so its promtool
 * rejects kubernetes_sd_configs. Swap each for an empty static_configs and let
 * promtool check everything else (globals, rule files, relabelling).
 */
export function withoutKubernetesSd(text: string): string {
  const doc = parseDocument(text);
  const jobs = doc.get('scrape_configs');
  if (isSeq(jobs)) {
    for (const job of jobs.items) {
      if (isMap(job) && job.has('kubernetes_sd_configs')) {
        job.delete('kubernetes_sd_configs');
        job.set('static_configs', [{ targets: [] }]);
      }
    }
  }
  return doc.toString();
}

/**
 * Copies the rendered rules next to the repo's unit tests in a temp folder so
 * `rule_files: [../rules/…]` in the tests points at what will be installed,
 * plus the promtool-checkable Kubernetes config. Returns the folder and its cleanup.
 */
export function stageUnitTests(monitoringDir: string, repoMonitoringDir: string): { dir: string; cleanup: () => void } {
  // Through the registry, so Ctrl-C or SIGTERM during a long promtool run leaves no folder behind.
  const staged = privateTempDir('healthmate-promtool-');
  const dir = staged.path;
  try {
    cpSync(join(monitoringDir, 'rules'), join(dir, 'rules'), { recursive: true });
    cpSync(join(repoMonitoringDir, 'tests'), join(dir, 'tests'), { recursive: true });
    const kubernetes = join(monitoringDir, KUBERNETES_CONFIG);
    if (existsSync(kubernetes)) writeFileSync(join(dir, KUBERNETES_CONFIG), withoutKubernetesSd(readFileSync(kubernetes, 'utf8')));
  } catch (error) {
    staged.remove();
    throw error;
  }
  return { dir, cleanup: staged.remove };
}
