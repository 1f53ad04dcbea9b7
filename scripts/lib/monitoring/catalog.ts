import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readYaml } from '../yaml-data.js';

/** Where a metric name may come from: the backend contract, an exporter or a recording rule. */
export interface MetricCatalog {
  names: Map<string, string>;
}

interface ContractFile {
  metrics: { name: string; type: 'counter' | 'gauge' | 'histogram' | 'summary'; labels: string[] }[];
}

interface ExporterFile {
  sources: Record<string, string[]>;
}

interface RuleFile {
  groups: { name: string; rules: { record?: string; alert?: string; expr: string }[] }[];
}

/** Series names a contract metric is exposed as (a histogram X is X_bucket, X_sum and X_count). */
export function exposedNames(name: string, type: string): string[] {
  if (type === 'histogram') return [`${name}_bucket`, `${name}_sum`, `${name}_count`];
  if (type === 'summary') return [name, `${name}_sum`, `${name}_count`];
  return [name];
}

export function readContract(monitoringDir: string): ContractFile['metrics'] {
  return (readYaml(readFileSync(join(monitoringDir, 'metrics-contract.yml'), 'utf8')) as ContractFile).metrics;
}

export function readExporterMetrics(monitoringDir: string): Record<string, string[]> {
  return (readYaml(readFileSync(join(monitoringDir, 'exporter-metrics.yml'), 'utf8')) as ExporterFile).sources;
}

export function readRuleFile(path: string): RuleFile {
  return readYaml(readFileSync(path, 'utf8')) as RuleFile;
}

/** Every metric name alerts and dashboards may use, with where it comes from. */
export function metricCatalog(monitoringDir: string, ruleFiles: string[]): MetricCatalog {
  const names = new Map<string, string>();
  for (const metric of readContract(monitoringDir)) {
    for (const name of exposedNames(metric.name, metric.type)) names.set(name, 'backend contract');
  }
  for (const [source, list] of Object.entries(readExporterMetrics(monitoringDir))) {
    for (const name of list) names.set(name, source);
  }
  for (const file of ruleFiles) {
    for (const group of readRuleFile(file).groups ?? []) {
      for (const rule of group.rules ?? []) if (rule.record) names.set(rule.record, 'recording rule');
    }
  }
  return { names };
}
