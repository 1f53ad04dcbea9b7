import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '../helpers/net.js';
import { runScript } from '../helpers/run.js';
import { type Daemon, startAlertmanager, writeInitialConfigs } from './helpers.js';

interface Silence {
  id: string;
  createdBy: string;
  comment: string;
  startsAt: string;
  endsAt: string;
  matchers: { name: string; value: string; isRegex: boolean; isEqual: boolean }[];
  status: { state: string };
}

interface AlertState {
  labels: Record<string, string>;
  status: { state: string; silencedBy: string[] };
}

describe('maintenance.ts against a real Alertmanager', () => {
  const root = mkdtempSync(join(tmpdir(), 'healthmate-maint-'));
  let alertmanager: Daemon;
  const silences = async (): Promise<Silence[]> => (await (await fetch(`${alertmanager.url}/api/v2/silences`)).json()) as Silence[];
  const maintenance = (args: string[]) =>
    runScript('maintenance.ts', ['--env', 'dev', '--set', `STATE_DIR=${join(root, 'state')}`, '--url', alertmanager.url, ...args]);

  beforeAll(async () => {
    alertmanager = await startAlertmanager(writeInitialConfigs(root).alertmanagerConfig, join(root, 'data'));
  });
  afterAll(async () => {
    await alertmanager?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('silences warning and info alerts of the env for the given time, never critical or data-loss alerts', async () => {
    const result = maintenance(['--for', '30m', '--reason', 'PostgreSQL minor upgrade']);
    expect(result.stderr).not.toMatch(/error:/);
    expect(result.code).toBe(0);
    const id = result.stdout.trim();
    const silence = (await silences()).find((s) => s.id === id);
    expect(silence).toMatchObject({ createdBy: 'healthmate-maintenance', comment: 'PostgreSQL minor upgrade', status: { state: 'active' } });
    expect(Date.parse(silence?.endsAt ?? '') - Date.parse(silence?.startsAt ?? '')).toBeGreaterThan(29 * 60_000);
    expect(Date.parse(silence?.endsAt ?? '') - Date.parse(silence?.startsAt ?? '')).toBeLessThanOrEqual(30 * 60_000 + 1000);

    const alerts = [
      { alertname: 'HostMemoryLow', severity: 'warning', environment: 'dev' },
      { alertname: 'PostgresDown', severity: 'critical', environment: 'dev' },
      { alertname: 'BackupFailed', severity: 'warning', environment: 'dev', data_loss: 'true' },
      { alertname: 'HostMemoryLow', severity: 'warning', environment: 'prod' },
    ];
    const post = await fetch(`${alertmanager.url}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(alerts.map((labels) => ({ labels }))),
    });
    expect(post.ok).toBe(true);
    const state = async (labels: Record<string, string>): Promise<string | undefined> => {
      const list = (await (await fetch(`${alertmanager.url}/api/v2/alerts`)).json()) as AlertState[];
      return list.find((a) => Object.entries(labels).every(([k, v]) => a.labels[k] === v) && Object.keys(a.labels).length === Object.keys(labels).length)
        ?.status.state;
    };
    await waitFor('the warning to be suppressed', async () => (await state(alerts[0] as Record<string, string>)) === 'suppressed');
    expect(await state(alerts[1] as Record<string, string>)).toBe('active');
    expect(await state(alerts[2] as Record<string, string>)).toBe('active');
    expect(await state(alerts[3] as Record<string, string>)).toBe('active');

    const list = maintenance(['--list']);
    expect(list.stdout).toContain(`${id} until`);

    const end = maintenance(['--end', id]);
    expect(end.code).toBe(0);
    expect((await silences()).find((s) => s.id === id)?.status.state).toBe('expired');
  });

  it('--end all expires only the silences this script made', async () => {
    const other = await fetch(`${alertmanager.url}/api/v2/silences`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        matchers: [{ name: 'alertname', value: 'Foo', isRegex: false, isEqual: true }],
        startsAt: new Date().toISOString(),
        endsAt: new Date(Date.now() + 3_600_000).toISOString(),
        createdBy: 'someone-else',
        comment: 'not ours',
      }),
    });
    const otherId = ((await other.json()) as { silenceID: string }).silenceID;
    const a = maintenance(['--for', '1h', '--reason', 'first']).stdout.trim();
    const b = maintenance(['--for', '2h', '--reason', 'second', '--matcher', 'alertname=~Host.*']).stdout.trim();
    expect((await silences()).find((s) => s.id === b)?.matchers).toContainEqual({ name: 'alertname', value: 'Host.*', isRegex: true, isEqual: true });
    const end = maintenance(['--end', 'all']);
    expect(end.code).toBe(0);
    const after = await silences();
    expect(after.find((s) => s.id === a)?.status.state).toBe('expired');
    expect(after.find((s) => s.id === b)?.status.state).toBe('expired');
    expect(after.find((s) => s.id === otherId)?.status.state).toBe('active');
  });

  it.each([
    [['--for', '30m'], /--for needs --reason <text>: say why alerts are silenced/],
    [['--for', '10d', '--reason', 'x'], /--for 10d is longer than 7 days/],
    [['--for', 'soon', '--reason', 'x'], /--for must be a duration like 30m/],
    [['--for', '30m', '--reason', 'x', '--matcher', 'bad matcher'], /--matcher must look like name=value/],
    [['--end', 'not-a-uuid'], /--end must be a silence id \(a UUID\) or all/],
  ])('refuses bad input %j with exit 2 and creates nothing', async (args, message) => {
    const before = (await silences()).length;
    const result = maintenance(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect((await silences()).length).toBe(before);
  });

  it('--dry-run prints the silence and creates nothing', async () => {
    const before = (await silences()).length;
    const result = maintenance(['--for', '45m', '--reason', 'kernel update', '--dry-run']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/would POST http:\/\/127\.0\.0\.1:\d+\/api\/v2\/silences .*"comment":"kernel update"/);
    expect((await silences()).length).toBe(before);
  });

  it('exits 1 with a clear error when Alertmanager is unreachable', async () => {
    const result = runScript('maintenance.ts', ['--env', 'dev', '--url', `http://127.0.0.1:${await freePort()}`, '--for', '30m', '--reason', 'x']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot reach Alertmanager at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  });
});
