import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VALIDATORS } from '../../scripts/lib/check/registry.js';
import { formatReport, runValidators } from '../../scripts/lib/check/runner.js';
import { edgeValidators } from '../../scripts/lib/check/validators/edge.js';
import { loadEnv } from '../../scripts/lib/env/load.js';
import { testNginxConfig } from '../../scripts/lib/nginx/config-test.js';
import { listBundle } from '../../scripts/lib/render/bundle.js';
import { REPO, runScript } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import { type Backend, type Edge, request, SECURITY_HEADERS, startBackend, startEdge } from './harness.js';

const EXAMPLE = join(REPO, '.env.example');

function render(env: 'prod' | 'dev'): string {
  const out = tempDir();
  const args = ['--env', env, ...(env === 'prod' ? ['--env-file', EXAMPLE] : []), '--set', `STATE_DIR=${join(out, 'state')}`, '--out', out];
  const result = runScript('render.ts', args);
  expect(result.code, result.stderr).toBe(0);
  return join(out, env);
}

describe('nginx -t on the rendered configs', () => {
  it('accepts the prod and dev renders, and is a check.ts validator', async () => {
    expect(VALIDATORS.map((v) => v.name)).toContain('nginx -t');
    for (const env of ['prod', 'dev'] as const) {
      expect(await testNginxConfig(join(render(env), 'nginx')), env).toEqual([]);
    }
  });

  it('fails the check runner on a broken config, naming the file and line', async () => {
    const bundle = render('dev');
    // check.ts runs every area's validators; the edge ones alone keep this test fast.
    const check = async () => {
      const ctx = { bundleDir: bundle, env: loadEnv({ env: 'dev', purpose: 'plan', overrides: {} }), files: listBundle(bundle), secretValues: [] };
      return formatReport(await runValidators(ctx, edgeValidators));
    };
    expect(await check()).toMatch(/0 errors/);

    const broken = join(bundle, 'nginx', 'conf.d', 'gzip.conf');
    const lines = readFileSync(broken, 'utf8').split('\n').length;
    appendFileSync(broken, 'gzip_level_typo 5;\n');
    const report = await check();
    expect(report).toContain(`error: [nginx -t] nginx/conf.d/gzip.conf:${lines}: unknown directive "gzip_level_typo"`);
    expect(report).toMatch(/1 errors/);
  });

  it('renders OCSP stapling only when asked, and nginx accepts it', async () => {
    const out = tempDir();
    const result = runScript('render.ts', [
      '--env',
      'prod',
      '--env-file',
      EXAMPLE,
      '--set',
      `STATE_DIR=${out}/state`,
      '--set',
      'NGINX_OCSP_STAPLING=on',
      '--out',
      out,
    ]);
    expect(result.code, result.stderr).toBe(0);
    const site = readFileSync(join(out, 'prod', 'nginx', 'sites', 'healthmate.conf'), 'utf8');
    expect(site).toContain('include snippets/ocsp-on.conf;');
    expect(await testNginxConfig(join(out, 'prod', 'nginx'))).toEqual([]);
  });
});

describe('the dev config in the real nginx', () => {
  let edge: Edge | undefined;
  let backend: Backend | undefined;
  afterAll(async () => {
    await edge?.stop();
    await backend?.close();
  });

  it('serves localhost with a self-signed certificate, every header but HSTS, and relaxed limits', async () => {
    backend = await startBackend('dev');
    edge = await startEdge({ env: 'dev', backends: [backend.address], certMode: 'self-signed' });
    const reply = await request(edge, { path: '/api/v1/items' });
    expect(reply.status).toBe(200);
    for (const name of SECURITY_HEADERS) expect(reply.headers[name], name).toBeTruthy();
    // A browser would remember HSTS for localhost and break every other local service.
    expect(reply.headers['strict-transport-security']).toBeUndefined();
    // Dev's relaxed API limit: a burst of 60 is not limited (prod allows 20 + 1).
    const burst = await Promise.all(Array.from({ length: 60 }, () => request(edge as Edge, { path: '/api/v1/burst' })));
    expect(burst.filter((r) => r.status === 429)).toHaveLength(0);
    const redirect = await request(edge, { path: '/x', plain: true });
    expect(redirect.headers.location).toBe(`https://localhost:${edge.ports.https}/x`);
  });
});
