import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { LineCounter, parseAllDocuments } from 'yaml';
import { error, type Problem } from '../check/types.js';

/** Bundle folder of the rendered manifests. */
export const K8S_DIR = 'k8s';

/**
 * The order deploy-k8s.ts applies the manifests in: the namespace, settings
 * and network policies before any pod exists (so no pod ever runs without
 * its policy), the database before the apps that connect to it, autoscalers
 * after their targets, the monitors and rules once there is something to
 * scrape, and the certificate and public Ingress last, once there is a
 * backend. Every phase but the first ends in a wait (scripts/lib/k8s/plan.ts).
 */
export const APPLY_PHASES = {
  base: ['namespace.yaml', 'configmap.yaml', 'network-policies.yaml'],
  database: ['postgres-cluster.yaml'],
  apps: ['redis.yaml', 'deployment.yaml', 'workers.yaml', 'autoscaling-policies.yaml'],
  monitoring: ['monitoring.yaml', 'prometheus-rules.yaml'],
  edge: ['certificate.yaml', 'ingress.yaml'],
} as const;

export const APPLY_ORDER: readonly string[] = Object.values(APPLY_PHASES).flat();

/** Rendered manifests the deploy never applies (runbook recipes), validated like the others. */
export const RECIPES_DIR = 'recipes';

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** A manifest object as parsed; the schema validator checks its shape. */
export interface K8sObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  // biome-ignore lint/suspicious/noExplicitAny: manifests are untyped YAML until the schema validator has checked them.
  spec?: any;
  // biome-ignore lint/suspicious/noExplicitAny: see spec.
  data?: any;
}

export interface LoadedObject {
  /** Bundle-relative path, e.g. k8s/deployment.yaml. */
  file: string;
  /** First line of the document in that file. */
  line: number;
  object: K8sObject;
}

export function describe(o: LoadedObject): string {
  return `${o.object.kind ?? '?'}/${o.object.metadata?.name ?? '?'}`;
}

export interface LoadedManifests {
  objects: LoadedObject[];
  problems: Problem[];
}

/** Parses every manifest of a bundle, in apply order, with file and line of each object. */
export function loadManifests(bundleDir: string): LoadedManifests {
  return loadFolder(bundleDir, K8S_DIR, APPLY_ORDER, true);
}

/** The recipes (k8s/recipes/*.yaml): point-in-time recovery, ExternalSecret. */
export function loadRecipes(bundleDir: string): LoadedManifests {
  const dir = join(bundleDir, K8S_DIR, RECIPES_DIR);
  const names = existsSync(dir) ? readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)) : [];
  return loadFolder(bundleDir, posix.join(K8S_DIR, RECIPES_DIR), names.sort(), false);
}

function loadFolder(bundleDir: string, folder: string, expected: readonly string[], strict: boolean): LoadedManifests {
  const dir = join(bundleDir, folder);
  const problems: Problem[] = [];
  const objects: LoadedObject[] = [];
  const present = existsSync(dir) ? readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)) : [];
  if (strict) {
    for (const name of present) {
      if (!expected.includes(name)) {
        problems.push(error('is not in APPLY_PHASES (scripts/lib/k8s/manifests.ts), so no deploy would apply it; add it there.', posix.join(folder, name)));
      }
    }
  }
  for (const name of expected) {
    const file = posix.join(folder, name);
    if (!present.includes(name)) {
      problems.push(error('is missing from the bundle; the deploy applies it.', file));
      continue;
    }
    const lineCounter = new LineCounter();
    for (const doc of parseAllDocuments(readFileSync(join(dir, name), 'utf8'), { lineCounter })) {
      const line = lineCounter.linePos(doc.contents?.range[0] ?? 0).line;
      if (doc.errors.length > 0) {
        for (const e of doc.errors) problems.push(error(`invalid YAML: ${e.message.split('\n')[0]}`, file, lineCounter.linePos(e.pos[0]).line));
        continue;
      }
      const value: unknown = doc.toJS();
      if (value === null || value === undefined) continue;
      if (typeof value !== 'object' || Array.isArray(value)) {
        problems.push(error('a document is not a Kubernetes object (a mapping with apiVersion and kind).', file, line));
        continue;
      }
      objects.push({ file, line, object: value as K8sObject });
    }
  }
  return { objects, problems };
}
