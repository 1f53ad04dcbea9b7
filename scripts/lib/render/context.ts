import { firstDbHost, type InventoryHost } from '../env/inventory.js';
import type { LoadedEnv } from '../env/load.js';
import { SCHEMA, type VarName } from '../env/schema.js';
import { BadInputError } from '../errors.js';
import { registerSecret } from '../log.js';
import { derivers, hostValues } from './derived.js';
import type { RenderValue } from './template.js';

export interface RenderContext {
  values: Record<string, RenderValue>;
  secretNames: Set<string>;
  /** secrets/<file> → content. */
  secretFiles: Map<string, string>;
}

export function secretFileName(name: string): string {
  return name.toLowerCase();
}

/** Everything a template may reference, and every secret file, for one env as one host of its inventory renders it. */
export function buildContext(env: LoadedEnv, host: InventoryHost = firstDbHost(env.inventory)): RenderContext {
  const values: Record<string, RenderValue> = {};
  const secretNames = new Set<string>();
  const secretFiles = new Map<string, string>();
  for (const name of Object.keys(SCHEMA) as VarName[]) {
    if (SCHEMA[name].secret) {
      secretNames.add(name);
      const value = env.secrets[name];
      if (value !== undefined) secretFiles.set(secretFileName(name), value);
    } else {
      values[name] = env.values[name] as RenderValue;
    }
  }
  for (const derive of derivers()) {
    const derived = derive(env);
    for (const [name, value] of Object.entries(derived.values ?? {})) {
      if (name in values || secretNames.has(name)) throw new BadInputError(`derived value ${name} clashes with an env variable of the same name.`);
      values[name] = value;
    }
    for (const [file, content] of Object.entries(derived.secretFiles ?? {})) {
      registerSecret(content);
      secretFiles.set(file, content);
    }
  }
  for (const [name, value] of Object.entries(hostValues(env, host))) {
    if (name in values || secretNames.has(name)) throw new BadInputError(`per-host value ${name} clashes with a value of the same name.`);
    values[name] = value;
  }
  return { values, secretNames, secretFiles };
}
