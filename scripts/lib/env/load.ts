import { lstatSync, readFileSync } from 'node:fs';
import { parse as parseDotenv } from 'dotenv';
import { BadInputError } from '../errors.js';
import { registerSecret } from '../log.js';
import { buildInventory, type HostLine, type Inventory, isHostVariable } from './inventory.js';
import { nonProductionDomainReason, weakSecretReason } from './policy.js';
import { type EnvValues, isVarName, SCHEMA, SECRET_NAMES, type VarName } from './schema.js';
import { defaultFor, type EnvName, NODE20_ENV_FILE_NOTE, parseVar } from './spec.js';

/** Where a value came from. Precedence: flag > process env > file > default. */
export type Origin = { kind: 'flag' } | { kind: 'process' } | { kind: 'file'; file: string; line: number } | { kind: 'default' };

export interface EnvProblem {
  variable?: string;
  file?: string;
  line?: number;
  /** Where a value that is not from a file came from: "--set", "the process environment". */
  source?: string;
  message: string;
}

/**
 * What the values will be used for. `apply` changes a real system, so in prod
 * placeholder secrets and reserved domains are errors; `plan` (render, check,
 * --dry-run) reports them as warnings so the example values serve for a dry run.
 */
export type Purpose = 'apply' | 'plan';

export interface LoadOptions {
  env: EnvName;
  /** Path given by --env-file; when absent `.env.<env>` in the working directory. */
  envFile?: string;
  /** NAME=value pairs from --set flags. */
  overrides?: Record<string, string>;
  /** The env file's text when it is not on disk yet (init-env checks what it is about to write). */
  fileText?: string;
  /** How problems name where an override came from (default "--set"). */
  overrideSource?: string;
  processEnv?: NodeJS.ProcessEnv;
  purpose: Purpose;
}

export interface LoadedEnv {
  name: EnvName;
  /** The env file actually read, if any. */
  file?: string;
  values: EnvValues;
  origins: Record<VarName, Origin>;
  warnings: EnvProblem[];
  /** Secret name → value; every value is registered with the logger for redaction. */
  secrets: Partial<Record<VarName, string>>;
  /** RCLONE_CONFIG_* lines of the env file: rclone's own env form of the offsite remote, passed to rclone as is. */
  rclone?: Record<string, string>;
  /** The hosts the deployment spans (HOST_* lines; one host with both roles when there are none). */
  inventory: Inventory;
}

/** rclone reads a remote's definition from RCLONE_CONFIG_<REMOTE>_<OPTION>; the env file may hold such lines. */
export const RCLONE_CONFIG_PREFIX = 'RCLONE_CONFIG_';
/**
 * rclone options that hold credentials: they belong in a 0600 file the remote names (key_file,
 * shared_credentials_file). Matched by the end of the option name, as rclone 1.60 names them:
 * its obscured options (pass, password, password2, api_password, key_file_pass, library_key,
 * secret, ...) and the plain ones (token, access_token, client_secret, secret_access_key,
 * session_token, key, key_pem, sas_url, service_account_credentials, sse_customer_key[_base64],
 * authorization, ...). Not credentials: key_file, pubkey_file, shared_credentials_file,
 * access_key_id, token_url, bearer_token_command, ask_password (a yes/no switch).
 */
const RCLONE_SECRET_OPTION = /_(PASS|PASSWORD|SECRET|TOKEN|KEY|CREDENTIALS)\d*$|_KEY_(PEM|BASE64|MD5)$|_SAS_URL$|_AUTHORIZATION$/;
const RCLONE_PLAIN_OPTION = /_ASK_PASSWORD$/;

/** Whether an RCLONE_CONFIG_<REMOTE>_<OPTION> variable holds a credential. */
export function isRcloneCredential(name: string): boolean {
  return RCLONE_SECRET_OPTION.test(name) && !RCLONE_PLAIN_OPTION.test(name);
}

export function formatProblem(p: EnvProblem): string {
  const where = p.file ? `${p.file}${p.line ? `:${p.line}` : ''}: ` : '';
  return `${where}${p.variable ? `${p.variable} ` : ''}${p.source ? `(from ${p.source}) ` : ''}${p.message}`;
}

export class EnvError extends BadInputError {
  constructor(
    readonly problems: EnvProblem[],
    hint = 'fix the values above where they came from (see .env.example for every variable)',
  ) {
    super(problems.map(formatProblem).join('\n'), hint);
    this.name = 'EnvError';
  }
}

interface FileEntry {
  value: string;
  line: number;
}

// `.` stops at a carriage return; a CR inside a value must parse, so that the value check refuses it by name.
const ASSIGNMENT = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=((?:.|\r)*)$/;

export interface Duplicate {
  variable: string;
  lines: [number, number];
}

/** Reads NAME=value lines, keeping line numbers (dotenv parses each value). */
export function parseEnvFile(file: string, text: string): { entries: Map<string, FileEntry>; problems: EnvProblem[]; duplicates: Duplicate[] } {
  const entries = new Map<string, FileEntry>();
  const problems: EnvProblem[] = [];
  const duplicates: Duplicate[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const match = ASSIGNMENT.exec(trimmed);
    if (!match) {
      problems.push({ file, line, message: `line ${line} is not NAME=value; fix or remove it.` });
      return;
    }
    const name = match[1] as string;
    const written = match[2] as string;
    // dotenv takes a lone carriage return for a line end and would cut the value there:
    // keep the text as written, so the value check refuses its control character.
    const value = written.includes('\r') ? written : (parseDotenv(`${name}=${written}`)[name] ?? '');
    const earlier = entries.get(name);
    if (earlier) duplicates.push({ variable: name, lines: [earlier.line, line] });
    entries.set(name, { value, line });
  });
  return { entries, problems, duplicates };
}

/** Anything at `path`, a symlink that leads nowhere included: that is a broken env file, not "no env file". */
function present(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Reads an env file as strict UTF-8: a byte that is not UTF-8 would otherwise become U+FFFD silently. */
export function readEnvFile(path: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new BadInputError(`env file ${path} does not exist.`, `create it with \`npx tsx scripts/init-env.ts\` or pass --env-file. ${NODE20_ENV_FILE_NOTE}`);
    }
    if (code === 'EISDIR') throw new BadInputError(`env file ${path} is a folder, not a file.`, `pass the env file itself. ${NODE20_ENV_FILE_NOTE}`);
    if (code === 'ELOOP') throw new BadInputError(`env file ${path} is a symlink loop (ELOOP).`, 'point the link at a real file, or remove it');
    throw new BadInputError(`env file ${path} cannot be read (${code ?? 'unknown error'}).`, 'check its permissions');
  }
  return decodeUtf8(path, bytes);
}

function decodeUtf8(path: string, bytes: Buffer): string {
  const strict = new TextDecoder('utf-8', { fatal: true });
  try {
    return strict.decode(bytes);
  } catch {
    const lines = bytes.toString('latin1').split('\n');
    let offset = 0;
    for (const [index, text] of lines.entries()) {
      try {
        strict.decode(bytes.subarray(offset, offset + text.length));
      } catch {
        throw new EnvError([{ file: path, line: index + 1, message: `line ${index + 1} is not valid UTF-8; save the file as UTF-8.` }]);
      }
      offset += text.length + 1;
    }
    throw new EnvError([{ file: path, message: 'is not valid UTF-8; save it as UTF-8.' }]);
  }
}

/** Longest value any variable takes (PATH_MAX); names have their consumers' tighter limits in the schema. */
export const MAX_VALUE_LENGTH = 4096;
/**
 * Characters no value may hold, because its target formats cannot: control
 * characters (a newline would add a line to the env file or a config) and
 * U+FFFD (what invalid UTF-8 in the process environment or argv became).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL = /[\u0000-\u001f\u007f\ufffd]/;
/**
 * Non-secret values are substituted into YAML (single- and double-quoted),
 * JSON, nginx, postgresql.conf, shell lines and compose files (where `$` starts
 * an interpolation). None of the variables is a name, host, path, URL or
 * address that needs a quote, backslash or `$`, so the schema forbids them
 * instead of quoting per format. Secrets never reach a config (files only).
 */
const QUOTES = /['"`\\$]/;

/** Why a value cannot travel anywhere (a config, a file, a child's environment). */
function unusableValueProblem(raw: string): string | undefined {
  if (raw.length > MAX_VALUE_LENGTH) return `is ${raw.length} characters long; at most ${MAX_VALUE_LENGTH}.`;
  const control = CONTROL.exec(raw);
  if (!control) return undefined;
  return control[0] === '\ufffd'
    ? 'holds invalid UTF-8 (or U+FFFD); set it as UTF-8 text.'
    : `holds a control character (code ${control[0].charCodeAt(0)}, e.g. a newline or tab); remove it.`;
}

/** Why a raw value cannot be used at all, whatever its variable's schema. */
function rawValueProblem(raw: string, secret: boolean): string | undefined {
  const unusable = unusableValueProblem(raw);
  if (unusable) return unusable;
  if (secret && raw === '') return 'is an empty secret; set a value (scripts/init-env.ts makes strong ones).';
  if (!secret && QUOTES.test(raw)) return 'holds a quote, backslash or $, which the configs it is rendered into cannot hold safely; remove it.';
  return undefined;
}

/** A value for a message: never longer than a line. */
function shown(raw: string): string {
  return raw.length > 60 ? `${raw.slice(0, 57)}...` : raw;
}

export function loadEnv(options: LoadOptions): LoadedEnv {
  const { env, purpose } = options;
  const processEnv = options.processEnv ?? process.env;
  const explicitFile = options.envFile !== undefined;
  const file = options.envFile ?? `.env.${env}`;
  const problems: EnvProblem[] = [];
  const warnings: EnvProblem[] = [];

  let entries = new Map<string, FileEntry>();
  let fileRead: string | undefined;
  // Dev runs on defaults alone; prod, or a file named on the command line, must exist.
  if (options.fileText !== undefined || explicitFile || env === 'prod' || present(file)) {
    const parsed = parseEnvFile(file, options.fileText ?? readEnvFile(file));
    entries = parsed.entries;
    problems.push(...parsed.problems);
    fileRead = file;
    for (const d of parsed.duplicates) {
      const problem = {
        variable: d.variable,
        file,
        line: d.lines[1],
        message: `is set twice, on lines ${d.lines[0]} and ${d.lines[1]} (the last one wins); remove one.`,
      };
      (env === 'prod' ? problems : warnings).push(problem);
    }
  }

  const rclone: Record<string, string> = {};
  const hostLines: HostLine[] = [];
  for (const [name, entry] of entries) {
    if (isVarName(name)) continue;
    if (isHostVariable(name)) {
      // --set HOST_X=… replaces the file's line.
      if (options.overrides?.[name] === undefined) hostLines.push({ variable: name, value: entry.value, where: { file, line: entry.line } });
      continue;
    }
    if (name.startsWith(RCLONE_CONFIG_PREFIX)) {
      const unusable = unusableValueProblem(entry.value);
      if (isRcloneCredential(name))
        problems.push({
          variable: name,
          file,
          line: entry.line,
          message:
            'holds a credential, which must not sit in the env file; put it in a 0600 file the remote names (key_file for sftp, shared_credentials_file for S3).',
        });
      else if (unusable) problems.push({ variable: name, file, line: entry.line, message: unusable });
      else rclone[name] = entry.value;
      continue;
    }
    const problem = { variable: name, file, line: entry.line, message: 'is not a known variable; remove it or check its spelling.' };
    (env === 'prod' ? problems : warnings).push(problem);
  }
  for (const [name, value] of Object.entries(options.overrides ?? {})) {
    if (isHostVariable(name)) hostLines.push({ variable: name, value, where: { source: options.overrideSource ?? '--set' } });
    else if (!isVarName(name)) problems.push({ variable: name, source: options.overrideSource ?? '--set', message: 'is not a known variable.' });
  }

  const values: Record<string, unknown> = {};
  const origins = {} as Record<VarName, Origin>;
  const secrets: Partial<Record<VarName, string>> = {};

  for (const name of Object.keys(SCHEMA) as VarName[]) {
    const spec = SCHEMA[name];
    const fromFile = entries.get(name);
    let raw: string | undefined;
    let origin: Origin;
    if (options.overrides?.[name] !== undefined) {
      raw = options.overrides[name];
      origin = { kind: 'flag' };
    } else if (processEnv[name] !== undefined) {
      raw = processEnv[name];
      origin = { kind: 'process' };
    } else if (fromFile) {
      raw = fromFile.value;
      origin = { kind: 'file', file, line: fromFile.line };
    } else {
      raw = defaultFor(spec, env);
      origin = { kind: 'default' };
    }
    origins[name] = origin;
    const where = whereOf(origin, options.overrideSource);
    if (raw === undefined) {
      problems.push({
        variable: name,
        ...(fileRead ? { file: fileRead } : {}),
        message: spec.secret ? 'is a required secret and is not set; generate one with scripts/init-env.ts.' : `is required in ${env} and is not set.`,
      });
      continue;
    }
    const rawProblem = rawValueProblem(raw, spec.secret);
    if (rawProblem) {
      problems.push({ variable: name, ...where, message: rawProblem });
      continue;
    }
    const result = parseVar(spec, raw, env);
    if (!result.ok) {
      const got = spec.secret ? '' : ` (got "${shown(raw)}")`;
      problems.push({ variable: name, ...where, message: `${result.message}${got}.` });
      continue;
    }
    values[name] = result.value;
    if (spec.secret) {
      secrets[name] = raw;
      registerSecret(raw);
    }
  }

  for (const line of hostLines) {
    const rawProblem = rawValueProblem(line.value, false);
    if (rawProblem) problems.push({ variable: line.variable, ...line.where, message: rawProblem });
  }
  const hosts = buildInventory(
    hostLines.filter((line) => !rawValueProblem(line.value, false)),
    env,
  );
  problems.push(...hosts.problems);
  warnings.push(...hosts.warnings);

  if (env === 'prod') {
    const policy: EnvProblem[] = [];
    for (const name of SECRET_NAMES) {
      const value = secrets[name];
      const reason = value === undefined ? undefined : weakSecretReason(value);
      if (reason)
        policy.push({
          variable: name,
          ...whereOf(origins[name], options.overrideSource),
          message: `${reason}; production needs a strong random value (scripts/init-env.ts makes one).`,
        });
    }
    const domain = values.DOMAIN;
    const domainReason = typeof domain === 'string' ? nonProductionDomainReason(domain) : undefined;
    if (domainReason)
      policy.push({
        variable: 'DOMAIN',
        ...whereOf(origins.DOMAIN, options.overrideSource),
        message: `${domainReason}; production needs its real public name.`,
      });
    (purpose === 'apply' ? problems : warnings).push(...policy);
  }

  if (problems.length > 0) throw new EnvError(problems);
  return { name: env, ...(fileRead ? { file: fileRead } : {}), values: values as EnvValues, origins, warnings, secrets, rclone, inventory: hosts.inventory };
}

function whereOf(origin: Origin, overrideSource = '--set'): { file?: string; line?: number; source?: string } {
  if (origin.kind === 'file') return { file: origin.file, line: origin.line };
  if (origin.kind === 'flag') return { source: overrideSource };
  if (origin.kind === 'process') return { source: 'the process environment' };
  return {};
}
