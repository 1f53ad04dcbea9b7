import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/net.js';
import { needTool } from '../helpers/tools.js';
import { docker } from './harness/docker.js';
import { type Dockerd, startDockerd } from './harness/dockerd.js';
import { buildBackend, buildStandIns, type StandInImages } from './harness/images.js';
import { alertmanagerAlerts, getJson } from './harness/probe.js';
import { prepareStack, removeProject, type Stack } from './harness/stack.js';
import { Timings } from './harness/timings.js';

/**
 * The development stack: deploy-dev.ts brings it up, and an alert travels
 * Prometheus → Alertmanager → SMTP → Mailhog. Mailhog is not packaged by
 * Debian, so MAILHOG_IMAGE is a stand-in SMTP sink (aiosmtpd) with Mailhog's
 * ports (1025 SMTP, 8025 HTTP) and its /api/v2/messages JSON.
 */

const DEV_TAG = 'dev';

// Test-only timings (the repo copy only): the alert is mailed within a minute.
const FAST_ALERTING: Record<string, (text: string) => string> = {
  'monitoring/prometheus.dev.yml': (text) =>
    text
      .replace(/scrape_interval: 30s/, 'scrape_interval: 5s')
      .replace(/evaluation_interval: 30s/, 'evaluation_interval: 5s')
      .replace(/scrape_timeout: 10s/, 'scrape_timeout: 4s')
      .replace(/refresh_interval: 30s/g, 'refresh_interval: 5s'),
  'monitoring/rules/healthmate_rules.yml': (text) => text.replace(/(alert: BackendAllReplicasDown\n(?:.*\n)*?\s+for: )1m/, '$110s'),
  'monitoring/alertmanager/alertmanager.dev.yml': (text) => text.replace(/group_wait: 30s/, 'group_wait: 5s'),
};

interface MailhogMessages {
  total: number;
  items: { Content: { Headers: Record<string, string[]>; Body: string }; Raw: { To: string[] } }[];
}

describe('development stack (deploy-dev.ts, Mailhog stand-in)', () => {
  const timings = new Timings();
  let daemon: Dockerd;
  let images: StandInImages;
  let stack: Stack;

  beforeAll(async () => {
    needTool('docker-compose');
    daemon = await timings.time('dockerd start', startDockerd);
    images = await timings.time('image build (base + stand-ins)', () => buildStandIns(daemon, (line) => console.log(`e2e: ${line}`)));
    await timings.time('image build (backend dev)', () => buildBackend(daemon, images, DEV_TAG));
    // The dev backend bind-mounts the source checkout at /app; the stand-in needs none.
    const source = join(daemon.root, 'healthchat-rag');
    mkdirSync(source);
    stack = await prepareStack(daemon, images, {
      env: 'dev',
      // SMTP_HOST: init-env.ts copies .env.example's SMTP_HOST=smtp.example.com into .env.dev, which
      // overrides the dev default (mailhog); set back to the dev default here (reported, not ours to fix).
      vars: { BACKEND_TAG: DEV_TAG, HEALTHMATE_SRC: source, SMTP_HOST: 'mailhog' },
      edit: FAST_ALERTING,
    });
  });

  afterAll(async () => {
    if (daemon) {
      if (stack) removeProject(daemon, stack.project);
      await timings.time('teardown', () => daemon.stop());
    }
    timings.write('timings-dev.json');
  });

  it('6. deploy-dev.ts brings the dev stack up, and an alert email lands in Mailhog', async () => {
    const result = await timings.time('scenario 6: deploy-dev (bring-up)', () => stack.run('deploy-dev.ts', ['--env', 'dev', '--env-file', stack.envFile]));
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);

    const states = docker(daemon, [
      'ps',
      '-a',
      '--filter',
      `label=com.docker.compose.project=${stack.project}`,
      '--format',
      '{{.Names}} {{.State}} {{.Status}}',
    ])
      .split('\n')
      .filter(Boolean);
    expect(states.some((line) => line.includes('mailhog'))).toBe(true);
    for (const line of states) expect(line, line).toMatch(/ running /);

    // The backend's published port, as a developer uses it (retried: the port proxy may lag the healthcheck).
    await waitFor('the dev backend on 127.0.0.1:8000', async () => (await fetch('http://127.0.0.1:8000/health')).status === 200, 60_000, 1_000);
    // deploy-dev starts Prometheus beside the backend, and this file's `for: 10s` fires BackendAllReplicasDown at
    // start-up when the backend takes longer than that to answer its first scrape (rightly: the API was down; a CI
    // rehearsal met it). So: wait until no such alert is active, empty the mailbox, and require that no new one
    // comes while the backend stays up for two alert windows.
    await waitFor(
      'no BackendAllReplicasDown at Alertmanager while the backend is up',
      async () => !(await alertmanagerAlerts()).some((a) => a.labels.alertname === 'BackendAllReplicasDown'),
      120_000,
      2_000,
    );
    const emptied = await fetch('http://127.0.0.1:8025/api/v1/messages', { method: 'DELETE' });
    expect(emptied.ok).toBe(true);
    await new Promise((r) => setTimeout(r, 20_000));
    // No mail may claim the backend is down while it is up (a loaded machine can mail another start-up warning; that is not this alert).
    const before = (await getJson<MailhogMessages>('http://127.0.0.1:8025/api/v2/messages')).items.map((m) => (m.Content.Headers.Subject ?? []).join(' '));
    if (before.length > 0) console.log(`e2e: mails before the backend stopped: ${before.join(' | ')}`);
    const firing = (subject: string): boolean => subject.includes('FIRING') && subject.includes('BackendAllReplicasDown');
    expect(before.filter(firing)).toEqual([]);

    // The only backend stops: BackendAllReplicasDown (critical) is mailed by Alertmanager.
    const backend = docker(daemon, [
      'ps',
      '-q',
      '--filter',
      `label=com.docker.compose.project=${stack.project}`,
      '--filter',
      'label=com.docker.compose.service=backend',
    ]).trim();
    expect(backend).not.toBe('');
    docker(daemon, ['stop', '--time', '5', backend]);
    let mail: MailhogMessages['items'][number] | undefined;
    await timings.time('scenario 6: backend stopped → email in Mailhog', () =>
      waitFor(
        'the BackendAllReplicasDown email in Mailhog',
        async () => {
          const messages = await getJson<MailhogMessages>('http://127.0.0.1:8025/api/v2/messages');
          mail = messages.items.find((m) => firing((m.Content.Headers.Subject ?? []).join(' ')));
          return mail !== undefined;
        },
        180_000,
        3_000,
      ),
    );
    expect(mail?.Content.Body).toMatch(/BackendAllReplicasDown|backend/i);
    expect(mail?.Raw.To.length).toBeGreaterThan(0);
  });
});
