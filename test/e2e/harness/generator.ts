/**
 * What loadgen.ts and writegen.ts share: their command line, and the run until SIGTERM.
 * Each runs as its own process whose stdin is a pipe from the test: when the test process
 * dies (a killed run, a timed-out worker), the pipe closes and the generator exits at once.
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { parseArgs } from 'node:util';

export interface GeneratorArgs {
  target: URL;
  ca: Buffer;
  /** The address to connect to (the URL's name is only SNI and Host). */
  connect: string;
  concurrency: number;
  pauseMs: number;
  timeoutMs: number;
  /** A keep-alive agent for `concurrency` clients that trusts `ca` only. */
  agent: Agent;
  /** The script's own options, by name. */
  extra: Record<string, string>;
}

/** --url, --ca, --connect, --concurrency, --pause-ms, --timeout-ms, and the script's own options with their defaults. */
export function generatorArgs(script: string, defaults: { concurrency: number; pauseMs: number }, extra: Record<string, string> = {}): GeneratorArgs {
  const option = (value: string) => ({ type: 'string' as const, default: value });
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      ca: { type: 'string' },
      connect: option('127.0.0.1'),
      concurrency: option(String(defaults.concurrency)),
      'pause-ms': option(String(defaults.pauseMs)),
      'timeout-ms': option('10000'),
      ...Object.fromEntries(Object.entries(extra).map(([name, value]) => [name, option(value)])),
    },
  });
  const all = values as Record<string, string | undefined>;
  if (!all.url || !all.ca) throw new Error(`usage: ${script} --url <https url> --ca <ca.pem> [--connect 127.0.0.1] [--concurrency n] [--pause-ms n]`);
  const ca = readFileSync(all.ca);
  const concurrency = Number(all.concurrency);
  return {
    target: new URL(all.url),
    ca,
    connect: all.connect as string,
    concurrency,
    pauseMs: Number(all['pause-ms']),
    timeoutMs: Number(all['timeout-ms']),
    agent: new Agent({ keepAlive: true, maxSockets: concurrency, ca }),
    extra: Object.fromEntries(Object.keys(extra).map((name) => [name, all[name] as string])),
  };
}

/**
 * Runs `concurrency` workers, each calling `one` then pausing `pauseMs`, until SIGTERM or
 * SIGINT; then prints `report()` as JSON on stdout.
 */
export async function runUntilStopped(args: GeneratorArgs, one: () => Promise<void>, report: () => object): Promise<void> {
  let running = true;
  process.on('SIGTERM', () => {
    running = false;
  });
  process.on('SIGINT', () => {
    running = false;
  });
  const parentGone = (): never => process.exit(3);
  process.stdin.on('close', parentGone);
  process.stdin.resume();
  const worker = async (): Promise<void> => {
    while (running) {
      await one();
      if (args.pauseMs > 0) await new Promise((r) => setTimeout(r, args.pauseMs));
    }
  };
  await Promise.all(Array.from({ length: args.concurrency }, worker));
  args.agent.destroy();
  process.stdout.write(`${JSON.stringify(report())}\n`);
  process.stdin.off('close', parentGone).destroy(); // nothing else keeps the process alive
}
