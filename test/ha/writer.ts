import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { psql, SUPERUSER, track } from './native.js';

/**
 * A client that commits one row every ~100 ms through libpq (psycopg2, the
 * Python Patroni itself uses) and records every acknowledged commit. A failed
 * statement is not acknowledged; the client reconnects with the same
 * connection string, which may name several hosts (target_session_attrs).
 */
const WRITER = `
import sys, time, psycopg2
dsn, out = sys.argv[1], open(sys.argv[2], 'a', buffering=1)
seq, conn = 0, None
while True:
    seq += 1
    began = time.time()
    try:
        if conn is None or conn.closed:
            conn = psycopg2.connect(dsn)
        with conn.cursor() as cur:
            cur.execute('INSERT INTO ha_probe (seq) VALUES (%s)', (seq,))
        conn.commit()
        out.write('ack %d %.3f\\n' % (seq, time.time()))
    except Exception as error:
        first = (str(error).strip().splitlines() or [''])[0]
        out.write('err %d %.3f %s: %s\\n' % (seq, time.time(), type(error).__name__, first))
        try:
            conn.close()
        except Exception:
            pass
        conn = None
    time.sleep(max(0.0, 0.1 - (time.time() - began)))
`;

export const PROBE_TABLE = 'CREATE TABLE IF NOT EXISTS ha_probe (id bigserial PRIMARY KEY, seq integer NOT NULL, at timestamptz NOT NULL DEFAULT now())';

export interface WriteLog {
  acked: { seq: number; at: number }[];
  errors: { seq: number; at: number; message: string }[];
}

export interface Writer {
  child: ChildProcess;
  file: string;
  read(): WriteLog;
  stop(): Promise<WriteLog>;
}

/** libpq keyword/value string: several hosts, the writable one chosen at each connect. */
export function multiHostDsn(hosts: string[], port: number): string {
  return [
    `host=${hosts.join(',')}`,
    `port=${hosts.map(() => port).join(',')}`,
    `dbname=${SUPERUSER.database}`,
    `user=${SUPERUSER.user}`,
    'target_session_attrs=read-write',
    'connect_timeout=2',
  ].join(' ');
}

export function startWriter(dsn: string, file: string): Writer {
  const out = openSync(`${file}.stderr`, 'a');
  // The password through the environment, never argv.
  const child = spawn('/usr/bin/python3', ['-c', WRITER, dsn, file], {
    detached: true,
    stdio: ['ignore', 'ignore', out],
    env: { ...process.env, PGPASSWORD: SUPERUSER.password },
  });
  closeSync(out);
  track(child);
  const read = (): WriteLog => {
    const log: WriteLog = { acked: [], errors: [] };
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return log;
    }
    for (const line of text.split('\n')) {
      const [kind, seq, at, ...rest] = line.split(' ');
      if (kind === 'ack') log.acked.push({ seq: Number(seq), at: Number(at) * 1000 });
      if (kind === 'err') log.errors.push({ seq: Number(seq), at: Number(at) * 1000, message: rest.join(' ') });
    }
    return log;
  };
  return {
    child,
    file,
    read,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      return read();
    },
  };
}

/** The acknowledged rows missing on `host` (0 lost: an empty list). */
export function lostRows(log: WriteLog, host: string): number[] {
  const seen = new Set(psql(host, 5432, 'SELECT seq FROM ha_probe').out.split('\n').filter(Boolean).map(Number));
  return log.acked.filter((a) => !seen.has(a.seq)).map((a) => a.seq);
}

/** The longest time between two acknowledged commits after `from` (ms). */
export function longestPause(log: WriteLog, from: number): number {
  const after = log.acked.filter((a) => a.at >= from);
  let longest = 0;
  for (let i = 1; i < after.length; i++) longest = Math.max(longest, (after[i]?.at as number) - (after[i - 1]?.at as number));
  return longest;
}
