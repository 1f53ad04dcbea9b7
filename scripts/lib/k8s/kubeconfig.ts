import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { readYaml } from '../yaml-data.js';

/** kubeconfig files kubectl reads: $KUBECONFIG (a path list) or ~/.kube/config. */
export function kubeconfigFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const list = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  return list.length > 0 ? list : [join(homedir(), '.kube', 'config')];
}

/**
 * Context names defined in the kubeconfig files, read without running
 * kubectl, so an unknown context is refused before anything touches a cluster.
 */
export function kubeconfigContexts(env: NodeJS.ProcessEnv = process.env): string[] {
  const names = new Set<string>();
  for (const file of kubeconfigFiles(env)) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // kubectl skips missing files in the list too
    }
    let doc: unknown;
    try {
      doc = readYaml(text);
    } catch {
      continue;
    }
    const contexts = (doc as { contexts?: { name?: unknown }[] } | null)?.contexts;
    if (!Array.isArray(contexts)) continue;
    for (const c of contexts) if (typeof c?.name === 'string') names.add(c.name);
  }
  return [...names];
}
