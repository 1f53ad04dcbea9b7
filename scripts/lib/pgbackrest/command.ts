import { type Captured, type Command, capture, describeCommand } from '../backup/process.js';
import { BadInputError, OperationError } from '../errors.js';

/** The two ends of the mutual-TLS setup: the database host (archive-push, restore) and the repository host (backup, verify, expire). */
export type PgbackrestSide = 'db' | 'repo';

/** Compose services that run pgBackRest: `pgbackrest` beside postgres in the stack, `pgbackrest-repo` in repo-host/docker-compose.yml. */
export const PGBACKREST_SERVICES: Record<PgbackrestSide, string> = { db: 'pgbackrest', repo: 'pgbackrest-repo' };

/**
 * Where a pgbackrest command runs: the binary on this host (a repository host
 * with Debian's package; it reads /etc/pgbackrest/pgbackrest.conf or
 * PGBACKREST_CONFIG and PGBACKREST_CONFIG_INCLUDE_PATH itself), or inside a
 * compose service through the engine (`compose exec -T`, DOCKER_HOST may be remote).
 */
export interface PgbackrestRunner {
  side: PgbackrestSide;
  where: string;
  command(args: string[]): Command;
}

export function localRunner(side: PgbackrestSide, file = 'pgbackrest'): PgbackrestRunner {
  return { side, where: 'this host', command: (args) => ({ file, args }) };
}

export function composeExecRunner(side: PgbackrestSide, compose: string[], project: string, composeFile: string): PgbackrestRunner {
  const [file, ...base] = compose;
  const service = PGBACKREST_SERVICES[side];
  return {
    side,
    where: `compose service ${service} (${composeFile})`,
    command: (args) => ({ file: file as string, args: [...base, '-p', project, '-f', composeFile, 'exec', '-T', service, 'pgbackrest', ...args] }),
  };
}

/** `--stanza=<stanza> <command> <options>`: pgBackRest wants the stanza before the command name. */
export function stanzaArgs(stanza: string, command: string, options: string[] = []): string[] {
  return [`--stanza=${stanza}`, command, ...options];
}

/**
 * pgBackRest prints `ERROR: [code]: message`; the exit code is that code. "unable to find
 * primary cluster" only sums up the `WARN: unable to check pgN: <cause>` lines before it,
 * so their causes go along.
 */
function errorLine(output: string): string {
  const lines = output.split('\n').filter((l) => /ERROR: \[\d+\]/.test(l));
  const line = (lines.at(-1) ?? output.trim().split('\n').at(-1) ?? '').replace(/^.*?ERROR: /, '').trim();
  const causes = [...output.matchAll(/WARN: unable to check (pg\d+): (.*)/g)].map((m) => `${m[1]}: ${(m[2] as string).trim()}`);
  return causes.length > 0 ? `${line} (${causes.join('; ')})` : line;
}

/**
 * One sentence per failure an operator can act on: configuration problems
 * (missing certificate, wrong passphrase, version mismatch, refused client)
 * are bad input (exit 2); an unreachable host or a failed operation is exit 1.
 * Only the error text counts: pgBackRest's INFO lines echo option names.
 */
export function classifyPgbackrestError(text: string, where: string, fallback: string): Error {
  const detail = text.split('\n')[0]?.trim() ?? '';
  const missing = /unable to open (?:missing )?file '([^']+\.(?:pem|key|crt))'/.exec(detail);
  if (missing)
    return new BadInputError(
      `pgBackRest cannot read the TLS file ${missing[1]} (${where}).`,
      'run generate-certs.ts --profile pgbackrest and mount the tls folder',
    );
  if (/key file .* must be owned|key file .* must not have|unable to load (?:cert|key) file|unable to read key file/i.test(detail))
    return new BadInputError(
      `pgBackRest cannot use its TLS certificate or key (${where}): ${detail}`,
      'key.pem must be owned by root (group 999, mode 0640) or by the user running pgbackrest',
    );
  // A wrong passphrase decrypts the info files into garbage: pgBackRest then reports a format error.
  if (/cipher header invalid|unable to flush|unable to decrypt|bad decrypt|cipher-pass|outside of section|unable to load info file/i.test(text))
    return new BadInputError(
      `the pgBackRest repository passphrase is missing or wrong (${where}): the repository's files cannot be decrypted.`,
      'both hosts need the same PGBACKREST_CIPHER_PASS in secrets/pgbackrest_cipher.conf',
    );
  if (/expected value '[^']*' for '(?:version|pgBackRest version)'|version mismatch|requires version/i.test(detail))
    return new BadInputError(`the two hosts run different pgBackRest versions: ${detail}`, 'install the same PGBACKREST_DEB_VERSION on both hosts');
  if (
    /access denied|not authorized|certificate verify failed|unable to find hostname|tlsv1 alert|alert certificate|unknown ca|bad certificate|is not in tls-server-auth|client certificate/i.test(
      detail,
    )
  )
    return new BadInputError(
      `pgBackRest TLS authentication failed (${where}): ${detail}`,
      'check the CA, the certificate CNs and tls-server-auth on both hosts',
    );
  if (/unable to (?:connect|get address)|connection refused|timeout|unable to resolve/i.test(detail))
    return new OperationError(`cannot reach the other pgBackRest host (${where}): ${detail}`, 'is `pgbackrest server` running there and the port open?');
  if (/unable to restore while PostgreSQL is running/i.test(detail))
    return new BadInputError(
      `PostgreSQL is running on the data folder this restore targets (${where}).`,
      'restore into a new volume or folder, or stop it first',
    );
  if (/^\[03\d\]|option/i.test(detail)) return new BadInputError(`pgBackRest refuses its configuration (${where}): ${detail}`);
  return new OperationError(`${fallback}: ${detail || 'no error message'}`);
}

export function pgbackrestError(result: Captured, command: Command, runner: PgbackrestRunner): Error {
  const detail = errorLine(`${result.stderr}\n${result.stdout}`);
  return classifyPgbackrestError(detail, runner.where, `${describeCommand(command)} failed (exit ${result.code ?? result.signal})`);
}

/** Runs a pgbackrest command to completion; throws a classified error when it fails. */
export async function runPgbackrest(runner: PgbackrestRunner, args: string[]): Promise<Captured> {
  const command = runner.command(args);
  let result: Captured;
  try {
    result = await capture(command);
  } catch (error) {
    throw new OperationError(`cannot start ${command.file} (${runner.where}): ${(error as Error).message}`, 'install pgbackrest, or run through the engine');
  }
  if (result.code !== 0) throw pgbackrestError(result, command, runner);
  return result;
}

/** `pgBackRest 2.45` → `2.45`. */
export async function pgbackrestVersion(runner: PgbackrestRunner): Promise<string> {
  const result = await runPgbackrest(runner, ['version']);
  const m = /pgBackRest (\S+)/.exec(result.stdout);
  if (!m) throw new OperationError(`unexpected \`pgbackrest version\` output (${runner.where}): ${result.stdout.trim()}`);
  return m[1] as string;
}

/** Both hosts must run the same pgBackRest: a mismatch is refused before anything runs. */
export async function requireSameVersion(a: PgbackrestRunner, b: PgbackrestRunner): Promise<string> {
  const [va, vb] = await Promise.all([pgbackrestVersion(a), pgbackrestVersion(b)]);
  if (va !== vb)
    throw new BadInputError(
      `pgBackRest ${va} on ${a.where} but ${vb} on ${b.where}: both hosts must run the same version.`,
      'set the same PGBACKREST_DEB_VERSION and rebuild',
    );
  return va;
}
