/**
 * Load generator that behaves like a real HTTP client (RFC 9110 §9.2.2): keep-alive
 * connections, and ONE retry (over a new connection) of an idempotent request only when a
 * reused connection closed before any response byte arrived. Every other error,
 * every non-2xx status and every timeout counts as a failure. The raw figure
 * (as if there were no such retry) is reported too, and when each failure happened.
 *
 * Runs as its own process (the tests block on spawnSync while deploying):
 *   tsx loadgen.ts --url https://host:port/path --ca ca.pem --connect 127.0.0.1 [--concurrency 4] [--pause-ms 10]
 * On SIGTERM it stops, waits for requests in flight and prints a JSON LoadReport on stdout.
 * Its stdin is a pipe from the test: when the test process dies (a killed run, a timed-out
 * worker), the pipe closes and the generator exits at once instead of loading a dead stack.
 */
import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { generatorArgs, runUntilStopped } from './generator.js';

export interface LoadReport {
  /** Logical requests (a retried request counts once). */
  requests: number;
  ok: number;
  /** Failures a real client sees: errors, non-2xx, timeouts after the permitted retry. */
  failed: number;
  /** Failures without the retry: every reused-connection close counted as a failure. */
  rawFailed: number;
  retries: number;
  timeouts: number;
  statuses: Record<string, number>;
  errors: Record<string, number>;
  /** Versions the backend reported in its responses (field "version"), with counts. */
  versions: Record<string, number>;
  /** Each failure: when the client gave up on it (ms since the epoch) and what it got (status or error code). */
  failures: { at: number; what: string }[];
  durationSeconds: number;
}

const args = generatorArgs('loadgen.ts', { concurrency: 4, pauseMs: 10 });
const { target, ca, agent, timeoutMs } = args;

const report: LoadReport = {
  requests: 0,
  ok: 0,
  failed: 0,
  rawFailed: 0,
  retries: 0,
  timeouts: 0,
  statuses: {},
  errors: {},
  versions: {},
  failures: [],
  durationSeconds: 0,
};
const bump = (counts: Record<string, number>, key: string): void => {
  counts[key] = (counts[key] ?? 0) + 1;
};

type Outcome = { kind: 'response'; status: number; body: string } | { kind: 'error'; code: string; retriable: boolean; timeout: boolean };

/** One request; `fresh` opens a new connection instead of taking one from the keep-alive pool. */
function once(fresh = false): Promise<Outcome> {
  return new Promise((resolve) => {
    let gotResponse = false;
    const req = request(
      {
        host: args.connect,
        port: target.port || 443,
        path: `${target.pathname}${target.search}`,
        method: 'GET',
        servername: target.hostname,
        headers: { host: target.host, 'user-agent': 'healthmate-e2e-loadgen' },
        ...(fresh ? { agent: false as const, ca } : { agent }),
        timeout: timeoutMs,
      },
      (res: IncomingMessage) => {
        gotResponse = true;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ kind: 'response', status: res.statusCode ?? 0, body }));
        res.on('error', (error: NodeJS.ErrnoException) => resolve({ kind: 'error', code: error.code ?? error.message, retriable: false, timeout: false }));
      },
    );
    req.on('timeout', () => {
      req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? error.message;
      // Only a reused keep-alive connection that closed before any response byte may be retried.
      const retriable = req.reusedSocket && !gotResponse && (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED');
      resolve({ kind: 'error', code, retriable, timeout: code === 'TIMEOUT' });
    });
    req.end();
  });
}

async function one(): Promise<void> {
  let outcome = await once();
  if (outcome.kind === 'error' && outcome.retriable) {
    report.retries++;
    report.rawFailed++;
    bump(report.errors, `${outcome.code} (reused connection, retried)`);
    // Like browsers: the retry goes over a new connection, not another pooled one that may be closing too.
    outcome = await once(true);
  }
  report.requests++;
  if (outcome.kind === 'response') {
    bump(report.statuses, String(outcome.status));
    if (outcome.status >= 200 && outcome.status < 300) {
      report.ok++;
      try {
        const version = (JSON.parse(outcome.body) as { version?: string }).version;
        if (version) bump(report.versions, version);
      } catch {
        // a 2xx body without JSON still counts as ok
      }
      return;
    }
  } else {
    bump(report.errors, outcome.code);
    if (outcome.timeout) report.timeouts++;
  }
  report.failures.push({ at: Date.now(), what: outcome.kind === 'response' ? String(outcome.status) : outcome.code });
  report.failed++;
  report.rawFailed++;
}

const started = Date.now();
await runUntilStopped(args, one, () => ({ ...report, durationSeconds: (Date.now() - started) / 1000 }));
