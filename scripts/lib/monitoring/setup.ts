import { join, relative } from 'node:path';
import { addCleanup } from '../cleanup.js';
import { BadInputError, errorMessage, OperationError } from '../errors.js';
import { log } from '../log.js';
import type { Bundle } from '../render/bundle.js';
import { applyInstall, type InstallPlan, type InstallRecord, type InstallTargets, planInstall, rollbackInstall } from './install.js';
import { lintMonitoring } from './lint.js';
import { alertmanagerTarget, prometheusTarget, type ReloadTarget, reloadAndVerify } from './reload.js';
import { MONITORING_DIR, runToolChecks, stageUnitTests, type ToolCheck, toolChecks, UNIT_TESTS_LABEL } from './validate.js';

export interface SetupOptions {
  /** Rendered bundle folder (holds monitoring/). */
  bundleDir: string;
  /** The repo's monitoring folder (promtool unit tests) and runbook file. */
  repoMonitoringDir: string;
  runbookFile: string;
  targets: InstallTargets;
  backupDir: string;
  prometheusUrl: string;
  alertmanagerUrl: string;
}

/** A bundle path under monitoring/. */
export function isMonitoringFile(path: string): boolean {
  return path.startsWith(`${MONITORING_DIR}/`);
}

/**
 * The part of a bundle setup-monitoring installs: monitoring/ only. No secret
 * file (database, Redis, SMTP passwords) and no MANIFEST naming them is ever
 * written to its temp folder.
 */
export function monitoringOnly(bundle: Bundle): Bundle {
  return { ...bundle, files: bundle.files.filter((f) => !f.secret && isMonitoringFile(f.path)) };
}

export interface SetupPlan {
  checks: ToolCheck[];
  install: InstallPlan;
  reloads: ReloadTarget[];
}

export function setupPlan(options: SetupOptions, unitTestDir?: string): SetupPlan {
  const monitoringDir = join(options.bundleDir, MONITORING_DIR);
  return {
    checks: toolChecks(monitoringDir, unitTestDir),
    install: planInstall(monitoringDir, options.targets),
    reloads: [prometheusTarget(options.prometheusUrl), alertmanagerTarget(options.alertmanagerUrl)],
  };
}

/** The lines --dry-run prints: every check, copy and reload, in order. */
export function describePlan(plan: SetupPlan, bundleDir: string, backupDir: string): string[] {
  return [
    ...plan.checks.map((c) => `validate: ${c.label}`),
    ...(plan.checks.some((c) => c.label.startsWith(UNIT_TESTS_LABEL)) ? [] : [`validate: ${UNIT_TESTS_LABEL} (monitoring/tests against the rendered rules)`]),
    'validate: alert rule and dashboard lint',
    ...plan.install.copies.map((c) => `copy ${relative(bundleDir, c.source)} -> ${c.target}${c.ifMissing ? ' (only if absent)' : ''}`),
    ...plan.install.removals.map((r) => `remove stale rule file ${r}`),
    `keep a copy of every replaced file under ${backupDir}`,
    ...plan.reloads.map((r) => `POST ${r.url.replace(/\/+$/, '')}/-/reload and verify ${r.successMetric} = 1 and ${r.timestampMetric} advanced`),
  ];
}

/** Validation with the real tools and the lint; throws BadInputError listing every failure. Nothing is installed. */
export async function validateBundle(options: SetupOptions): Promise<void> {
  const monitoringDir = join(options.bundleDir, MONITORING_DIR);
  const staged = stageUnitTests(monitoringDir, options.repoMonitoringDir);
  const failures: string[] = [];
  try {
    for (const result of await runToolChecks(toolChecks(monitoringDir, staged.dir))) {
      log.debug(`${result.check.label}: ${result.ok ? 'ok' : 'failed'}`);
      if (!result.ok) failures.push(`${result.check.label} failed:\n${result.output}`);
    }
  } finally {
    staged.cleanup();
  }
  for (const p of lintMonitoring(monitoringDir, options.runbookFile, options.bundleDir)) failures.push(`${p.file}${p.line ? `:${p.line}` : ''}: ${p.message}`);
  if (failures.length > 0) {
    throw new BadInputError(
      `the monitoring configuration is invalid; nothing was installed:\n${failures.join('\n')}`,
      'fix the files under monitoring/ and run again',
    );
  }
}

async function reloadAll(reloads: ReloadTarget[]): Promise<void> {
  for (const target of reloads) {
    await reloadAndVerify(target);
    log.info(`${target.name} reloaded and verified`);
  }
}

/**
 * Install → reload → verify. On any failure the previous files are put back,
 * both services reloaded again, and an OperationError carries the reason.
 */
export async function installAndReload(plan: SetupPlan, backupDir: string): Promise<InstallRecord> {
  const record: InstallRecord = { backupDir, changed: [], unchanged: 0, createdDirs: [] };
  let done = false;
  // Ctrl-C half-way must not leave a mix of old and new files.
  const removeCleanup = addCleanup(() => {
    if (!done) rollbackInstall(record);
  });
  try {
    applyInstall(plan.install, backupDir, record);
    log.info(`installed ${record.changed.length} changed files (${record.unchanged} unchanged)`);
    await reloadAll(plan.reloads);
    done = true;
    return record;
  } catch (error) {
    rollbackInstall(record);
    done = true;
    log.warn(`setup failed; restored the ${record.changed.length} previous files`);
    const again: string[] = [];
    for (const target of plan.reloads) {
      try {
        await reloadAndVerify(target);
        again.push(`${target.name} runs the previous configuration again`);
      } catch (reloadError) {
        again.push(`${target.name} could not be reloaded with the previous files either (${errorMessage(reloadError)})`);
      }
    }
    const reason = errorMessage(error);
    throw new OperationError(`${reason.replace(/\.$/, '')}; rolled back: ${again.join('; ')}.`, error instanceof OperationError ? error.hint : undefined, {
      cause: error,
    });
  } finally {
    removeCleanup();
  }
}
