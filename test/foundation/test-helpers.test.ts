import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { waitFor } from '../helpers/net.js';
import { runScript, runScriptAsync } from '../helpers/run.js';
import { startSshd } from '../helpers/sshd.js';
import { tempDir } from '../helpers/tmp.js';

/** A repo root whose scripts/ holds only `name` with `body`. */
function rootWith(name: string, body: string): string {
  const root = tempDir();
  mkdirSync(join(root, 'scripts'));
  writeFileSync(join(root, 'scripts', name), body);
  return root;
}

describe('runScript and runScriptAsync', () => {
  it('a script killed for running past the timeout fails the call saying so', async () => {
    const root = rootWith('hang.ts', 'setInterval(() => {}, 1000);\n');
    // The asynchronous run hangs beside the synchronous one: its timer fires once spawnSync returns.
    const hanging = runScriptAsync('hang.ts', [], { root, timeoutMs: 3000 });
    expect(() => runScript('hang.ts', [], { root, timeoutMs: 3000 })).toThrow(
      /^scripts\/hang\.ts was killed by SIGTERM after the 3 s timeout; its stderr ended with:/,
    );
    await expect(hanging).rejects.toThrow(/^scripts\/hang\.ts was killed by SIGTERM after the 3 s timeout/);
  });

  // A shell reports a death by a signal as 128 + its number.
  it('a script killed by a signal reports it, and 128 + its number as the code', async () => {
    const root = rootWith('die.ts', "process.kill(process.pid, 'SIGKILL');\n");
    expect(runScript('die.ts', [], { root })).toMatchObject({ code: 137, signal: 'SIGKILL' });
    expect(await runScriptAsync('die.ts', [], { root })).toMatchObject({ code: 137, signal: 'SIGKILL' });
  });
});

/**
 * The test sshd's readiness probe must not depend on the user's shell: a
 * ~/.bashrc that blocked (a stale pyenv lock, 60 s per login) once made every
 * offsite and remote-state test time out waiting for sshd.
 */
describe('the test sshd helper', () => {
  it("is ready while the user's login shell blocks: the probe starts no shell", async () => {
    const dir = tempDir();
    const pidFile = join(dir, 'shell.pid');
    const shell = join(dir, 'blocking-shell');
    writeFileSync(shell, `#!/bin/sh\necho $$ > ${pidFile}\nexec sleep 600\n`, { mode: 0o755 });
    const sshd = await startSshd({ loginShell: shell });
    onTestFinished(() => sshd.stop());

    // The server does run that shell for a command over ssh, and it blocks there.
    const command = spawn('ssh', [...sshd.sshArgs, 'true'], { stdio: 'ignore' });
    const commandExit = new Promise<number | null>((resolve) => command.once('exit', resolve));
    onTestFinished(() => {
      command.kill('SIGKILL');
    });
    const ran = (): boolean => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '';
    await waitFor('the blocking login shell to run (or ssh to end)', () => ran() || command.exitCode !== null);
    expect(command.exitCode).toBeNull();
    // Ends the blocking shell (its pid, recorded by itself); the ssh command then ends too.
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGTERM');
    await commandExit;
  });
});
