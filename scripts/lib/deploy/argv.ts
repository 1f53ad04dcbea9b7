/** The commands the deploy's plan and its steps share: how it calls the repo's scripts, the migration, nginx's reload. */
import { isHostVariable } from '../env/inventory.js';
import type { LoadedEnv } from '../env/load.js';
import { SCHEMA, type VarName } from '../env/schema.js';

/** pgBackRest's TLS server beside PostgreSQL (it waits for postgres to be healthy). */
export const PGBACKREST_SERVICE = 'pgbackrest';

/**
 * Graceful nginx reload from inside the container (the master reads its pid file under the -p
 * prefix of the compose command). Never `docker kill -s HUP`: Docker 20.10 counts any
 * `docker kill` as a manual stop, and nginx then stays down after a daemon restart or a reboot
 * (e2e chaos scenario 4).
 */
export const NGINX_RELOAD = ['exec', '-T', 'nginx', 'nginx', '-p', '/var/cache/nginx/', '-c', '/etc/nginx/nginx.conf', '-e', 'stderr', '-s', 'reload'];
export const MONITORING_SERVICES = [
  'prometheus',
  'alertmanager',
  'grafana',
  'postgres-exporter',
  'redis-exporter',
  'node-exporter',
  'nginx-exporter',
  'blackbox-exporter',
] as const;

/** The --set overrides the deploy passes on to the scripts it calls: env variables and HOST_ lines. */
export function passedOverrides(overrides: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(overrides).filter(([name]) => name in SCHEMA || isHostVariable(name)));
}

/** How the deploy calls another repo script: same env file, same non-secret overrides (HOST_ lines too: the same inventory). */
export function scriptArgv(script: string, input: { env: LoadedEnv; envFile?: string; overrides: Record<string, string> }, extra: string[] = []): string[] {
  const sets = Object.entries(input.overrides)
    .filter(([name]) => !(SCHEMA[name as VarName]?.secret ?? false))
    .flatMap(([name, value]) => ['--set', `${name}=${value}`]);
  return ['npx', 'tsx', `scripts/${script}`, '--env', input.env.name, ...(input.envFile ? ['--env-file', input.envFile] : []), ...sets, ...extra];
}

export function migrationArgv(env: LoadedEnv): string[] {
  return env.values.MIGRATION_COMMAND.trim().split(/\s+/);
}

/** Seconds in a compose-style duration (30s, 2m, 1h). */
export function durationSeconds(duration: string): number {
  const match = /^(\d+)(ms|s|m|h|d|w|y)$/.exec(duration);
  if (!match) return 30;
  const value = Number(match[1]);
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 }[match[2] as 'ms'];
  return Math.max(1, Math.ceil(value * unit));
}
