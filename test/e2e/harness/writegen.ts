/**
 * Write generator for the HA drill: each worker POSTs the next marker id to
 * /api/v1/markers through nginx (the backend stand-in commits it through HAProxy's
 * write port and answers 201 only once the commit returned). A 201 is an
 * acknowledged write: the client was told it is stored. Anything else (an error, a
 * non-2xx status, a timeout) is a failed write, never retried (a POST is not
 * idempotent: RFC 9110 §9.2.2); such a row may or may not exist.
 *
 * Runs as its own process (the tests block on spawnSync while deploying):
 *   tsx writegen.ts --url https://host:port/api/v1/markers --ca ca.pem --connect <address> --first-id 1000000
 * On SIGTERM it stops, waits for requests in flight and prints a JSON WriteReport on stdout
 * (generator.ts: the options and the run it shares with loadgen.ts).
 */
import { request } from 'node:https';
import { generatorArgs, runUntilStopped } from './generator.js';

export interface WriteReport {
  /** Every acknowledged id: when its request was sent and when the 201 arrived (ms since the epoch). */
  acked: { id: number; sent: number; at: number }[];
  /** Every failed write: its id, when it was sent, when the client gave up, and what it got. */
  failures: { id: number; sent: number; at: number; what: string }[];
}

const args = generatorArgs('writegen.ts', { concurrency: 2, pauseMs: 100 }, { 'first-id': '1' });
const { target, agent, timeoutMs } = args;
const report: WriteReport = { acked: [], failures: [] };
let nextId = Number(args.extra['first-id']);

function post(id: number): Promise<{ status: number } | { error: string }> {
  const body = JSON.stringify({ id });
  return new Promise((resolve) => {
    const req = request(
      {
        host: args.connect,
        port: target.port || 443,
        path: target.pathname,
        method: 'POST',
        servername: target.hostname,
        headers: { host: target.host, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'healthmate-e2e-writegen' },
        agent,
        timeout: timeoutMs,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
        res.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    req.end(body);
  });
}

async function one(): Promise<void> {
  const id = nextId++;
  const sent = Date.now();
  const outcome = await post(id);
  const at = Date.now();
  if ('status' in outcome && outcome.status === 201) report.acked.push({ id, sent, at });
  else report.failures.push({ id, sent, at, what: 'status' in outcome ? String(outcome.status) : outcome.error });
}

await runUntilStopped(args, one, () => report);
