import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { waitFor } from '../helpers/net.js';
import { startSshd } from '../helpers/sshd.js';
import { tempDir } from '../helpers/tmp.js';

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
    await waitFor('the blocking ~/.bashrc to run', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 120_000);
    expect(shell.exitCode).toBeNull();
    // Ends the blocking sleep (its pid, recorded by the .bashrc); the ssh command then ends too.
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGTERM');
    await shellExit;
  });
});
