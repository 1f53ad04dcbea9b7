import { randomInt } from 'node:crypto';
import { registerSecret } from '../log.js';
import type { LoadedEnv } from './load.js';
import { type EnvValues, SECRET_NAMES } from './schema.js';

const KINDS = ['abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', '0123456789'];
const ALPHANUMERIC = KINDS.join('');
/** Below this many letters and digits a stand-in would say too much about the value: it gets a fresh random one. */
const MIN_REPLACED = 8;

const randomOf = (chars: string): string => chars[randomInt(chars.length)] as string;

/**
 * A throwaway value of the same shape as a secret: every letter and digit
 * replaced by a random one of its kind, every other character kept, so quoting
 * and escaping meet the same characters as with the real value.
 */
export function standInSecret(value: string): string {
  const kinds = [...value].map((c) => KINDS.find((kind) => kind.includes(c)));
  if (kinds.filter(Boolean).length < MIN_REPLACED)
    return Array.from({ length: Math.max(value.length, MIN_REPLACED * 2) }, () => randomOf(ALPHANUMERIC)).join('');
  for (;;) {
    const standIn = [...value].map((c, i) => (kinds[i] ? randomOf(kinds[i] as string) : c)).join('');
    if (standIn !== value) return standIn;
  }
}

/**
 * The env with every secret replaced by a stand-in, for a render that is only
 * checked and thrown away (check.ts, a deploy's dry run): its temp folder then
 * holds no real secret, whatever ends the process. The stand-ins are
 * registered like secrets, so the leak scan looks for them and the log hides them.
 */
export function withStandInSecrets(env: LoadedEnv): LoadedEnv {
  const secrets: LoadedEnv['secrets'] = {};
  const values = { ...env.values } as Record<string, unknown>;
  for (const name of SECRET_NAMES) {
    const real = env.secrets[name];
    if (real === undefined) continue;
    const standIn = standInSecret(real);
    registerSecret(standIn);
    secrets[name] = standIn;
    values[name] = standIn;
  }
  return { ...env, values: values as EnvValues, secrets };
}
