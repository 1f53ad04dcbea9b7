import { mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { REPO, SCRIPT_BUNDLE_ENV } from './helpers/run.js';

/**
 * Each source file keeps its own import.meta: the scripts find the repo's templates, CRDs and
 * packages from where their source lies, as they do under tsx.
 */
const ownImportMeta: Plugin = {
  name: 'own-import-meta',
  setup(builder) {
    builder.onLoad({ filter: /\.ts$/ }, ({ path }) => ({
      loader: 'ts',
      contents: readFileSync(path, 'utf8')
        .replaceAll('import.meta.dirname', JSON.stringify(dirname(path)))
        .replaceAll('import.meta.filename', JSON.stringify(path))
        .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(path).href)),
    }));
  },
};

/**
 * Vitest globalSetup of the unit project (after leftovers.ts, which made the run's private
 * TMPDIR): scripts/*.ts bundled once with esbuild, the compiler tsx itself runs, so that
 * runScript starts node on one file instead of tsx's loader compiling and resolving the
 * scripts' modules in each of several hundred runs (a render: 0.54 → 0.25 s of CPU). Packages
 * stay imports of the repo's node_modules. The operators' own `npx tsx scripts/...` stays under
 * test: the Ctrl-C trials and the e2e project run it, and a runScript with another root (a
 * changed copy of the repo) goes through tsx.
 */
export default async function setup(): Promise<() => void> {
  const out = join(process.env.TMPDIR ?? '/tmp', 'scripts-bundle');
  mkdirSync(out);
  symlinkSync(join(REPO, 'node_modules'), join(out, 'node_modules'));
  const scripts = join(REPO, 'scripts');
  await build({
    // A script that starts another with its own node options (process.execArgv: tsx's loader) stays
    // with tsx: under a bundle it would start node on TypeScript without one.
    entryPoints: readdirSync(scripts)
      .filter((f) => f.endsWith('.ts') && !readFileSync(join(scripts, f), 'utf8').includes('process.execArgv'))
      .map((f) => join(scripts, f)),
    outdir: out,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
    plugins: [ownImportMeta],
  });
  process.env[SCRIPT_BUNDLE_ENV] = out;
  return () => {
    delete process.env[SCRIPT_BUNDLE_ENV];
  };
}
