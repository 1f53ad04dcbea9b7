import { defineCli } from '../../cli.js';
import { duration, flag, matcher, name, text, url } from '../kinds.js';

export const SPEC = defineCli({
  name: 'maintenance.ts',
  summary:
    'Start a maintenance window: an Alertmanager silence of warning and info alerts of this environment (never critical or data-loss alerts) for a bounded time, or end one early.',
  dryRun: true,
  options: {
    for: { kind: duration(7 * 86_400, 'a maintenance silence that long hides real problems'), description: 'length of the window' },
    reason: { kind: text(), description: 'why (shown in Alertmanager and the silence list)' },
    matcher: { kind: matcher, multiple: true, description: 'narrow the silence further (repeatable)' },
    end: {
      kind: name('<id|all>', /^(all|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i, 'a silence id (a UUID) or all'),
      description: 'expire this silence, or every active one this script made',
    },
    list: { kind: flag, description: 'list active maintenance silences' },
    url: { kind: url, default: 'http://127.0.0.1:9093', description: 'Alertmanager base URL' },
  },
  relations: [
    { oneOf: ['for', 'end', 'list'], required: 'pass --for <duration> to start a window, --end <id|all> to end one, or --list.' },
    { option: 'reason', only: ['for'], why: 'it describes a new window' },
    { option: 'matcher', only: ['for'], why: 'it describes a new window' },
    { option: 'for', needs: ['reason'], why: 'say why alerts are silenced (on-call reads it)' },
  ],
  examples: ['npx tsx scripts/maintenance.ts --env prod --for 30m --reason "PostgreSQL minor upgrade"', 'npx tsx scripts/maintenance.ts --env prod --end all'],
});
