import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envExampleText } from '../../scripts/lib/env/example.js';
import { loadEnv } from '../../scripts/lib/env/load.js';
import { SCHEMA } from '../../scripts/lib/env/schema.js';
import { ENV_NAMES } from '../../scripts/lib/env/spec.js';
import { buildContext, secretFileName } from '../../scripts/lib/render/context.js';
import { bundleLayout, TEMPLATE_ROOTS } from '../../scripts/lib/render/layout.js';
import { placeholdersIn } from '../../scripts/lib/render/template.js';
import { REPO } from '../helpers/run.js';
// Every area's template derivers, registered with render.
import '../../scripts/lib/derivers.js';

function filesUnder(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(join(REPO, dir));
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const rel = `${dir}/${name}`;
    return statSync(join(REPO, rel)).isDirectory() ? filesUnder(rel) : [rel];
  });
}

describe('env schema', () => {
  it('.env.example is generated from the schema (run `npm run env:example` when this fails)', () => {
    expect(readFileSync(join(REPO, '.env.example'), 'utf8')).toBe(envExampleText());
  });

  it('every variable has a one-line description ending with a period', () => {
    for (const [name, spec] of Object.entries(SCHEMA)) expect(spec.description, name).toMatch(/^[^\n]+\.$/);
  });

  it.each(ENV_NAMES)('every placeholder in the %s templates is a known variable or derived value', (env) => {
    const loaded = loadEnv({ env, envFile: join(REPO, '.env.example'), purpose: 'plan', processEnv: {} });
    const known = new Set(Object.keys(buildContext(loaded).values));
    const unknown: string[] = [];
    for (const entry of bundleLayout(REPO, env)) {
      for (const [name, line] of placeholdersIn(readFileSync(join(REPO, entry.source), 'utf8'))) {
        if (!known.has(name)) unknown.push(`${entry.source}:${line}: @@${name}@@`);
      }
    }
    expect(unknown).toEqual([]);
  });

  it('every variable in the schema is used by a template or a script', () => {
    const templates = TEMPLATE_ROOTS.flatMap((root) => filesUnder(root)).map((f) => readFileSync(join(REPO, f), 'utf8'));
    const code = filesUnder('scripts')
      .filter((f) => !f.startsWith('scripts/lib/env/'))
      .map((f) => readFileSync(join(REPO, f), 'utf8'));
    const unused = Object.entries(SCHEMA)
      .filter(([name, spec]) => {
        const word = new RegExp(`\\b${name}\\b`);
        if (templates.some((t) => t.includes(`@@${name}@@`)) || code.some((c) => word.test(c))) return false;
        // A secret is used when a template mounts its file.
        return !(spec.secret && templates.some((t) => t.includes(`secrets/${secretFileName(name)}`)));
      })
      .map(([name]) => name);
    expect(unused).toEqual([]);
  });
});
