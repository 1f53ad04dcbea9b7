/**
 * Option kinds: what the value of each command-line option must be, checked
 * in one place before a script's body runs (scripts/lib/cli.ts). A kind turns
 * the raw string into a typed value or throws one BadInputError sentence that
 * names the option. Loaded for --help too: node built-ins only.
 */
import { statSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { MANIFEST, readManifest, replaceProblem } from '../bundle-folder.js';
import type { EnvName } from '../env/names.js';
import { BadInputError } from '../errors.js';

/** What a kind may look at besides the raw value. */
export interface KindContext {
  /** The option as typed, e.g. `--out`. */
  flag: string;
  env: EnvName;
  cwd: string;
  now: Date;
  /** The value is the option's default, not typed by the user. */
  fromDefault?: boolean;
  /** Whether another option of the command line is given. */
  given: (option: string) => boolean;
}

/** Families: the generated tests pick their bad values by family. */
export type KindFamily =
  | 'flag'
  | 'text'
  | 'enum'
  | 'int'
  | 'duration'
  | 'date-time'
  | 'url'
  | 'host'
  | 'dns-name'
  | 'name'
  | 'pg-identifier'
  | 'assignment'
  | 'matcher'
  | 'existing-file'
  | 'existing-folder'
  | 'new-file'
  | 'file-or-name'
  | 'folder'
  | 'output'
  | 'bundle';

export interface Kind<T> {
  readonly family: KindFamily;
  /** --help placeholder, e.g. `<file>`. */
  readonly placeholder: string;
  /** --help: what the value must be, e.g. "an existing file". */
  readonly summary: string;
  /** enum: the accepted values; int: the bounds (for --help and the generated tests). */
  readonly values?: readonly string[];
  readonly min?: number;
  readonly max?: number;
  /** The kind checks the raw text itself (control characters, spaces): --set leaves its value to the env schema. */
  readonly ownHygiene?: boolean;
  parse(raw: string, ctx: KindContext): T | Promise<T>;
}

const MAX_LENGTH = 4096;

/** A value as a message may show it: quoted, cut short. */
export function shown(raw: string): string {
  return JSON.stringify(raw.length > 80 ? `${raw.slice(0, 77)}...` : raw);
}

const bad = (message: string, hint?: string): BadInputError => new BadInputError(message, hint);

/**
 * What every value must pass before its kind looks at it: not empty (an empty
 * value is never "the current folder"), one line, no stray spaces at the ends.
 */
export function checkHygiene(raw: string, ctx: KindContext, placeholder: string, trimmed = false): void {
  if (raw.trim() === '') throw bad(`${ctx.flag} is empty; pass ${placeholder}.`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw bad(`${ctx.flag} holds a control character (a newline or tab); pass the value on one line.`);
  if (raw.length > MAX_LENGTH) throw bad(`${ctx.flag} is ${raw.length} characters long; at most ${MAX_LENGTH}.`);
  if (!trimmed && raw !== raw.trim()) throw bad(`${ctx.flag} ${shown(raw)} starts or ends with a space; pass it without.`);
}

export const flag: Kind<boolean> = {
  family: 'flag',
  placeholder: '',
  summary: 'a flag',
  parse: () => true,
};

/** Free text (a reason for the audit log), trimmed. */
export function text(max = 500): Kind<string> {
  return {
    family: 'text',
    placeholder: '<text>',
    summary: `text, one line, at most ${max} characters`,
    ownHygiene: true,
    parse(raw, ctx) {
      checkHygiene(raw, ctx, '<text>', true);
      const value = raw.trim();
      if (value.length > max) throw bad(`${ctx.flag} is ${value.length} characters long; at most ${max}.`);
      return value;
    },
  };
}

export function oneOf<const T extends string>(values: readonly T[]): Kind<T> {
  return {
    family: 'enum',
    placeholder: `<${values.join('|')}>`,
    summary: `one of ${values.join(', ')}`,
    values,
    parse(raw, ctx) {
      if (!(values as readonly string[]).includes(raw)) throw bad(`${ctx.flag} must be one of ${values.join(', ')}, not ${shown(raw)}.`);
      return raw as T;
    },
  };
}

/** One of a list only the script's own modules know (loaded when the option is given, never for --help). */
export function oneOfLoaded(placeholder: string, what: string, load: () => Promise<string[]>): Kind<string> {
  return {
    family: 'name',
    placeholder,
    summary: `the name of ${what}`,
    async parse(raw, ctx) {
      const known = await load();
      if (!known.includes(raw)) throw bad(`${ctx.flag} ${shown(raw)} names no ${what}; use one of: ${known.join(', ')}.`);
      return raw;
    },
  };
}

export function int(min: number, max: number, unit = ''): Kind<number> {
  const what = `a whole number${unit ? ` of ${unit}` : ''} from ${min} to ${max}`;
  return {
    family: 'int',
    placeholder: '<n>',
    summary: what,
    min,
    max,
    parse(raw, ctx) {
      if (!/^\d{1,15}$/.test(raw) || Number(raw) < min || Number(raw) > max) throw bad(`${ctx.flag} must be ${what}, not ${shown(raw)}.`);
      return Number(raw);
    },
  };
}

const DURATION_UNITS = { d: 86_400, h: 3600, m: 60 } as const;

/** 30m, 2h, 1h30m, 1d: whole minutes up to `maxSeconds`; returns seconds. */
export function duration(maxSeconds: number, why: string): Kind<number> {
  const max = formatDuration(maxSeconds);
  return {
    family: 'duration',
    placeholder: '<30m|2h|1h30m>',
    summary: `a duration like 30m, 2h or 1h30m, at most ${max}`,
    max: maxSeconds,
    parse(raw, ctx) {
      const match = /^(?:(\d{1,6})d)?(?:(\d{1,6})h)?(?:(\d{1,6})m)?$/.exec(raw);
      const seconds = match
        ? Number(match[1] ?? 0) * DURATION_UNITS.d + Number(match[2] ?? 0) * DURATION_UNITS.h + Number(match[3] ?? 0) * DURATION_UNITS.m
        : 0;
      if (!match || seconds <= 0) throw bad(`${ctx.flag} must be a duration like 30m, 2h or 1h30m, not ${shown(raw)}.`);
      if (seconds > maxSeconds) throw bad(`${ctx.flag} ${raw} is longer than ${max}; ${why}.`);
      return seconds;
    },
  };
}

function formatDuration(seconds: number): string {
  if (seconds % DURATION_UNITS.d === 0) return `${seconds / DURATION_UNITS.d} days`;
  if (seconds % DURATION_UNITS.h === 0) return `${seconds / DURATION_UNITS.h} hours`;
  return `${Math.round(seconds / 60)} minutes`;
}

/** A real instant: `sql` keeps the microseconds a JS Date drops, in PostgreSQL's timestamptz input syntax. */
export interface DateTime {
  instant: Date;
  sql: string;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * A real RFC 3339 instant with an explicit zone, so "14:00" cannot mean two
 * instants: the calendar date must exist (2026-02-30 is refused, where a JS
 * Date would roll it over to March) and, for a recovery target, not be in the future.
 */
export function parseDateTime(raw: string, flag: string, now: Date, notFuture: boolean): DateTime {
  const m = RFC3339.exec(raw);
  const refuse = (why: string) => bad(`${flag} ${shown(raw)} ${why}; pass an RFC 3339 time with a zone such as 2026-12-31T14:05:00Z.`);
  if (!m) throw refuse('is not an RFC 3339 timestamp with a time zone');
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const calendar = new Date(Date.UTC(year, month - 1, day));
  if (month < 1 || month > 12 || calendar.getUTCMonth() !== month - 1 || calendar.getUTCDate() !== day) throw refuse('names a day that does not exist');
  if (hour > 23 || minute > 59 || second > 59) throw refuse('names a time of day that does not exist');
  const zone = (m[8] as string).toUpperCase();
  if (zone !== 'Z' && (Number(zone.slice(1, 3)) > 23 || Number(zone.slice(4, 6)) > 59)) throw refuse('has an impossible zone offset');
  const instant = new Date(raw.replace(' ', 'T'));
  if (Number.isNaN(instant.getTime())) throw refuse('is not a valid instant');
  if (notFuture && instant.getTime() > now.getTime())
    throw bad(`${flag} ${raw} is in the future (now is ${now.toISOString()}); nothing can be recovered there yet.`);
  return { instant, sql: `${m[1]}-${m[2]}-${m[3]} ${m[4]}:${m[5]}:${m[6]}${m[7] ?? ''}${zone === 'Z' ? '+00' : zone}` };
}

export function dateTime(options: { notFuture: boolean }): Kind<DateTime> {
  return {
    family: 'date-time',
    placeholder: '<time>',
    summary: `an RFC 3339 time with a zone, e.g. 2026-12-31T14:05:00Z${options.notFuture ? ', not in the future' : ''}`,
    parse: (raw, ctx) => parseDateTime(raw, ctx.flag, ctx.now, options.notFuture),
  };
}

/**
 * An http(s) base URL. A user name or password is refused and never echoed:
 * the message would put it in a terminal log or a CI transcript.
 */
export const url: Kind<string> = {
  family: 'url',
  placeholder: '<url>',
  summary: 'an http(s) base URL like http://127.0.0.1:9093, without credentials, query or fragment',
  parse(raw, ctx) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(raw);
    } catch {
      parsed = undefined;
    }
    const example = 'an http(s) base URL like http://127.0.0.1:9093';
    if (raw.includes('@') || parsed?.username || parsed?.password)
      throw bad(`${ctx.flag} holds a user name or password (not shown); pass ${example}, without credentials.`);
    if (!parsed || !['http:', 'https:'].includes(parsed.protocol) || parsed.hostname === '' || parsed.search || parsed.hash)
      throw bad(`${ctx.flag} must be ${example} (no query or fragment), not ${shown(raw)}.`);
    return raw;
  },
};

const DNS_NAME = /^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$/;

/** A DNS name like api.example.org; a numeric last label is no host name (RFC 3696): 999.1.1.1 is a mistyped IP. */
export function dnsNameProblem(name: string): string | undefined {
  if (!DNS_NAME.test(name)) return 'must be a DNS name like api.example.org';
  if (/(^|\.)\d+$/.test(name)) return 'must be a DNS name like api.example.org, not something that looks like an IP address';
  return undefined;
}

export interface HostName {
  type: 'DNS' | 'IP';
  value: string;
}

/**
 * A DNS name (a leading `*.` allowed: certificates) or an IP address, with an
 * optional `DNS:`/`IP:` prefix. An IPv6 zone id (fe80::1%eth0) names an
 * interface of one machine and has no place in a certificate or a URL.
 */
export function parseHost(raw: string, flag: string): HostName {
  const value = raw.replace(/^(DNS|IP):/i, '');
  if (value.includes('%')) throw bad(`${flag} ${shown(raw)} carries an IPv6 zone id (%...); pass the address without it.`);
  if (isIP(value)) return { type: 'IP', value };
  if (/^[\d.]+$/.test(value) || /(^|\.)\d+$/.test(value) || value.includes(':'))
    throw bad(`${flag} ${shown(raw)} looks like an IP address but is not one; pass a valid IPv4/IPv6 address or a DNS name.`);
  const name = value.toLowerCase();
  if (DNS_NAME.test(name.replace(/^\*\./, ''))) return { type: 'DNS', value: name };
  throw bad(`${flag} ${shown(raw)} is neither a DNS name nor an IP address; pass names like api.example.org or 10.0.0.5.`);
}

export const host: Kind<HostName> = {
  family: 'host',
  placeholder: '<name|ip>',
  summary: 'a DNS name or an IP address (no IPv6 zone id)',
  parse: (raw, ctx) => parseHost(raw, ctx.flag),
};

export const dnsName: Kind<string> = {
  family: 'dns-name',
  placeholder: '<name>',
  summary: 'a DNS name like api.example.org',
  parse(raw, ctx) {
    const problem = dnsNameProblem(raw.toLowerCase());
    if (problem) throw bad(`${ctx.flag} ${problem}, not ${shown(raw)}.`);
    return raw.toLowerCase();
  },
};

/** A name a consumer restricts (a docker volume, a kubeconfig context, a silence id). */
export function name(placeholder: string, pattern: RegExp, what: string): Kind<string> {
  return {
    family: 'name',
    placeholder,
    summary: what,
    parse(raw, ctx) {
      if (!pattern.test(raw)) throw bad(`${ctx.flag} must be ${what}, not ${shown(raw)}.`);
      return raw;
    },
  };
}

/** PostgreSQL's own databases: a restore into one of them would replace what the server runs on. */
export const PG_RESERVED_DATABASES = ['postgres', 'template0', 'template1'] as const;

export const pgDatabase: Kind<string> = {
  family: 'pg-identifier',
  placeholder: '<name>',
  summary: `a lowercase SQL identifier (letters, digits, _; at most 63), not ${PG_RESERVED_DATABASES.join(', ')}`,
  values: PG_RESERVED_DATABASES,
  parse(raw, ctx) {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(raw)) throw bad(`${ctx.flag} must be a lowercase SQL identifier (letters, digits, _; at most 63), not ${shown(raw)}.`);
    if ((PG_RESERVED_DATABASES as readonly string[]).includes(raw))
      throw bad(`${ctx.flag} ${raw} is one of PostgreSQL's own databases (${PG_RESERVED_DATABASES.join(', ')}); restore into another one.`);
    return raw;
  },
};

/** --set NAME=value: the name here; the value is the env schema's to judge (it says "from --set"). */
export const assignment: Kind<[string, string]> = {
  family: 'assignment',
  placeholder: '<NAME=value>',
  summary: 'NAME=value, NAME a variable of .env.example',
  ownHygiene: true,
  parse(raw, ctx) {
    const eq = raw.indexOf('=');
    const variable = eq > 0 ? raw.slice(0, eq) : raw;
    if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable))
      // The text may be a value pasted without its name: show it only when it is a plain name.
      throw bad(`${ctx.flag} expects NAME=value${/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(variable) ? `, got ${shown(variable)}` : ''}.`);
    // The value may be a secret: never shown. The env schema judges the rest of it.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
    if (/[\u0000-\u001f\u007f]/.test(raw)) throw bad(`${ctx.flag} ${variable} holds a control character (a newline or tab); pass the value on one line.`);
    return [variable, raw.slice(eq + 1)];
  },
};

/** Alertmanager API v2 matcher. */
export interface AlertMatcher {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual: boolean;
}

/**
 * Alertmanager matches with Go's RE2, anchored: no lookaround and no
 * backreferences, and a leading (?flags) group sets flags. The JavaScript
 * RegExp of the same text decides what it matches.
 */
export function alertRegex(source: string): RegExp | undefined {
  const flags = /^\(\?([imsU]+)\)/.exec(source);
  const body = flags ? source.slice(flags[0].length) : source;
  if (/\(\?<?[=!]|\\[1-9]|\(\?[a-zA-Z]/.test(body)) return undefined;
  try {
    return new RegExp(`^(?:${body})$`, `${flags?.[1]?.includes('i') ? 'i' : ''}${flags?.[1]?.includes('s') ? 's' : ''}`);
  } catch {
    return undefined;
  }
}

export const matcher: Kind<AlertMatcher> = {
  family: 'matcher',
  placeholder: '<name=value>',
  summary: 'name=value, name!=value, name=~regex or name!~regex (Alertmanager matcher)',
  parse(raw, ctx) {
    const match = /^([a-zA-Z_][a-zA-Z0-9_]*)(=~|!~|!=|=)(.*)$/.exec(raw);
    if (!match) throw bad(`${ctx.flag} must look like name=value, name!=value, name=~regex or name!~regex, not ${shown(raw)}.`);
    const [, label, op, value] = match as unknown as [string, string, string, string];
    const isRegex = op.endsWith('~');
    if (isRegex && !alertRegex(value)) throw bad(`${ctx.flag} ${shown(raw)}: ${shown(value)} is not a regular expression Alertmanager accepts.`);
    return { name: label, value, isRegex, isEqual: !op.startsWith('!') };
  },
};

// ---- Paths ----

type PathState = { type: 'file' } | { type: 'folder' } | { type: 'missing' } | { type: 'blocked'; by: string };

/** What is at `path`: a file, a folder, nothing, or nothing because a parent is a file. */
export function pathState(path: string): PathState {
  try {
    return { type: statSync(path).isDirectory() ? 'folder' : 'file' };
  } catch {
    for (let parent = dirname(path); parent !== dirname(parent); parent = dirname(parent)) {
      try {
        if (!statSync(parent).isDirectory()) return { type: 'blocked', by: parent };
        return { type: 'missing' };
      } catch {
        // this parent is missing too: look further up
      }
    }
    return { type: 'missing' };
  }
}

/** A path value: one line, no leading dash (a tool would read an option), resolved against the working folder. */
function pathValue(raw: string, ctx: KindContext): string {
  if (raw.startsWith('-')) throw bad(`${ctx.flag} ${shown(raw)} starts with a dash; to mean that path, write ./${raw}.`);
  return resolve(ctx.cwd, raw);
}

/** What a path kind refuses at each state of the path, as the rest of a sentence (a path below a file is always refused). */
type Refusals = Partial<Record<'file' | 'folder' | 'missing', string>>;

/** Checks the path a value names; returns it resolved against the working folder. */
function checkPath(raw: string, ctx: KindContext, refuse: Refusals): string {
  const path = pathValue(raw, ctx);
  const state = pathState(path);
  if (state.type === 'blocked')
    throw bad(`${ctx.flag} ${shown(raw)} is below ${state.by}, which is a file, not a folder.`, 'pass a path whose folders are folders');
  const refusal = refuse[state.type];
  if (refusal) throw bad(`${ctx.flag} ${shown(raw)} ${refusal}.`);
  return path;
}

function pathKind(family: KindFamily, placeholder: string, summary: string, refuse: Refusals): Kind<string> {
  return { family, placeholder, summary, parse: (raw, ctx) => checkPath(raw, ctx, refuse) };
}

export const existingFile = pathKind('existing-file', '<file>', 'an existing file', { folder: 'is a folder; pass a file', missing: 'does not exist' });

export const existingFolder = pathKind('existing-folder', '<dir>', 'an existing folder', { file: 'is a file; pass a folder', missing: 'does not exist' });

/** A folder that exists or will be created: never a file, and no parent is a file. */
export const folder = pathKind('folder', '<dir>', 'a folder (created when missing)', { file: 'is a file; pass a folder' });

/** A file to create: its folder exists, the file does not (it is never overwritten). */
export const newFile: Kind<string> = {
  family: 'new-file',
  placeholder: '<file>',
  summary: 'a new file in an existing folder (never overwritten)',
  parse(raw, ctx) {
    const path = checkPath(raw, ctx, { folder: 'is a folder; pass the path of a new file' });
    if (pathState(path).type === 'file') throw bad(`${ctx.flag} ${shown(raw)} already exists; it is never overwritten.`, 'edit it, or move it away first');
    if (pathState(dirname(path)).type !== 'folder') throw bad(`${ctx.flag} ${shown(raw)}: its folder does not exist; create it first.`);
    return path;
  },
};

/** A file given by path, or by name in a folder the script knows (a backup in BACKUP_DIR): never a folder; returned as given. */
export function fileOrName(where: string): Kind<string> {
  return {
    family: 'file-or-name',
    placeholder: '<file>',
    summary: `a file, or the name of one in ${where}`,
    parse(raw, ctx) {
      checkPath(raw, ctx, { folder: 'is a folder; pass a file' });
      return raw;
    },
  };
}

/**
 * The root a bundle is rendered into, as `<root>/<env>`: that folder must be
 * absent, empty or a previous bundle of ours. Anything else is refused and
 * never deleted. With the `readOnly` option given (render --check) the folder
 * is only read.
 */
export function output(readOnly: string): Kind<string> {
  return {
    family: 'output',
    placeholder: '<dir>',
    summary: `a folder whose <env> subfolder is absent, empty or a bundle rendered before (${MANIFEST}); nothing else is replaced`,
    parse(raw, ctx) {
      const root = checkPath(raw, ctx, { file: 'is a file; pass a folder' });
      const problem = ctx.given(readOnly) ? undefined : replaceProblem(join(root, ctx.env));
      if (problem)
        throw bad(
          `${ctx.flag} ${shown(raw)}: ${join(raw, ctx.env)} ${problem}; render replaces only a bundle it rendered, and deleted nothing.`,
          `move ${join(raw, ctx.env)} away, or pass another ${ctx.flag.split(' ')[0]}`,
        );
      return root;
    },
  };
}

/** Why `dir` is no rendered bundle of `env`, as the rest of a sentence after its name; undefined when it is one. */
export function bundleProblem(dir: string, env: EnvName): string | undefined {
  const state = pathState(dir);
  if (state.type === 'missing' || state.type === 'blocked') return `does not exist; render it with npx tsx scripts/render.ts --env ${env}`;
  if (state.type === 'file') return 'is a file, not a bundle folder';
  const manifest = readManifest(dir);
  if ('problem' in manifest) return `${manifest.problem}, so it is not a bundle rendered by render.ts; pass one such as dist/${env}`;
  if (manifest.env !== env) return `is a ${manifest.env} bundle (its ${MANIFEST} says so), not a ${env} one; pass dist/${env}, or --env ${manifest.env}`;
  return undefined;
}

/**
 * A folder rendered by us (its MANIFEST.json) for the env the command runs
 * with. A default that is not rendered yet is left to the script (a warning).
 */
export const bundle: Kind<string> = {
  family: 'bundle',
  placeholder: '<dir>',
  summary: `a bundle rendered for --env (${MANIFEST} present, its env the same)`,
  parse(raw, ctx) {
    const dir = pathValue(raw, ctx);
    if (ctx.fromDefault && pathState(dir).type === 'missing') return dir;
    const problem = bundleProblem(dir, ctx.env);
    if (problem) throw bad(`${ctx.flag} ${shown(raw)} ${problem}.`);
    return dir;
  },
};
