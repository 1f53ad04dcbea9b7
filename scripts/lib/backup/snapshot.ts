import type { ChildProcess } from 'node:child_process';
import { OperationError } from '../errors.js';
import { type PgRunner, pgError, psql, quoteIdent } from './pg.js';
import { capture, collectStderr, spawnCommand } from './process.js';

/**
 * Per-table row counts of every ordinary table, as `schema.table|count`
 * lines; psql's \gexec runs the generated statements.
 */
export const ROW_COUNT_SQL = `SELECT format('SELECT %L || ''|'' || count(*) FROM %I.%I', n.nspname || '.' || c.relname, n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
ORDER BY n.nspname, c.relname
\\gexec
`;

export function parseRowCounts(text: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const bar = line.lastIndexOf('|');
    if (bar > 0) counts[line.slice(0, bar)] = Number(line.slice(bar + 1));
  }
  return counts;
}

/** Row counts in `database` right now. */
export async function rowCounts(runner: PgRunner, database: string): Promise<Record<string, number>> {
  const result = await capture(runner.command('psql', ['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-f', '-'], database), ROW_COUNT_SQL);
  if (result.code !== 0) throw pgError(result.stderr, runner.connection, database);
  return parseRowCounts(result.stdout);
}

/**
 * A psql session holding a REPEATABLE READ transaction whose snapshot
 * pg_dump --snapshot shares, so the row counts taken here are exactly the
 * rows in the dump.
 */
export class SnapshotSession {
  private readonly child: ChildProcess;
  private output = '';
  private readonly stderr: () => string;

  private constructor(private readonly runner: PgRunner) {
    this.child = spawnCommand(runner.command('psql', ['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1']), { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.output += d;
    });
    this.stderr = collectStderr(this.child);
    this.child.stdin?.on('error', () => {
      // psql died: run() rejects on its close with psql's own reason
    });
  }

  static async open(runner: PgRunner): Promise<{ session: SnapshotSession; snapshot: string }> {
    const session = new SnapshotSession(runner);
    const out = await session.run('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\nSELECT pg_export_snapshot();\n');
    return { session, snapshot: out.trim() };
  }

  rowCounts(): Promise<Record<string, number>> {
    return this.run(ROW_COUNT_SQL).then(parseRowCounts);
  }

  close(): void {
    this.child.stdin?.end('COMMIT;\n');
  }

  /** Sends statements and resolves with their output, up to a marker line. */
  private run(sql: string): Promise<string> {
    const marker = `__healthmate_done_${Math.random().toString(36).slice(2)}__`;
    const start = this.output.length;
    return new Promise((resolve, reject) => {
      const onData = () => {
        const end = this.output.indexOf(`${marker}\n`, start);
        if (end < 0) return;
        this.child.stdout?.off('data', onData);
        this.child.off('close', onClose);
        resolve(this.output.slice(start, end));
      };
      const onClose = () => {
        this.child.stdout?.off('data', onData);
        reject(this.stderr() ? pgError(this.stderr(), this.runner.connection) : new OperationError('psql ended before the snapshot was taken.'));
      };
      this.child.stdout?.on('data', onData);
      this.child.once('close', onClose);
      this.child.stdin?.write(`${sql}\\echo ${marker}\n`);
    });
  }
}

/** Creates an empty scratch database and returns a function that drops it. */
export async function createScratchDatabase(runner: PgRunner, name: string): Promise<() => Promise<void>> {
  await psql(runner, `CREATE DATABASE ${quoteIdent(name)}`);
  return async () => {
    await psql(runner, `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  };
}
