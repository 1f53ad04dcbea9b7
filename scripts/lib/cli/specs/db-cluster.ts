import { defineCli } from '../../cli.js';
import { flag, name } from '../kinds.js';

/** A member is named after its inventory host (HOST_DB2 → db2). */
const member = name('<member>', /^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$/, 'a member name as db-cluster.ts --status lists it (a host of the inventory, e.g. db2)');

export const SPEC = defineCli({
  name: 'db-cluster.ts',
  summary:
    "The production PostgreSQL cluster (Patroni and etcd on the inventory's db hosts; docs/ha.md). `--status`: every member's role, state, timeline and lag, the synchronous standby, each host's etcd member. `--switchover [--to MEMBER]`: the leader hands over to its synchronous standby, no commit lost. `--reinit MEMBER`: a replica's data copied again. Commands run in the members' containers through each host's engine (docker exec); switchover and reinit take the deploy lock and write an audit line.",
  dryRun: true,
  envs: { allowed: ['prod'], otherwise: 'dev runs one plain PostgreSQL, without Patroni.' },
  options: {
    status: { kind: flag, description: "show every member, the sync standby and etcd's health per host (read only)" },
    switchover: { kind: flag, description: 'hand the leadership over to the synchronous standby (a planned leader change)' },
    to: { kind: member, description: 'with --switchover: the member that takes over (the synchronous standby; default: Patroni picks it)' },
    reinit: { kind: member, description: "copy this replica's data again from the leader or the repository" },
  },
  relations: [
    { oneOf: ['status', 'switchover', 'reinit'], required: 'say what to do: --status, --switchover or --reinit MEMBER.' },
    { option: 'to', only: ['switchover'] },
    { option: 'status', excludes: ['dry-run'], why: '--status only reads' },
  ],
  examples: [
    'npx tsx scripts/db-cluster.ts --env-file .env.prod --status',
    'npx tsx scripts/db-cluster.ts --env-file .env.prod --switchover --dry-run',
    'npx tsx scripts/db-cluster.ts --env-file .env.prod --switchover --to db2',
    'npx tsx scripts/db-cluster.ts --env-file .env.prod --reinit db3',
  ],
});
