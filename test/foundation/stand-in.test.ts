import { describe, expect, it } from 'vitest';
import { SECRET_NAMES } from '../../scripts/lib/env/schema.js';
import { standInSecret, withStandInSecrets } from '../../scripts/lib/env/stand-in.js';
import { redact } from '../../scripts/lib/log.js';
import { planBundle } from '../../scripts/lib/render/bundle.js';
import { testEnv } from '../stack/env.js';
import '../../scripts/lib/derivers.js';

const kind = (c: string): string => (/[a-z]/.test(c) ? 'lower' : /[A-Z]/.test(c) ? 'upper' : /\d/.test(c) ? 'digit' : c);

describe('standInSecret', () => {
  it.each(['Zq8v3LkP0sWn7YtR4bXe1HuC6mJa9FdG', 'pa:ss@wo/rd%"\\ \'with$odd#chars=9X', 'correct horse battery staple'])(
    'keeps the shape of %j and none of its letters or digits',
    (value) => {
      const standIn = standInSecret(value);
      expect(standIn).not.toBe(value);
      expect([...standIn].map(kind)).toEqual([...value].map(kind));
      // A fresh random value each time.
      expect(standInSecret(value)).not.toBe(standIn);
    },
  );

  it('draws every letter and digit afresh', () => {
    const value = 'kQ3xM9bT0zW7pR1nV5eL8cH2dY6fG4sJ9aU0uN7gK3hS8jD2mF1qE5rA6tZ4';
    const standIn = standInSecret(value);
    // Each kind has 20 positions; a character kept by chance is 1 in 10 (digits) or 1 in 26: never half of them.
    for (const k of ['lower', 'upper', 'digit']) {
      const positions = [...value].flatMap((c, i) => (kind(c) === k ? [i] : []));
      const kept = positions.filter((i) => standIn[i] === value[i]).length;
      expect(kept, k).toBeLessThan(positions.length / 2);
    }
  });

  it('gives a value with few letters and digits a fresh random one', () => {
    const value = '!@#$%^&*()_+-=[]{};:,.<>?1';
    const standIn = standInSecret(value);
    expect(standIn).toMatch(/^[A-Za-z0-9]{26}$/);
  });
});

describe('withStandInSecrets', () => {
  it('replaces every secret, keeps every other value, and the render holds no real secret', () => {
    const { env } = testEnv('prod');
    const standIn = withStandInSecrets(env);
    const real = Object.values(env.secrets) as string[];
    expect(Object.keys(standIn.secrets).sort()).toEqual(Object.keys(env.secrets).sort());
    for (const name of SECRET_NAMES) {
      if (env.secrets[name] === undefined) continue;
      expect(standIn.secrets[name]).not.toBe(env.secrets[name]);
      expect(standIn.values[name]).toBe(standIn.secrets[name]);
      // Registered like a secret: the log hides it.
      expect(redact(`x ${standIn.secrets[name]} y`)).toBe('x *** y');
    }
    const others = (e: typeof env) => Object.fromEntries(Object.entries(e.values).filter(([name]) => !(SECRET_NAMES as string[]).includes(name)));
    expect(others(standIn)).toEqual(others(env));

    const bundle = planBundle(standIn);
    const withReal = planBundle(env);
    // The same files, secrets/ included, and none holds a real secret.
    expect(bundle.files.map((f) => f.path)).toEqual(withReal.files.map((f) => f.path));
    expect(bundle.files.filter((f) => real.some((secret) => f.content.includes(secret))).map((f) => f.path)).toEqual([]);
  });
});
