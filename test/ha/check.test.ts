import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VALIDATORS } from '../../scripts/lib/check/registry.js';
import { formatReport, runValidators } from '../../scripts/lib/check/runner.js';
import { clusterValidators } from '../../scripts/lib/check/validators/cluster.js';
import { patroniCheckCopy } from '../../scripts/lib/cluster/config-test.js';
import { loadEnv } from '../../scripts/lib/env/load.js';
import { listBundle } from '../../scripts/lib/render/bundle.js';
import { REPO, runScript } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * check.ts runs the real `haproxy -c` and `patroni --validate-config` on the rendered
 * cluster configs (the deploy runs the same in the haproxy and postgres images:
 * test/e2e/check.test.ts). The stand-ins for what is machine-bound (the project CA,
 * etcd's members, listen ports, the data folder) must not hide a broken config.
 */
function render(): string {
  const out = tempDir();
  const result = runScript('render.ts', ['--env', 'prod', '--env-file', join(REPO, '.env.example'), '--set', `STATE_DIR=${join(out, 'state')}`, '--out', out]);
  expect(result.code, result.stderr).toBe(0);
  return join(out, 'prod');
}

async function check(bundle: string): Promise<string> {
  const env = loadEnv({ env: 'prod', envFile: join(REPO, '.env.example'), purpose: 'plan', overrides: {} });
  return formatReport(await runValidators({ bundleDir: bundle, env, files: listBundle(bundle), secretValues: [] }, clusterValidators));
}

function edit(bundle: string, file: string, from: string | RegExp, to: string): void {
  const path = join(bundle, file);
  const text = readFileSync(path, 'utf8');
  const edited = text.replace(from, to);
  expect(edited, `${file} has ${from}`).not.toBe(text);
  writeFileSync(path, edited);
}

describe('haproxy -c and patroni --validate-config on the rendered cluster configs', () => {
  it('accept the rendered prod bundle, and are check.ts validators', async () => {
    const names = VALIDATORS.map((v) => v.name);
    expect(names).toContain('haproxy -c');
    expect(names).toContain('patroni --validate-config');
    expect(await check(render())).toMatch(/0 errors/);
  });

  it('refuse a haproxy.cfg HAProxy cannot load, naming the file and line', async () => {
    const bundle = render();
    const line =
      readFileSync(join(bundle, 'haproxy', 'haproxy.cfg'), 'utf8')
        .split('\n')
        .findIndex((l) => l.includes('balance roundrobin')) + 1;
    edit(bundle, 'haproxy/haproxy.cfg', 'balance roundrobin', 'balance round-robin');
    const report = await check(bundle);
    expect(report).toContain(`error: [haproxy -c] haproxy/haproxy.cfg:${line}: balance only supports`);
    expect(report).toMatch(/1 errors/);
  });

  it('refuse a patroni.yml Patroni rejects: a wrong type, a wrong value, a missing section', async () => {
    const bundle = render();
    edit(bundle, 'patroni/patroni.yml', /ttl: !!int "\d+"/, "ttl: 'twenty'");
    edit(bundle, 'patroni/patroni.yml', "mode: 'off'", "mode: 'sometimes'");
    const report = await check(bundle);
    expect(report).toContain('error: [patroni --validate-config] patroni/patroni.yml: bootstrap.dcs.ttl twenty is not and integer');
    expect(report).toContain("error: [patroni --validate-config] patroni/patroni.yml: watchdog.mode sometimes didn't pass validation");

    const noEtcd = render();
    edit(noEtcd, 'patroni/patroni.yml', /^etcd3:\n(?: {2}.*\n|\s*#.*\n)*/m, '');
    expect(await check(noEtcd)).toMatch(/error: \[patroni --validate-config\] patroni\/patroni\.yml: .*(etcd|dcs)/i);
  });

  it("the validator's copy changes only etcd's members, the listen addresses and the data folder", () => {
    const text = readFileSync(join(render(), 'patroni', 'patroni.yml'), 'utf8');
    const copy = patroniCheckCopy(text, {
      etcd: '127.0.0.1:1',
      listen: { restapi: '127.0.0.1:2', postgresql: '127.0.0.1:3' },
      dataDir: '/tmp/data',
    });
    const changed = (a: string, b: string) => a.split('\n').filter((line, i) => line !== b.split('\n')[i]);
    expect(changed(copy, text)).toEqual(["  listen: '127.0.0.1:2'", "  hosts: '127.0.0.1:1'", "  listen: '127.0.0.1:3'", "  data_dir: '/tmp/data'"]);
  });
});
