import { runCli } from './lib/cli.js';
import { BadInputError } from './lib/errors.js';

const COMMANDS = ['status', 'switchover', 'reinit'] as const;

await runCli(
  {
    name: 'db-cluster.ts',
    summary:
      "The production PostgreSQL cluster (Patroni and etcd on the inventory's db hosts; docs/ha.md). `status`: every member's role, state, timeline and lag, the synchronous standby, each host's etcd member. `switchover [--to MEMBER]`: the leader hands over to its synchronous standby, no commit lost. `reinit MEMBER`: a replica's data copied again. Commands run in the members' containers through each host's engine (docker exec); switchover and reinit take the deploy lock and write an audit line.",
    dryRun: true,
    envs: { allowed: ['prod'], otherwise: 'dev runs one plain PostgreSQL, without Patroni.' },
    positionals: '<status|switchover|reinit> [MEMBER]',
    options: {
      to: { type: 'string', value: '<member>', description: 'switchover: the member that takes over (the synchronous standby; default: Patroni picks it)' },
    },
    examples: [
      'npx tsx scripts/db-cluster.ts --env-file .env.prod status',
      'npx tsx scripts/db-cluster.ts --env-file .env.prod switchover --dry-run',
      'npx tsx scripts/db-cluster.ts --env-file .env.prod switchover --to db2',
      'npx tsx scripts/db-cluster.ts --env-file .env.prod reinit db3',
    ],
  },
  async (args) => {
    const [command, member, ...rest] = args.positionals;
    if (!command || !(COMMANDS as readonly string[]).includes(command))
      throw new BadInputError(`say what to do: ${COMMANDS.join(', ')} (got "${command ?? ''}").`, 'see --help');
    if (rest.length > 0 || (command !== 'reinit' && member !== undefined))
      throw new BadInputError(
        `${command} takes ${command === 'reinit' ? 'one member name' : 'no member name'}; extra: ${[member, ...rest].filter(Boolean).join(' ')}.`,
      );
    if (command === 'reinit' && member === undefined)
      throw new BadInputError('reinit needs the member to rebuild, e.g. reinit db3 (db-cluster.ts status lists them).');
    if (args.values.to !== undefined && command !== 'switchover') throw new BadInputError('--to goes with switchover only.');
    const { clusterMain } = await import('./lib/cluster/main.js');
    await clusterMain(
      args,
      command === 'status'
        ? 'status'
        : command === 'switchover'
          ? { kind: 'switchover', ...(typeof args.values.to === 'string' ? { to: args.values.to } : {}) }
          : { kind: 'reinit', member: member as string },
    );
  },
);
