import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { writeFileAtomic } from '../fs-atomic.js';

/** Folders a monitoring install writes into. */
export interface InstallTargets {
  prometheusDir: string;
  rulesDir: string;
  alertmanagerDir: string;
  grafanaProvisioningDir: string;
  grafanaDashboardsDir: string;
}

export function defaultTargets(prefix = '/'): InstallTargets {
  return {
    prometheusDir: resolve(prefix, 'etc/prometheus'),
    rulesDir: resolve(prefix, 'etc/prometheus/rules'),
    alertmanagerDir: resolve(prefix, 'etc/alertmanager'),
    grafanaProvisioningDir: resolve(prefix, 'etc/grafana/provisioning'),
    grafanaDashboardsDir: resolve(prefix, 'var/lib/grafana/dashboards'),
  };
}

export interface CopyStep {
  /** File in the rendered bundle. */
  source: string;
  target: string;
  content: string;
  /** Operator-owned file (extra scrape targets): installed only when absent, never replaced. */
  ifMissing?: boolean;
}

export interface InstallPlan {
  copies: CopyStep[];
  /** Rule files in the rules folder that the new set no longer has (Prometheus would still load them). */
  removals: string[];
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? filesUnder(path) : [path];
    });
}

/**
 * prometheus.yml finds its rules at `rules/*.yml` beside it. When the rules go
 * to another folder, the installed copy names that folder instead.
 */
function prometheusConfigFor(text: string, targets: InstallTargets): string {
  if (resolve(targets.rulesDir) === resolve(targets.prometheusDir, 'rules')) return text;
  const doc = parseDocument(text);
  doc.set('rule_files', [join(targets.rulesDir, '*.yml')]);
  return doc.toString();
}

/** What goes where, computed from a rendered monitoring folder; nothing is touched. */
export function planInstall(monitoringDir: string, targets: InstallTargets): InstallPlan {
  const copies: CopyStep[] = [];
  const add = (source: string, target: string, transform?: (text: string) => string, ifMissing = false): void => {
    const text = readFileSync(source, 'utf8');
    copies.push({ source, target, content: transform ? transform(text) : text, ...(ifMissing ? { ifMissing } : {}) });
  };
  add(join(monitoringDir, 'prometheus.yml'), join(targets.prometheusDir, 'prometheus.yml'), (t) => prometheusConfigFor(t, targets));
  // file_sd watches targets/ only if it exists when the config loads.
  const targetsSource = join(monitoringDir, 'targets');
  for (const file of filesUnder(targetsSource)) add(file, join(targets.prometheusDir, 'targets', relative(targetsSource, file)), undefined, true);
  const rulesSource = join(monitoringDir, 'rules');
  for (const file of filesUnder(rulesSource)) add(file, join(targets.rulesDir, relative(rulesSource, file)));
  const amSource = join(monitoringDir, 'alertmanager');
  for (const file of filesUnder(amSource)) add(file, join(targets.alertmanagerDir, relative(amSource, file)));
  const provisioning = join(monitoringDir, 'grafana', 'provisioning');
  for (const file of filesUnder(provisioning)) add(file, join(targets.grafanaProvisioningDir, relative(provisioning, file)));
  const dashboards = join(monitoringDir, 'grafana', 'dashboards');
  for (const file of filesUnder(dashboards)) add(file, join(targets.grafanaDashboardsDir, relative(dashboards, file)));

  const newRules = new Set(copies.map((c) => c.target));
  const removals = existsSync(targets.rulesDir)
    ? readdirSync(targets.rulesDir)
        .filter((f) => /\.ya?ml$/.test(f))
        .map((f) => join(targets.rulesDir, f))
        .filter((f) => !newRules.has(f))
    : [];
  return { copies, removals };
}

/** What an applied install changed, enough to put everything back. */
export interface InstallRecord {
  backupDir: string;
  /** Target → its previous copy in backupDir, or null when the file did not exist. */
  changed: { target: string; backup: string | null }[];
  unchanged: number;
  /** Folders the install created (outermost first), removed again by a rollback. */
  createdDirs: string[];
}

/** Records the folders that writing `file` is about to create, outermost first. */
function recordNewFolders(file: string, record: InstallRecord): void {
  const missing: string[] = [];
  for (let dir = dirname(resolve(file)); !existsSync(dir); dir = dirname(dir)) missing.unshift(dir);
  record.createdDirs.push(...missing);
}

function backupPath(backupDir: string, target: string): string {
  return join(backupDir, resolve(target).replace(/^\/+/, ''));
}

/**
 * Writes the plan: each replaced or removed file is first copied under
 * backupDir (same absolute path inside it), each new file is written atomically.
 * Identical files are left alone. `record` is filled as it goes, so a failure
 * half-way can still be rolled back.
 */
export function applyInstall(plan: InstallPlan, backupDir: string, record: InstallRecord): void {
  for (const step of plan.copies) {
    const exists = existsSync(step.target);
    if (exists && (step.ifMissing || readFileSync(step.target, 'utf8') === step.content)) {
      record.unchanged += 1;
      continue;
    }
    let backup: string | null = null;
    if (exists) {
      backup = backupPath(backupDir, step.target);
      mkdirSync(dirname(backup), { recursive: true, mode: 0o700 });
      copyFileSync(step.target, backup);
    }
    record.changed.push({ target: step.target, backup });
    recordNewFolders(step.target, record);
    writeFileAtomic(step.target, step.content, 0o644);
  }
  for (const target of plan.removals) {
    const backup = backupPath(backupDir, target);
    mkdirSync(dirname(backup), { recursive: true, mode: 0o700 });
    copyFileSync(target, backup);
    record.changed.push({ target, backup });
    rmSync(target);
  }
}

/** Puts every changed file back as it was (removes files that were new). */
export function rollbackInstall(record: InstallRecord): void {
  for (const { target, backup } of [...record.changed].reverse()) {
    if (backup === null) {
      rmSync(target, { force: true });
    } else {
      const temp = `${target}.rollback-${process.pid}`;
      copyFileSync(backup, temp);
      renameSync(temp, target);
    }
  }
  // Innermost first; a folder someone else filled meanwhile stays.
  for (const dir of [...record.createdDirs].reverse()) {
    try {
      rmdirSync(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  record.createdDirs = [];
}
