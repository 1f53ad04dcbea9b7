import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WAIT_BUDGET_MS } from '../helpers/net.js';
import { REPO } from '../helpers/run.js';

/**
 * Real processes racing for one lock, round by round: each round every racer
 * tries at the same moment and answers won/lost; the winner keeps the lock
 * until every racer has answered, then releases it.
 */
export interface Racer {
  child: ChildProcessWithoutNullStreams;
  next(): Promise<string>;
  send(line: string): void;
}

/** `ssh`: [target, ...sshArgs] to race over ssh; none: this machine. */
export function startRacer(lockPath: string, ssh?: { target: string; sshArgs: string[] }, env: NodeJS.ProcessEnv = process.env): Racer {
  const lib = (name: string) => JSON.stringify(join(REPO, 'scripts/lib', name));
  const script = `
    import { createInterface } from 'node:readline';
    import { localShell, sshShell } from ${lib('host-shell.ts')};
    import { newOwner, tryTakeLock } from ${lib('lock.ts')};
    const ssh = ${JSON.stringify(ssh ?? null)};
    const shell = ssh ? sshShell(ssh.target, ssh.sshArgs) : localShell();
    let held;
    process.stdout.write('ready\\n');
    // tsx --eval compiles to CommonJS: no top-level await.
    createInterface({ input: process.stdin }).on('line', (line) => {
      if (line === 'go') {
        const result = tryTakeLock(shell, ${JSON.stringify(lockPath)}, newOwner('race'));
        if ('held' in result) held = result.held;
        process.stdout.write(('held' in result ? 'won' : 'lost') + (result.recovered ? ' recovered' : '') + '\\n');
      } else if (line === 'release') {
        held.release();
        held = undefined;
        process.stdout.write('released\\n');
      }
    });
  `;
  const child = spawn(join(REPO, 'node_modules/.bin/tsx'), ['--eval', script], { stdio: ['pipe', 'pipe', 'pipe'], env });
  const lines: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  let buffer = '';
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += String(d);
  });
  child.stdout.on('data', (d) => {
    buffer += String(d);
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      const resolve = waiting.shift();
      if (resolve) resolve(line);
      else lines.push(line);
    }
  });
  const next = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const line = lines.shift();
      if (line !== undefined) return resolve(line);
      const timer = setTimeout(() => reject(new Error(`racer gave no answer in ${WAIT_BUDGET_MS / 1000} s: ${stderr}`)), WAIT_BUDGET_MS);
      waiting.push((l) => {
        clearTimeout(timer);
        resolve(l);
      });
    });
  return { child, next, send: (line) => child.stdin.write(`${line}\n`) };
}

export interface RaceResult {
  rounds: number;
  /** Rounds that started from a stale lock (dead owner of this machine). */
  staleRounds: number;
  /** Winners per round: must be [1, 1, …]. */
  winners: number[];
  recovered: number;
}

/**
 * Runs `rounds` rounds; every `staleEvery`-th round first plants a lock of a
 * dead process of this machine, which exactly one racer must take over.
 */
export async function race(racers: Racer[], lockPath: string, rounds: number, staleEvery: number, staleOwner: () => string): Promise<RaceResult> {
  for (const r of racers) if ((await r.next()) !== 'ready') throw new Error('racer did not start');
  const result: RaceResult = { rounds, staleRounds: 0, winners: [], recovered: 0 };
  for (let round = 0; round < rounds; round++) {
    if (existsSync(lockPath)) throw new Error(`round ${round}: the lock was left behind`);
    if (staleEvery > 0 && round % staleEvery === 0) {
      writeFileSync(lockPath, staleOwner());
      result.staleRounds++;
    }
    for (const r of racers) r.send('go');
    const answers = await Promise.all(racers.map((r) => r.next()));
    const won = racers.filter((_, i) => answers[i]?.startsWith('won'));
    result.winners.push(won.length);
    result.recovered += answers.filter((a) => a.endsWith('recovered')).length;
    for (const w of won) w.send('release');
    for (const w of won) await w.next();
  }
  return result;
}
