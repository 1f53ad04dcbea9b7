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
    expect(() => runScript('hang.ts', [], { root, timeoutMs: 3000 })).toThrow(
      /^scripts\/hang\.ts was killed by SIGTERM after the 3 s timeout; its stderr ended with:/,
    );
    await expect(runScriptAsync('hang.ts', [], { root, timeoutMs: 3000 })).rejects.toThrow(/^scripts\/hang\.ts was killed by SIGTERM after the 3 s timeout/);
  });

  // tsx reports its script's death by a signal as 128 + its number; here tsx itself is killed.
  it('a script killed by a signal reports it, and 128 + its number as the code', async () => {
    const root = rootWith('die.ts', "process.kill(process.ppid, 'SIGKILL');\nprocess.exit(0);\n");
    expect(runScript('die.ts', [], { root })).toMatchObject({ code: 137, signal: 'SIGKILL' });
    expect(await runScriptAsync('die.ts', [], { root })).toMatchObject({ code: 137, signal: 'SIGKILL' });
  });
});

/**
 * The test sshd's readiness probe must not depend on the user's shell: a
 * ~/.bashrc that blocks (a stale pyenv lock did, 60 s per login) once made
 * every offsite and remote-state test time out waiting for sshd.
 */
describe('the test sshd helper', () => {
  it("is ready while the user's ~/.bashrc blocks every shell login", async () => {
    const home = tempDir();
    const pidFile = join(home, 'bashrc.pid');
    // Bash reads ~/.bashrc for a command run over ssh; this one records its pid and blocks.
    writeFileSync(join(home, '.bashrc'), `echo $$ > ${pidFile}\nexec sleep 600\n`);
    const sshd = await startSshd({ home });
    onTestFinished(() => sshd.stop());

    // The server does see that ~/.bashrc: a command over ssh runs it and blocks there.
    const shell = spawn('ssh', [...sshd.sshArgs, 'true'], { stdio: 'ignore' });
    const shellExit = new Promise<number | null>((resolve) => shell.once('exit', resolve));
    onTestFinished(() => {
      shell.kill('SIGKILL');
    });
    await waitFor('the blocking ~/.bashrc to run', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '');
    expect(shell.exitCode).toBeNull();
    // Ends the blocking sleep (its pid, recorded by the .bashrc); the ssh command then ends too.
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGTERM');
    await shellExit;
  });
});
