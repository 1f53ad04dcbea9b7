import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { envExampleText } from '../../scripts/lib/env/example.js';
import { SECRET_NAMES } from '../../scripts/lib/env/schema.js';
import { filesHolding, type Launched, type Launcher, launch, ourTempFolders } from '../helpers/interrupt.js';
import { WAIT_BUDGET_MS, waitFor } from '../helpers/net.js';
import { alive, commandLine, reaperOf } from '../helpers/procs.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';

/**
 * Ctrl-C during `check.ts --env prod`, pressed as an operator presses it: SIGINT
 * to the whole foreground process group of `npx tsx` (or the tsx binary), whose
 * parent process relays the signal and SIGKILLs the script when it does not
 * acknowledge within about 60 ms. Afterwards no temp folder of ours is left and
 * no file under TMPDIR holds a secret of the env file.
 */

/** A production env file whose every secret is a strong, recognisable random value. */
function prodEnvFile(dir: string): { file: string; secrets: string[] } {
  const secrets: string[] = [];
  let text = envExampleText();
  for (const name of SECRET_NAMES) {
    const value = `N2canary${randomBytes(20).toString('hex')}`;
    secrets.push(value);
    text = text.replace(new RegExp(`^${name}=.*$`, 'm'), `${name}=${value}`);
  }
  text = text.replace(/^DOMAIN=.*$/m, 'DOMAIN=api.healthmate-ci.net');
  const file = join(dir, 'env.prod');
  writeFileSync(file, text, { mode: 0o600 });
  return { file, secrets };
}

interface Moment {
  name: string;
  /** True once the run has reached the moment to interrupt it. */
  reached(run: Launched, tmp: string, startedAt: number): boolean;
  /** A tool that stops itself as it starts (freezingTool): the moment holds until the test lets it go. */
  frozen?: string;
}

/** The run's copies of `tool` stopped at their start (a look at the process table cannot miss a stopped one). */
const stopped = (run: Launched, tool: string) => run.members().filter((p) => p.comm === tool.slice(0, 15) && p.state === 'T');
/** While `tool` runs: it stops itself as it starts, and goes on (to its real self) once the key is pressed. */
const toolRuns = (name: string, tool: string): Moment => ({ name, frozen: tool, reached: (run) => stopped(run, tool).length > 0 });
const after = (ms: number): Moment => ({ name: `${ms / 1000} s in`, reached: (_run, _tmp, startedAt) => Date.now() - startedAt >= ms });
/** check.ts announces each step as `[k/N] title`: a moment that comes as late in the run on a fast box as on a slow one. */
const step = (k: number): Moment => ({ name: `step ${k} begins`, reached: (run) => new RegExp(`^\\[${k}/\\d+\\] `, 'm').test(run.stderr()) });

const MOMENTS: Moment[] = [
  { name: 'the first temp folder appears', reached: (_run, tmp) => ourTempFolders(tmp).length > 0 },
  {
    name: 'the temp bundle has its secrets/',
    reached: (_run, tmp) => ourTempFolders(tmp).some((f) => f.startsWith('healthmate-check-') && existsSync(join(tmp, f, 'prod', 'secrets'))),
  },
  toolRuns('nginx -t runs', 'nginx'),
  toolRuns('promtool runs', 'promtool'),
  toolRuns('docker-compose config runs', 'docker-compose'),
  { name: 'the Kubernetes schemas are checked', reached: (run) => /Kubernetes [\d.]+ and operator CRD schemas/.test(run.stderr()) },
  after(1_000),
  step(6),
  step(9),
  step(13),
];

/** Waits for the moment; fails at once, with the run's output, when the script ended before it. */
async function reach(run: Launched, moment: Moment, tmp: string, startedAt: number): Promise<void> {
  let ended = false;
  void run.exit.then(() => {
    ended = true;
  });
  let missed = false;
  await waitFor(
    moment.name,
    () => {
      if (moment.reached(run, tmp, startedAt)) return true;
      missed = ended && run.members().length === 0;
      return missed;
    },
    240_000,
    10,
  ).catch((error) => {
    throw new Error(`${error}\n${run.stderr()}`);
  });
  if (missed) throw new Error(`check.ts ended before ${moment.name}:\n${run.stderr()}`);
}

/**
 * This file's own record of tool passes, as an operator's check.ts keeps one: the first trial that gets
 * through step 5 runs the promtool rule tests (about 9 s of CPU), later trials reuse its passes. Every
 * moment is a step or a running tool, so a trial reaches the same point either way; the other tools
 * (promtool check config, nginx, compose, ...) always run.
 */
const TOOL_PASSES = mkdtempSync(join(tmpdir(), 'healthmate-interrupt-passes-'));
afterAll(() => rmSync(TOOL_PASSES, { recursive: true, force: true }));

/** check.ts --env prod on a strong env file, started as an operator does, with a private TMPDIR. */
function startCheck(launcher: Launcher, env: NodeJS.ProcessEnv = {}, moment?: Moment): { run: Launched; tmp: string; secrets: string[]; startedAt: number } {
  const dir = tempDir();
  // A private TMPDIR: only this run's folders appear in it.
  const tmp = tempDir();
  const envFile = prodEnvFile(dir);
  const startedAt = Date.now();
  const run = launch(launcher, 'check.ts', ['--env', 'prod', '--env-file', envFile.file, '--set', `STATE_DIR=${join(dir, 'state')}`], {
    TMPDIR: tmp,
    HEALTHMATE_CHECK_CACHE: TOOL_PASSES,
    ...(moment?.frozen ? { PATH: `${freezingTool(moment.frozen)}:${process.env.PATH}` } : {}),
    ...env,
  });
  return { run, tmp, secrets: envFile.secrets, startedAt };
}

function letGo(run: Launched, moment: Moment): void {
  if (moment.frozen) for (const p of stopped(run, moment.frozen)) process.kill(p.pid, 'SIGCONT');
}

/** The script itself (tsx's child), not the tsx process in front of it. */
function scriptOf(run: Launched): number {
  return run.members().find((p) => commandLine(p.pid).includes('loader.mjs'))?.pid as number;
}

interface Trial {
  moment: string;
  launcher: Launcher;
  exit: NodeJS.Signals | number;
  /** Files under TMPDIR holding a secret of the env file when the key was pressed (the render uses stand-ins). */
  heldWhileRunning: string[];
  /** Temp folders still there after the budget. */
  left: string[];
  /** Files under TMPDIR holding a secret of the env file afterwards. */
  leaked: string[];
}

async function interruptCheck(moment: Moment, launcher: Launcher): Promise<Trial> {
  const { run, tmp, secrets, startedAt } = startCheck(launcher, {}, moment);
  await reach(run, moment, tmp, startedAt);
  const heldWhileRunning = filesHolding(tmp, secrets);
  run.press('SIGINT');
  // The frozen tool takes the key press too, as it comes out of its stop.
  letGo(run, moment);
  const exit = await run.exit;
  await run.gone();
  // What must be on disk is removed by the script or, after a SIGKILL, by its reaper: a generous budget for a busy machine.
  await waitFor('the temp folders to go', () => ourTempFolders(tmp).length === 0, WAIT_BUDGET_MS, 100).catch(() => undefined);
  return { moment: moment.name, launcher, exit, heldWhileRunning, left: ourTempFolders(tmp), leaked: filesHolding(tmp, secrets) };
}

function failed(trial: Trial): boolean {
  return trial.heldWhileRunning.length > 0 || trial.left.length > 0 || trial.leaked.length > 0 || !(trial.exit === 'SIGINT' || trial.exit === 130);
}

describe('Ctrl-C during check.ts --env prod through npx tsx', () => {
  it.each(MOMENTS.map((moment, index) => [moment.name, moment, index] as const))(
    'leaves no temp folder and no secret when pressed when %s',
    async (_name, moment, index) => {
      // One trial per moment, through npx and through the tsx binary in turn.
      const trial = await interruptCheck(moment, index % 2 === 0 ? 'npx' : 'tsx');
      expect(failed(trial), JSON.stringify(trial, null, 2)).toBe(false);
    },
    600_000,
  );
});

describe('kill -9 of check.ts itself', () => {
  it.each([MOMENTS[1], MOMENTS[3]] as Moment[])(
    'leaves no temp folder when it comes when $name',
    async (moment) => {
      const { run, tmp, secrets, startedAt } = startCheck('tsx', {}, moment);
      await reach(run, moment, tmp, startedAt);
      const script = scriptOf(run);
      const reaper = reaperOf(script);
      expect(reaper, 'the reaper runs beside the script').toBeDefined();
      process.kill(script, 'SIGKILL');
      // The frozen tool runs on, orphaned, as a real one would.
      letGo(run, moment);
      // tsx exits 128 + 9 when its child was killed.
      expect(await run.exit).toBe(137);
      // The reaper cleans up while the orphaned tool may still run: how long that takes (at nice 19
      // beside CPU hogs, minutes) is no part of the claim.
      await waitFor('the reaper to exit', () => !alive(reaper as number));
      expect(ourTempFolders(tmp)).toEqual([]);
      expect(filesHolding(tmp, secrets)).toEqual([]);
      try {
        run.press('SIGKILL');
      } catch {
        // the group had ended already
      }
      await run.gone();
    },
    300_000,
  );
});

/**
 * A folder for the front of PATH whose `tool` stops itself (SIGSTOP) before it
 * would run the real one: the tool is frozen by construction, so no look at
 * the process table can miss it however briefly the real tool would run.
 * Only the first copy freezes (mkdir is atomic): check.ts runs two tools at
 * once, and a second copy started after the test let the first one go would
 * stay stopped for ever, holding the process group open.
 */
function freezingTool(tool: string): string {
  const bin = tempDir();
  const mark = join(bin, 'frozen-once');
  writeFileSync(join(bin, tool), `#!/bin/sh\nif mkdir '${mark}' 2>/dev/null; then kill -STOP $$; fi\nexec ${needTool(tool)} "$@"\n`, { mode: 0o755 });
  return bin;
}

describe('Ctrl-C while check.ts waits for a tool', () => {
  // The tool is frozen, so it never ends: only a script whose event loop is free while the tool runs
  // (an asynchronous spawn) answers the signal; under spawnSync it would wait for the tool.
  it.each(['nginx', 'promtool', 'systemd-analyze', 'pgbackrest'])(
    'is answered at once while %s runs',
    async (tool) => {
      const { run, tmp } = startCheck('tsx', { PATH: `${freezingTool(tool)}:${process.env.PATH}` });
      let ended = false;
      void run.exit.then(() => {
        ended = true;
      });
      const running = (): boolean => run.members().some((p) => p.comm === tool.slice(0, 15));
      await waitFor(`${tool} to run (frozen)`, () => running() || ended);
      expect(running(), run.stderr()).toBe(true);
      const script = scriptOf(run);
      process.kill(script, 'SIGINT');
      await waitFor('check.ts to answer the Ctrl-C', () => run.stderr().includes('interrupted by SIGINT: cleaning up'));
      await waitFor('check.ts to end', () => !alive(script));
      expect(ourTempFolders(tmp)).toEqual([]);
    },
    600_000,
  );
});
