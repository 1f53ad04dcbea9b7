import { refuseTogether, runCli, urlOption } from './lib/cli.js';
import { BadInputError } from './lib/errors.js';
import { log } from './lib/log.js';

await runCli(
  {
    name: 'maintenance.ts',
    summary:
      'Start a maintenance window: an Alertmanager silence of warning and info alerts of this environment (never critical or data-loss alerts) for a bounded time, or end one early.',
    dryRun: true,
    options: {
      for: { type: 'string', value: '<30m|2h|1h30m>', description: 'length of the window (at most 7 days)' },
      reason: { type: 'string', value: '<text>', description: 'why (shown in Alertmanager and the silence list)' },
      matcher: { type: 'string', multiple: true, value: '<name=value>', description: 'narrow the silence further (repeatable; =, !=, =~, !~)' },
      end: { type: 'string', value: '<id|all>', description: 'expire this silence, or every active one this script made' },
      list: { type: 'boolean', description: 'list active maintenance silences' },
      url: { type: 'string', value: '<url>', description: 'Alertmanager base URL (default http://127.0.0.1:9093)' },
    },
    examples: [
      'npx tsx scripts/maintenance.ts --env prod --for 30m --reason "PostgreSQL minor upgrade"',
      'npx tsx scripts/maintenance.ts --env prod --end all',
    ],
  },
  async (args) => {
    const { envFromCli } = await import('./lib/env/from-cli.js');
    const { createSilence, expireSilence, maintenanceMatchers, maintenanceSilences, parseDuration, parseMatcher, silenceRequest } = await import(
      './lib/monitoring/silences.js'
    );
    refuseTogether(args, ['for', 'end', 'list']);
    // --reason and --matcher describe a new window; with --end or --list they would be dropped.
    const stray = ['reason', 'matcher'].find((flag) => args.values[flag] !== undefined);
    if (stray && args.values.for === undefined) throw new BadInputError(`--${stray} goes with --for only (it describes a new window).`);
    const url = urlOption(args, 'url', 'http://127.0.0.1:9093');
    const env = envFromCli(args, 'plan');
    const end = args.values.end;
    if (typeof end === 'string') {
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
    if (typeof args.values.for !== 'string') throw new BadInputError('pass --for <duration> to start a window, or --end <id|all>.', 'see --help');
    const reason = typeof args.values.reason === 'string' ? args.values.reason.trim() : '';
    if (reason === '') throw new BadInputError('--reason is required: say why alerts are silenced (on-call reads it).');
    const minutes = parseDuration(args.values.for);
    const matchers = maintenanceMatchers(env.name, ((args.values.matcher as string[] | undefined) ?? []).map(parseMatcher));
    const request = silenceRequest(matchers, minutes, reason);
    if (args.dryRun) {
      log.out(`would POST ${url.replace(/\/+$/, '')}/api/v2/silences ${JSON.stringify(request)}`);
      return;
    }
    const id = await createSilence(url, request);
    log.info(`silenced warning and info alerts of ${env.name} until ${request.endsAt}; end early with --end ${id}`);
    log.out(id);
  },
);
