import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/run.js';

/** House layering: entry → deploy/check/k8s → areas → render → env → core. */
const LIB = join(REPO, 'scripts', 'lib');
const AREAS = ['backup', 'certs', 'check', 'cluster', 'compose', 'deploy', 'k8s', 'monitoring', 'nginx'];

function modules(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
}

function imports(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/^import\s[^;]*?from\s+'([^']+)'|^import\s+'([^']+)'/gm)].map((m) => (m[1] ?? m[2]) as string);
}

describe('layering', () => {
  it('render/ imports no area (areas register their derivers with it)', () => {
    const offending = modules(join(LIB, 'render')).flatMap((file) =>
      imports(join(LIB, 'render', file))
        .filter((spec) => AREAS.some((area) => new RegExp(`^\\.\\./(\\.\\./)*${area}/`).test(spec) || spec.startsWith(`./derivers/`)))
        .map((spec) => `render/${file} imports ${spec}`),
    );
    expect(offending).toEqual([]);
  });

  it('the config areas import nothing from the layer above them (deploy/, check/, k8s/)', () => {
    // cluster/ is left out: db-cluster.ts's operations there take the deploy lock and write its audit log.
    const configAreas = ['backup', 'certs', 'compose', 'monitoring', 'nginx', 'pgbackrest'];
    const offending = configAreas.flatMap((area) =>
      modules(join(LIB, area)).flatMap((file) =>
        imports(join(LIB, area, file))
          .filter((spec) => /^\.\.\/(\.\.\/)*(deploy|check|k8s)\//.test(spec))
          .map((spec) => `${area}/${file} imports ${spec}`),
      ),
    );
    expect(offending).toEqual([]);
  });

  it('every temp folder comes from privateTempDir (cleanup.ts): no other mkdtemp in scripts/', () => {
    const scripts = join(REPO, 'scripts');
    const offending = modules(scripts).filter((file) => file !== join('lib', 'cleanup.ts') && /\bmkdtemp/.test(readFileSync(join(scripts, file), 'utf8')));
    expect(offending).toEqual([]);
  });

  it('deploy/ is split by step group: no module over 400 lines', () => {
    const long = modules(join(LIB, 'deploy'))
      .map((file) => ({ file, lines: readFileSync(join(LIB, 'deploy', file), 'utf8').split('\n').length }))
      .filter((m) => m.lines > 400);
    expect(long).toEqual([]);
  });
});
