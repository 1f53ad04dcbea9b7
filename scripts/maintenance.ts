import { SPEC } from './lib/cli/specs/maintenance.js';
import { runCli } from './lib/cli.js';
import { log } from './lib/log.js';

await runCli(SPEC, async (args) => {
  const { envFromCli } = await import('./lib/env/from-cli.js');
  const { createSilence, expireSilence, maintenanceMatchers, maintenanceSilences, silenceRequest } = await import('./lib/monitoring/silences.js');
  const { url, end } = args.values;
  const env = envFromCli(args, 'plan');
  if (end !== undefined) {
    const ids = end === 'all' ? (await maintenanceSilences(url)).map((s) => s.id) : [end];
    for (const id of ids) {
      if (args.dryRun) log.out(`would expire silence ${id} at ${url}`);
      else {
        await expireSilence(url, id);
        log.out(`expired silence ${id}`);
      }
    }
    if (ids.length === 0) log.info('no active maintenance silence');
    return;
  }
  if (args.values.list) {
    for (const s of await maintenanceSilences(url)) log.out(`${s.id} until ${s.endsAt}: ${s.comment}`);
    return;
  }
  // --for and --reason are both given here: the spec's relations say so.
  const matchers = maintenanceMatchers(env.name, args.values.matcher);
  const request = silenceRequest(matchers, (args.values.for as number) / 60, args.values.reason as string);
  if (args.dryRun) {
    log.out(`would POST ${url.replace(/\/+$/, '')}/api/v2/silences ${JSON.stringify(request)}`);
    return;
  }
  const id = await createSilence(url, request);
  log.info(`silenced warning and info alerts of ${env.name} until ${request.endsAt}; end early with --end ${id}`);
  log.out(id);
});
