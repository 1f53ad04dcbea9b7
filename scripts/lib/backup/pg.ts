import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { privateTempDir } from '../cleanup.js';
import { BadInputError, OperationError } from '../errors.js';
import { findTool } from '../tools.js';
import { type Captured, type Command, capture } from './process.js';

export interface PgConnection {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

/**
 * Where PostgreSQL client tools run: on this host against BACKUP_DB_HOST
 * (password from a 0600 PGPASSFILE), or inside the stack's postgres
 * container through `docker compose exec -T` (local socket, no password).
 */
export interface PgRunner {
  kind: 'direct' | 'compose';
  connection: PgConnection;
  /** A client tool invocation; `database` overrides the connection's. */
  command(tool: string, args: string[], database?: string): Command;
}

function escapePassfileField(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
}

/** A 0600 PGPASSFILE in a private temp folder, removed on every exit (Ctrl-C and kill -9 included). */
export function createPassfile(connection: PgConnection): string {
  const file = join(privateTempDir('healthmate-pgpass-').path, 'pgpass');
  writeFileSync(file, `*:*:*:${escapePassfileField(connection.user)}:${escapePassfileField(connection.password)}\n`, { mode: 0o600 });
  return file;
}

function pgToolPath(tool: string): string {
  const path = findTool(tool);
  if (!path) throw new OperationError(`${tool} is not installed on this host.`, 'install postgresql-client-15 (or run with --compose)');
  return path;
}

export function directRunner(connection: PgConnection): PgRunner {
  const passfile = connection.password ? createPassfile(connection) : undefined;
  const env: NodeJS.ProcessEnv = {
    PGHOST: connection.host,
    PGPORT: String(connection.port),
    PGUSER: connection.user,
    PGCONNECT_TIMEOUT: '10',
    PGAPPNAME: 'healthmate-backup',
    ...(passfile ? { PGPASSFILE: passfile } : {}),
    // A password from the caller's environment would bypass the passfile.
    PGPASSWORD: undefined,
  };
  return {
    kind: 'direct',
    connection,
    command: (tool, args, database) => ({ file: pgToolPath(tool), args: [...args, ...(database === '' ? [] : ['-d', database ?? connection.database])], env }),
  };
}

/** Compose v2 (`docker compose`) when present, else docker-compose v1. */
export async function composeCommand(): Promise<string[]> {
  const docker = findTool('docker');
  if (docker) {
    const probe = await capture({ file: docker, args: ['compose', 'version'] });
    if (probe.code === 0) return [docker, 'compose'];
  }
  const v1 = findTool('docker-compose');
  if (v1) return [v1];
  throw new OperationError('neither `docker compose` nor docker-compose is installed.', 'install docker.io and docker-compose');
}

/** Runs the client tools inside the running stack's postgres container (`compose -p <project> -f <file> exec -T`). */
export async function composeRunner(connection: PgConnection, composeFile: string, project: string): Promise<PgRunner> {
  const [file, ...base] = await composeCommand();
  return {
    kind: 'compose',
    connection,
    command: (tool, args, database) => ({
      file: file as string,
      args: [
        ...base,
        '-p',
        project,
        '-f',
        composeFile,
        'exec',
        '-T',
        'postgres',
        tool,
        '-U',
        connection.user,
        ...args,
        ...(database === '' ? [] : ['-d', database ?? connection.database]),
      ],
    }),
  };
}

/**
 * Turns a client error into the error the user must see: bad credentials or
 * an unknown database are bad input (exit 2), an unreachable server is an
 * operation failure (exit 1).
 */
export function pgError(stderr: string, connection: PgConnection, database = connection.database): Error {
  const text = stderr.trim();
  if (/database ".*" does not exist/.test(text))
    return new BadInputError(`database "${database}" does not exist on ${connection.host}:${connection.port}.`, 'check POSTGRES_DB in the env file');
  if (/password authentication failed|no password supplied|role ".*" does not exist/.test(text))
    return new BadInputError(
      `PostgreSQL refused user "${connection.user}" on ${connection.host}:${connection.port} (wrong password or unknown role).`,
      'check POSTGRES_USER and POSTGRES_PASSWORD in the env file',
    );
  if (/could not connect|Connection refused|No such file or directory|timeout expired|could not translate host name/.test(text))
    return new OperationError(`cannot connect to PostgreSQL at ${connection.host}:${connection.port}: ${lastLine(text)}`, 'is the database running?');
  return new OperationError(`PostgreSQL failed: ${lastLine(text) || 'no error message'}`);
}

function lastLine(text: string): string {
  return (
    text
      .split('\n')
      .filter(Boolean)
      .at(-1)
      ?.replace(/^\S+: error: /, '') ?? ''
  );
}

/** Runs one SQL statement with psql, returning unaligned tuples; throws pgError on failure. */
export async function psql(runner: PgRunner, sql: string, database?: string): Promise<string> {
  const result: Captured = await capture(runner.command('psql', ['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], database));
  if (result.code !== 0) throw pgError(result.stderr, runner.connection, database);
  return result.stdout.trim();
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
