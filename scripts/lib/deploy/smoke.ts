/** Step 13: the smoke test through nginx and Prometheus. */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { OperationError } from '../errors.js';
import { log } from '../log.js';
import type { DeployContext } from './context.js';
import { hostRun } from './host.js';

async function retry(what: string, seconds: number, probe: () => Promise<string | undefined>): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  let last = '';
  for (;;) {
    const problem = await probe();
    if (problem === undefined) return;
    last = problem;
    if (Date.now() > deadline) throw new OperationError(`smoke test: ${what}: ${last}`);
    await sleep(2000);
  }
}

export async function smoke(ctx: DeployContext): Promise<void> {
  const { DOMAIN, NGINX_HTTPS_PORT } = ctx.plan.env.values;
  const url = `https://${DOMAIN}:${NGINX_HTTPS_PORT}/health`;
  await retry(`${url} through nginx`, 30, async () => {
    const r = await hostRun(
      ctx.host,
      [
        'curl',
        '-fsS',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '--cacert',
        join(ctx.paths.certs, 'ca.pem'),
        '--resolve',
        `${DOMAIN}:${NGINX_HTTPS_PORT}:127.0.0.1`,
        url,
      ],
      { nothrow: true },
    );
    return r.exitCode === 0 ? undefined : `curl exit ${r.exitCode} ${r.stderr.trim()}`;
  });
  log.info(`  ${url}: 200`);
  await retry('Prometheus targets', 90, async () => {
    const r = await hostRun(ctx.host, ['curl', '-fsS', 'http://127.0.0.1:9090/api/v1/targets?state=active'], { nothrow: true });
    if (r.exitCode !== 0) return `Prometheus API unreachable (curl exit ${r.exitCode})`;
    const targets = (JSON.parse(r.stdout) as { data: { activeTargets: { health: string; scrapeUrl: string; lastError: string }[] } }).data.activeTargets;
    const down = targets.filter((t) => t.health !== 'up');
    return down.length === 0
      ? undefined
      : `${down.length} of ${targets.length} down: ${down.map((t) => `${t.scrapeUrl} (${t.lastError || t.health})`).join(', ')}`;
  });
  log.info('  Prometheus: every target up');
}
