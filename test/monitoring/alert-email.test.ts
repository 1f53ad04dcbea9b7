import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, WAIT_BUDGET_MS, waitFor } from '../helpers/net.js';
import { runScript } from '../helpers/run.js';
import { type Daemon, startAlertmanager, type TestServer, testServer } from './helpers.js';

/** Undoes quoted-printable soft line breaks and escapes, as a mail client would. */
function decodeQuotedPrintable(text: string): string {
  return text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

describe('the rendered dev Alertmanager config, running (aiosmtpd as the SMTP sink)', () => {
  const root = mkdtempSync(join(tmpdir(), 'healthmate-alert-email-'));
  let alertmanager: Daemon;
  let webhook: TestServer;
  let smtp: ChildProcess;
  let mail = '';

  beforeAll(async () => {
    const smtpPort = await freePort();
    smtp = spawn('/usr/bin/python3', ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${smtpPort}`, '-c', 'aiosmtpd.handlers.Debugging', 'stdout'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    smtp.stdout?.on('data', (d) => {
      mail += d;
    });
    webhook = await testServer((_req, res) => res.end('ok'));
    const render = runScript('render.ts', [
      '--env',
      'dev',
      '--set',
      `STATE_DIR=${join(root, 'state')}`,
      '--set',
      'SMTP_HOST=127.0.0.1',
      '--set',
      `SMTP_PORT=${smtpPort}`,
      '--set',
      `ALERT_WEBHOOK_URL=${webhook.url}/alerts`,
      '--out',
      root,
    ]);
    expect(render.code, render.stderr).toBe(0);
    alertmanager = await startAlertmanager(join(root, 'dev', 'monitoring', 'alertmanager', 'alertmanager.yml'), join(root, 'data'));
  });

  afterAll(async () => {
    await Promise.all([alertmanager?.stop(), webhook?.close()]);
    smtp?.kill('SIGTERM');
    rmSync(root, { recursive: true, force: true });
  });

  it('a critical alert reaches the on-call mailbox with the email template, and the webhook', async () => {
    // It fired a minute ago, as after an Alertmanager restart: a group whose alert is older than
    // group_wait (30 s on this route) is sent at once, so the test proves routing, template and
    // delivery without sitting out the wait.
    const alert = {
      startsAt: new Date(Date.now() - 60_000).toISOString(),
      labels: { alertname: 'PostgresDown', severity: 'critical', environment: 'dev', instance: 'postgres-exporter:9187', job: 'postgres' },
      annotations: {
        summary: 'PostgreSQL does not answer the exporter.',
        description: 'postgres_exporter postgres-exporter:9187 has not reached PostgreSQL for more than 1 minute.',
        runbook_url: 'https://github.com/healthmate/healthmate-deploy/blob/main/docs/runbooks.md#postgresdown',
      },
    };
    const post = await fetch(`${alertmanager.url}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([alert]),
    });
    expect(post.ok).toBe(true);
    await waitFor('the alert email', () => mail.includes('END MESSAGE'), WAIT_BUDGET_MS);
    const message = decodeQuotedPrintable(mail);
    expect(message).toMatch(/^Subject: \[FIRING:1\] critical PostgresDown \(dev\)$/m);
    expect(message).toMatch(/^To: oncall@healthmate\.local$/m);
    expect(message).toContain('FIRING: PostgresDown [critical]');
    expect(message).toContain('Summary:     PostgreSQL does not answer the exporter.');
    expect(message).toContain('Runbook:     https://github.com/healthmate/healthmate-deploy/blob/main/docs/runbooks.md#postgresdown');
    expect(message).toContain('instance = postgres-exporter:9187');
    await waitFor(
      'the webhook',
      () => webhook.requests.some((r) => r.path === '/alerts' && r.body.includes('"alertname":"PostgresDown"')),
      WAIT_BUDGET_MS,
      250,
    );
  });

  it('inhibits: a critical alert hides the warning of the same name and instance; all replicas down hides per-replica alerts', async () => {
    const post = (alerts: Record<string, string>[]) =>
      fetch(`${alertmanager.url}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(alerts.map((labels) => ({ labels }))),
      });
    const base = { environment: 'dev', instance: '10.0.0.2:8000' };
    const alerts: Record<string, string>[] = [
      { ...base, alertname: 'BackendHighErrorRatio', severity: 'critical' },
      { ...base, alertname: 'BackendHighErrorRatio', severity: 'warning' },
      { ...base, alertname: 'BackendHighCpu', severity: 'warning' },
      { environment: 'dev', alertname: 'BackendAllReplicasDown', severity: 'critical', job: 'backend' },
      { ...base, alertname: 'BackendReplicaDown', severity: 'warning', job: 'backend' },
    ];
    expect((await post(alerts)).ok).toBe(true);
    interface State {
      labels: Record<string, string>;
      status: { state: string; inhibitedBy: string[] };
    }
    const stateOf = async (labels: Record<string, string>): Promise<string | undefined> => {
      const list = (await (await fetch(`${alertmanager.url}/api/v2/alerts`)).json()) as State[];
      const same = (a: State) => Object.keys(labels).length === Object.keys(a.labels).length && Object.entries(labels).every(([k, v]) => a.labels[k] === v);
      return list.find(same)?.status.state;
    };
    await waitFor('inhibitions to apply', async () => (await stateOf(alerts[1] ?? {})) === 'suppressed', WAIT_BUDGET_MS, 250);
    expect(await stateOf(alerts[0] ?? {})).toBe('active');
    expect(await stateOf(alerts[2] ?? {})).toBe('active');
    expect(await stateOf(alerts[3] ?? {})).toBe('active');
    expect(await stateOf(alerts[4] ?? {})).toBe('suppressed');
  });
});
