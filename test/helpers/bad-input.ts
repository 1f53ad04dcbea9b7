import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { expect } from 'vitest';
import { EXAMPLE_SECRET, envExampleText } from '../../scripts/lib/env/example.js';
import { freePort } from './net.js';
import { runScriptAsync } from './run.js';

/**
 * A bad-input row run as a real script (tsx) in its own folder: the exit code it must give,
 * a fragment of the one sentence it must print, no stack trace, and "nothing changed" (the
 * folder is the same before and after).
 */
export interface Case {
  /** The row's own folder: working directory, STATE_DIR and every file the row writes. */
  dir: string;
  state: string;
  /** A prod env file a real run accepts (strong secrets, real-looking domain, recipients file). */
  prodEnv: string;
  /** The schema's example, as .env.example holds it (placeholders: fine for plans only). */
  example: string;
  /** A free loopback port, for rows that need something listening (or nothing). */
  port: number;
}

export interface Row {
  name: string;
  script: string;
  args: (c: Case) => string[];
  setup?: (c: Case) => void | Promise<void>;
  env?: (c: Case) => Record<string, string>;
  code: number;
  /** Fragment of stderr+stdout. */
  message: string | RegExp;
  /** Text the output must not hold (a password given in the input). */
  never?: string;
}

export const strongSecret = (): string => randomBytes(24).toString('base64url');

/** A prod env file with strong secrets, a real-looking domain and an age recipients file; STATE_DIR last. */
export async function writeProdEnv(dir: string, state: string): Promise<string> {
  writeFileSync(join(dir, 'recipients.txt'), `${await identityToRecipient(await generateIdentity())}\n`);
  const text = envExampleText()
    .split('\n')
    .map((line) => (line.endsWith(`=${EXAMPLE_SECRET}`) ? line.replace(EXAMPLE_SECRET, strongSecret()) : line))
    .map((line) => (line.startsWith('DOMAIN=') ? 'DOMAIN=api.healthmate.org' : line))
    .map((line) => (line.startsWith('BACKUP_AGE_RECIPIENTS_FILE=') ? `BACKUP_AGE_RECIPIENTS_FILE=${join(dir, 'recipients.txt')}` : line));
  text.push(`STATE_DIR=${state}`);
  const file = join(dir, 'prod.env');
  writeFileSync(file, text.join('\n'), { mode: 0o600 });
  return file;
}

/** Every file, folder and symlink under `dir`: type, mode and content hash (a link's target). */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const path = join(rel, name);
      const stat = lstatSync(join(dir, path));
      if (stat.isSymbolicLink()) out[path] = `-> ${readlinkSync(join(dir, path))}`;
      else if (stat.isDirectory()) {
        out[`${path}/`] = (stat.mode & 0o7777).toString(8);
        walk(path);
      } else
        out[path] = `${(stat.mode & 0o7777).toString(8)} ${createHash('sha256')
          .update(readFileSync(join(dir, path)))
          .digest('hex')}`;
    }
  };
  walk('');
  return out;
}

/** Runs one row in a fresh folder and asserts its promise; the folder is removed afterwards. */
export async function runRow(row: Row): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'healthmate-badinput-'));
  try {
    const state = join(dir, 'state');
    const c: Case = { dir, state, prodEnv: await writeProdEnv(dir, state), example: join(dir, 'env.example'), port: await freePort() };
    writeFileSync(c.example, envExampleText());
    await row.setup?.(c);
    const before = snapshot(dir);
    const result = await runScriptAsync(row.script, row.args(c), { cwd: dir, env: { NO_COLOR: '1', ...row.env?.(c) }, timeoutMs: 420_000 });
    const output = result.stderr + result.stdout;
    expect(result.code, output).toBe(row.code);
    if (typeof row.message === 'string') expect(output).toContain(row.message);
    else expect(output).toMatch(row.message);
    expect(output, 'no stack trace').not.toMatch(/\n\s+at .+:\d+:\d+/);
    if (row.never) expect(output).not.toContain(row.never);
    if (row.code === 1 || row.code === 2) expect(result.stderr.match(/^error: /gm), 'one error sentence').toHaveLength(1);
    expect(snapshot(dir), 'nothing changed').toEqual(before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
