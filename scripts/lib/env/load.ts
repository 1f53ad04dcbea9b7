import { existsSync, readFileSync } from 'node:fs';
import { parse as parseDotenv } from 'dotenv';
import { BadInputError } from '../errors.js';
import { registerSecret } from '../log.js';
import { nonProductionDomainReason, weakSecretReason } from './policy.js';
import { type EnvValues, isVarName, SCHEMA, SECRET_NAMES, type VarName } from './schema.js';
import { defaultFor, type EnvName } from './spec.js';

/** Where a value came from. Precedence: flag > process env > file > default. */
export type Origin = { kind: 'flag' } | { kind: 'process' } | { kind: 'file'; file: string; line: number } | { kind: 'default' };

export interface EnvProblem {
  variable?: string;
  file?: string;
  line?: number;
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
}

/** rclone reads a remote's definition from RCLONE_CONFIG_<REMOTE>_<OPTION>; the env file may hold such lines. */
export const RCLONE_CONFIG_PREFIX = 'RCLONE_CONFIG_';
// Options that hold credentials: they belong in a 0600 file the remote names (key_file, shared_credentials_file).
const RCLONE_SECRET_OPTION =
  /_(PASS|PASSWORD|KEY_PEM|SECRET_ACCESS_KEY|SESSION_TOKEN|TOKEN|ACCOUNT_KEY|KEY|CLIENT_SECRET|SERVICE_ACCOUNT_CREDENTIALS|SSE_CUSTOMER_KEY)$/;

export function formatProblem(p: EnvProblem): string {
  const where = p.file ? `${p.file}${p.line ? `:${p.line}` : ''}: ` : '';
  return `${where}${p.variable ? `${p.variable} ` : ''}${p.message}`;
}

export class EnvError extends BadInputError {
  constructor(readonly problems: EnvProblem[]) {
    super(problems.map(formatProblem).join('\n'), 'fix the values above in the env file (see .env.example for every variable)');
    this.name = 'EnvError';
  }
}

interface FileEntry {
  value: string;
  line: number;
}

const ASSIGNMENT = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$/;

/** Reads NAME=value lines, keeping line numbers (dotenv parses each value). */
export function parseEnvFile(file: string, text: string): { entries: Map<string, FileEntry>; problems: EnvProblem[] } {
  const entries = new Map<string, FileEntry>();
  const problems: EnvProblem[] = [];
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
    const parsed = parseDotenv(`${name}=${match[2]}`);
    entries.set(name, { value: parsed[name] ?? '', line });
  });
  return { entries, problems };
}

function readEnvFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new BadInputError(`env file ${path} does not exist.`, 'create it with `npx tsx scripts/init-env.ts` or pass --env-file');
    }
    throw new BadInputError(`env file ${path} cannot be read (${code ?? 'unknown error'}).`, 'check its permissions');
  }
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
  if (explicitFile || env === 'prod' || existsSync(file)) {
    const parsed = parseEnvFile(file, readEnvFile(file));
    entries = parsed.entries;
    problems.push(...parsed.problems);
    fileRead = file;
  }

  const rclone: Record<string, string> = {};
  for (const [name, entry] of entries) {
    if (isVarName(name)) continue;
    if (name.startsWith(RCLONE_CONFIG_PREFIX)) {
      if (RCLONE_SECRET_OPTION.test(name))
        problems.push({
          variable: name,
          file,
          line: entry.line,
          message:
            'holds a credential, which must not sit in the env file; put it in a 0600 file the remote names (key_file for sftp, shared_credentials_file for S3).',
        });
      else rclone[name] = entry.value;
      continue;
    }
    const problem = { variable: name, file, line: entry.line, message: 'is not a known variable; remove it or check its spelling.' };
    (env === 'prod' ? problems : warnings).push(problem);
  }
  for (const name of Object.keys(options.overrides ?? {})) {
    if (!isVarName(name)) problems.push({ variable: name, message: 'given with --set is not a known variable.' });
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
    const where = whereOf(origin);
    if (raw === undefined) {
      problems.push({
        variable: name,
        ...(fileRead ? { file: fileRead } : {}),
        message: spec.secret ? 'is a required secret and is not set; generate one with scripts/init-env.ts.' : `is required in ${env} and is not set.`,
      });
      continue;
    }
    const result = spec.schema.safeParse(raw);
    if (!result.success) {
      const shown = spec.secret ? '' : ` (got "${raw}")`;
      problems.push({ variable: name, ...where, message: `${result.error.issues[0]?.message ?? 'is invalid'}${shown}.` });
      continue;
    }
    values[name] = result.data;
    if (spec.secret) {
      secrets[name] = raw;
      registerSecret(raw);
    }
  }

  if (env === 'prod') {
    const policy: EnvProblem[] = [];
    for (const name of SECRET_NAMES) {
      const value = secrets[name];
      const reason = value === undefined ? undefined : weakSecretReason(value);
      if (reason)
        policy.push({
          variable: name,
          ...whereOf(origins[name]),
          message: `${reason}; production needs a strong random value (scripts/init-env.ts makes one).`,
        });
    }
    const domain = values.DOMAIN;
    const domainReason = typeof domain === 'string' ? nonProductionDomainReason(domain) : undefined;
    if (domainReason) policy.push({ variable: 'DOMAIN', ...whereOf(origins.DOMAIN), message: `${domainReason}; production needs its real public name.` });
    (purpose === 'apply' ? problems : warnings).push(...policy);
  }

  if (problems.length > 0) throw new EnvError(problems);
  return { name: env, ...(fileRead ? { file: fileRead } : {}), values: values as EnvValues, origins, warnings, secrets, rclone };
}

function whereOf(origin: Origin): { file?: string; line?: number } {
  return origin.kind === 'file' ? { file: origin.file, line: origin.line } : {};
}
