// Preloaded by bench/startup.ts (NODE_OPTIONS=--import): records when the script
// first starts a tool, i.e. the end of its fixed start-up cost. The tsx CLI's own
// spawn of the node process that runs the script, and esbuild's transform service
// (tsx compiling the script), are not tools and are skipped.
import childProcess from 'node:child_process';
import { appendFileSync, realpathSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

const out = process.env.HEALTHMATE_FIRST_SPAWN_FILE;
const entry = process.argv[1] ? realpathSync(process.argv[1]) : '';
const isTsxCli = /[\\/]tsx[\\/]dist[\\/]cli\.m?js$/.test(entry);
if (out && !isTsxCli) {
  let recorded = false;
  const record = (file) => {
    if (recorded || /esbuild/.test(String(file))) return;
    recorded = true;
    appendFileSync(out, `${performance.timeOrigin + performance.now()} ${String(file)}\n`);
  };
  for (const name of ['spawn', 'spawnSync', 'execFile', 'execFileSync', 'exec', 'execSync']) {
    const original = childProcess[name];
    childProcess[name] = function (file, ...rest) {
      record(file);
      return original.call(this, file, ...rest);
    };
  }
  syncBuiltinESMExports();
}
