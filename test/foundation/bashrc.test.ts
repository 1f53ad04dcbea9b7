import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScript } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * zx runs commands through bash with a socket as stdin, which bash treats as an rsh login: with
 * SHLVL unset (cron, systemd timers, CI) it would read the user's ~/.bashrc before every command.
 */
describe('commands the scripts run do not read the user ~/.bashrc', () => {
  it('under cron (SHLVL unset), check.ts runs its tools without sourcing ~/.bashrc', () => {
    const home = tempDir();
    const marker = join(home, 'sourced');
    writeFileSync(join(home, '.bashrc'), `echo "$$" >> ${marker}\n`);
    // undefined: the child gets no SHLVL at all, as under cron. The run's shared record of tool passes
    // spares the promtool rule tests; nginx -t, promtool check, amtool… still run through zx.
    const result = runScript('check.ts', ['--env', 'dev'], { env: { HOME: home, SHLVL: undefined }, cwd: home });
    expect(result.stderr).toMatch(/\[4\/\d+\] nginx -t/);
    expect(existsSync(marker), 'a command sourced ~/.bashrc').toBe(false);
  });
});
