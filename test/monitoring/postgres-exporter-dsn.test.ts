import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'vitest';
import { readCompose } from '../../scripts/lib/compose/model.js';
import { planBundle, writeBundle } from '../../scripts/lib/render/bundle.js';
import { readYaml } from '../../scripts/lib/yaml-data.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';
import { testEnv } from '../stack/env.js';
import { startDaemon } from './helpers.js';
// Every area's template derivers, registered with render.
import '../../scripts/lib/derivers.js';

/** A TCP server that accepts connections and never answers: PostgreSQL hung, or its packets dropped. */
async function silentServer(t: TestContext): Promise<number> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  t.onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return port;
}

/**
 * postgres_exporter takes one scrape at a time, and without a connect timeout a connection
 * attempt to a PostgreSQL that does not answer (or whose name no longer resolves) waits for as
 * long as the network lets it: every scrape times out and the later ones queue behind it. The
 * compose files' DSN bounds the attempt, so a scrape reports pg_up 0 within Prometheus' scrape
 * timeout. The two environments run side by side: each waits out its connect timeout.
 */
describe('postgres_exporter with the DSN of the compose files', () => {
  for (const name of ['prod', 'dev'] as const) {
    it.concurrent(`${name}: PostgreSQL not answering is pg_up 0 within Prometheus' scrape timeout, not a hung scrape`, async (t) => {
      const { expect } = t;
      const { env } = testEnv(name);
      const bundle = writeBundle(planBundle(env), tempDir(undefined, t));
      const exporterEnv = readCompose(join(bundle, 'docker-compose.yml')).services.find((s) => s.name === 'postgres-exporter')?.environment ?? {};
      const prometheus = readYaml(readFileSync(join(bundle, 'monitoring', 'prometheus.yml'), 'utf8')) as {
        global: { scrape_timeout: string };
      };
      const scrapeTimeoutMs = Number(/^(\d+)s$/.exec(prometheus.global.scrape_timeout)?.[1]) * 1000;
      expect(scrapeTimeoutMs).toBeGreaterThan(0);

      const uri = exporterEnv.DATA_SOURCE_URI ?? '';
      // prod reaches the leader through HAProxy's write port, dev the one PostgreSQL.
      const endpoint = /^[a-z0-9.-]+:\d+(?=\/)/.exec(uri)?.[0];
      expect(endpoint).toBeDefined();
      const password = join(tempDir(undefined, t), 'password');
      writeFileSync(password, 'not-used', { mode: 0o600 });
      const port = await freePort();
      const exporter = await startDaemon(
        needTool('prometheus-postgres-exporter'),
        [`--web.listen-address=127.0.0.1:${port}`],
        port,
        '/',
        // Only the endpoint differs from the container's: the silent server stands in for it.
        {
          DATA_SOURCE_URI: uri.replace(endpoint as string, `127.0.0.1:${await silentServer(t)}`),
          DATA_SOURCE_USER: 'exporter',
          DATA_SOURCE_PASS_FILE: password,
        },
      );
      t.onTestFinished(() => exporter.stop());

      const scrape = await fetch(`${exporter.url}/metrics`, { signal: AbortSignal.timeout(scrapeTimeoutMs) });
      expect(await scrape.text()).toMatch(/^pg_up 0$/m);
    });
  }
});
