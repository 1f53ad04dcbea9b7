import * as vb from 'valibot';
import { dnsNameProblem } from '../cli/kinds.js';

export { ENV_NAMES, type EnvName, NODE20_ENV_FILE_NOTE } from './names.js';

import type { EnvName } from './names.js';

/** A default that may differ per environment. `undefined` for an env means "required there". */
export type Default = string | { dev?: string; prod?: string };

export interface VarSpec<T = unknown> {
  description: string;
  /** Parses the raw string from an env file or the process environment. */
  schema: vb.GenericSchema<string, T>;
  default?: Default;
  /** Secret values never reach a rendered config, a log line or a command line. */
  secret: boolean;
  /** Human-readable type for docs and .env.example. */
  type: string;
  /** Value .env.example sets when prod has no default (secrets get a placeholder). */
  example?: string;
  /** A further rule in one environment only (a host path absolute in prod): the value passes `check`, or `message` says why not. */
  inEnv?: { env: EnvName; check: (raw: string) => boolean; message: string };
}

export type VarSpecs = Record<string, VarSpec>;
export type InferVars<S extends VarSpecs> = { [K in keyof S]: S[K] extends VarSpec<infer T> ? T : never };

/** The raw string parsed by the variable's schema (and its rule for `env`): its value, or the first problem's message. */
export function parseVar(spec: VarSpec, raw: string, env?: EnvName): { ok: true; value: unknown } | { ok: false; message: string } {
  const result = vb.safeParse(spec.schema, raw);
  if (!result.success) return { ok: false, message: result.issues[0].message };
  if (spec.inEnv && spec.inEnv.env === env && !spec.inEnv.check(raw)) return { ok: false, message: spec.inEnv.message };
  return { ok: true, value: result.output };
}

export function defaultFor(spec: VarSpec, env: EnvName): string | undefined {
  if (spec.default === undefined || typeof spec.default === 'string') return spec.default;
  return spec.default[env];
}

interface Common {
  description: string;
  default?: Default;
  example?: string;
}

export const v = {
  str(opts: Common & { pattern?: RegExp; patternHint?: string }): VarSpec<string> {
    const schema = opts.pattern ? vb.pipe(vb.string(), vb.regex(opts.pattern, opts.patternHint ?? `must match ${opts.pattern}`)) : vb.string();
    return { ...opts, schema, secret: false, type: 'string' };
  },
  int(opts: Common & { min?: number; max?: number }): VarSpec<number> {
    const min = opts.min ?? 0;
    const max = opts.max ?? Number.MAX_SAFE_INTEGER;
    const schema = vb.pipe(
      vb.string(),
      vb.regex(/^-?\d+$/, 'must be a whole number'),
      vb.transform(Number),
      vb.minValue(min, `must be at least ${min}`),
      vb.maxValue(max, `must be at most ${max}`),
    );
    return { ...opts, schema, secret: false, type: `integer ${min}..${opts.max ?? '∞'}` };
  },
  port(opts: Common): VarSpec<number> {
    return { ...v.int({ ...opts, min: 1, max: 65535 }), type: 'port' };
  },
  bool(opts: Common): VarSpec<boolean> {
    const schema = vb.pipe(
      vb.string(),
      vb.regex(/^(true|false|1|0|yes|no)$/i, 'must be true or false'),
      vb.transform((s) => /^(true|1|yes)$/i.test(s)),
    );
    return { ...opts, schema, secret: false, type: 'boolean' };
  },
  oneOf<const T extends readonly [string, ...string[]]>(values: T, opts: Common): VarSpec<T[number]> {
    const schema = vb.picklist(values, `must be one of ${values.join(', ')}`);
    return { ...opts, schema, secret: false, type: values.join('|') };
  },
  domain(opts: Common): VarSpec<string> {
    // The same check as a DNS name option (init-env --domain).
    const schema = vb.pipe(
      vb.string(),
      vb.toLowerCase(),
      vb.check(
        (s) => dnsNameProblem(s) === undefined,
        (issue) => dnsNameProblem(String(issue.input)) ?? '',
      ),
    );
    return { ...opts, schema, secret: false, type: 'domain' };
  },
  /** Prometheus-style duration: 15s, 5m, 30d. */
  duration(opts: Common): VarSpec<string> {
    const schema = vb.pipe(vb.string(), vb.regex(/^\d+(ms|s|m|h|d|w|y)$/, 'must be a duration like 30s, 5m or 15d'));
    return { ...opts, schema, secret: false, type: 'duration' };
  },
  /** Docker image reference pinned to a tag: never `latest`, never untagged. */
  image(opts: Common): VarSpec<string> {
    const schema = vb.pipe(
      vb.string(),
      vb.regex(/^[a-z0-9][a-z0-9._/-]*(:\d+)?[a-z0-9._/-]*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'must be an image with a tag, like postgres:15.8'),
      vb.check((s) => !s.endsWith(':latest'), 'must be pinned to a version tag, not latest'),
    );
    return { ...opts, schema, secret: false, type: 'image:tag' };
  },
  /**
   * A folder or file on the host, without spaces (host-setup.txt and the configs split on them).
   * Absolute in prod: it is rendered into a bundle that runs on another machine, where a path
   * resolved against this machine's working folder means nothing. Dev runs where it renders.
   */
  hostPath(opts: Common & { optional?: boolean }): VarSpec<string> {
    const schema = vb.pipe(vb.string(), vb.regex(opts.optional ? /^[^\s@]*$/ : /^[^\s@]+$/, 'must be a path without spaces'));
    return {
      ...opts,
      schema,
      secret: false,
      type: opts.optional ? 'path or empty' : 'path',
      inEnv: {
        env: 'prod',
        check: (raw) => raw === '' || raw.startsWith('/'),
        message: 'must be an absolute path in prod, where it is rendered into a bundle another machine runs; write it from /, e.g. /var/lib/healthmate',
      },
    };
  },
  secret(opts: Common & { minLength?: number }): VarSpec<string> {
    return { ...opts, schema: vb.string(), secret: true, type: 'secret' };
  },
};
