import type { EnvValues } from '../env/schema.js';

/** superuser_reserved_connections: PostgreSQL's default, set explicitly in the compose command. */
export const SUPERUSER_RESERVED_CONNECTIONS = 3;
/** Connections tools open besides the app: postgres_exporter 1, backup-db.ts (pg_dump) 2, the migration container 1. */
export const TOOL_CONNECTIONS = { exporter: 1, backup: 2, migration: 1 } as const;

export interface CapacityReport {
  /** Connections needed at the peak of a rolling update (old and new replicas side by side). */
  needed: number;
  available: number;
  lines: string[];
}

type CapacityValues = Pick<
  EnvValues,
  'BACKEND_REPLICAS' | 'DB_POOL_SIZE' | 'DB_MAX_OVERFLOW' | 'WORKER_REPLICAS' | 'WORKER_DB_CONNECTIONS' | 'POSTGRES_MAX_CONNECTIONS'
>;

/**
 * PostgreSQL connection budget. A rolling update runs old and new containers
 * side by side, so the peak is twice the steady replica count.
 */
export function connectionCapacity(values: CapacityValues): CapacityReport {
  const perBackend = values.DB_POOL_SIZE + values.DB_MAX_OVERFLOW;
  const backend = 2 * values.BACKEND_REPLICAS * perBackend;
  const workers = 2 * values.WORKER_REPLICAS * values.WORKER_DB_CONNECTIONS;
  const tools = TOOL_CONNECTIONS.exporter + TOOL_CONNECTIONS.backup + TOOL_CONNECTIONS.migration;
  const available = values.POSTGRES_MAX_CONNECTIONS - SUPERUSER_RESERVED_CONNECTIONS;
  return {
    needed: backend + workers + tools,
    available,
    lines: [
      `backend 2×${values.BACKEND_REPLICAS} replicas during a rolling update × (pool ${values.DB_POOL_SIZE} + overflow ${values.DB_MAX_OVERFLOW}) = ${backend}`,
      `workers 2×${values.WORKER_REPLICAS} × ${values.WORKER_DB_CONNECTIONS} = ${workers}`,
      `exporter, backup and migration = ${tools}`,
      `available: max_connections ${values.POSTGRES_MAX_CONNECTIONS} − ${SUPERUSER_RESERVED_CONNECTIONS} reserved = ${available}`,
    ],
  };
}

/** One sentence when the budget is exceeded, else undefined. */
export function capacityProblem(values: CapacityValues): string | undefined {
  const report = connectionCapacity(values);
  if (report.needed <= report.available) return undefined;
  return (
    `PostgreSQL connections: the stack may open ${report.needed} but max_connections allows ${report.available} (short by ${report.needed - report.available}: ` +
    `${report.lines.join('; ')}); raise POSTGRES_MAX_CONNECTIONS or lower BACKEND_REPLICAS, DB_POOL_SIZE, DB_MAX_OVERFLOW or WORKER_DB_CONNECTIONS.`
  );
}
