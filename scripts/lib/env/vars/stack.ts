import { type VarSpec, v } from '../spec.js';

/** A pinned third-party image, overridable from the env (the e2e tests point these at local stand-ins). */
function image(what: string, tag: string): VarSpec<string> {
  return v.image({ description: `${what} image, pinned to a version tag.`, default: tag });
}

const PG_SIZE = { pattern: /^\d+(kB|MB|GB)$/, patternHint: 'must be a PostgreSQL size such as 256MB' };
const REDIS_SIZE = { pattern: /^\d+(kb|mb|gb)$/, patternHint: 'must be a Redis size such as 512mb' };

/** The application stack: images, database, cache and backend settings. */
export const stackVars = {
  BACKEND_IMAGE: v.str({
    description: 'Backend image repository, without the tag.',
    // Docker refuses repository names longer than 255 characters.
    pattern: /^(?=.{2,255}$)[a-z0-9][a-z0-9._/:-]*[a-z0-9]$/,
    patternHint: 'must be an image repository like healthmate/backend (at most 255 characters)',
    default: 'healthmate/backend',
  }),
  BACKEND_TAG: v.str({
    description: 'Backend image tag to deploy (a release version or git sha, never latest).',
    pattern: /^(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/,
    patternHint: 'must be a version tag such as 1.4.2 (not latest)',
    default: { dev: 'dev' },
    example: '1.0.0',
  }),
  BACKEND_REPLICAS: v.int({
    description: 'Number of backend containers behind nginx (a rolling update runs twice as many for a moment).',
    min: 1,
    max: 32,
    default: { dev: '1', prod: '3' },
  }),
  BACKEND_STOP_GRACE: v.duration({
    description: 'Time a backend or worker container gets after SIGTERM to finish in-flight work before it is killed.',
    default: '30s',
  }),
  BACKEND_HEALTH_TIMEOUT: v.int({
    description: 'Seconds a deploy waits for new backend/worker containers to become healthy before it rolls back.',
    min: 10,
    max: 3600,
    default: { dev: '180', prod: '180' },
  }),
  HEALTHMATE_SRC: v.str({
    description: 'Path of the HealthMate backend source checkout: the image build context, and bind-mounted for hot reload in dev.',
    pattern: /^[^\s@]+$/,
    patternHint: 'must be a path without spaces',
    default: '../healthchat-rag',
  }),
  BACKEND_APP_MODULE: v.str({
    description: 'ASGI application uvicorn serves (module:attribute); dev runs it with --reload.',
    pattern: /^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$/,
    patternHint: 'must be module:attribute such as app.main:app',
    default: 'app.main:app',
  }),
  MIGRATION_COMMAND: v.str({
    description: 'Command run once in a one-off backend container before the rolling update (database migrations).',
    pattern: /^[^'"`$\\]+$/,
    patternHint: 'must be a plain command without quotes, $ or backslashes',
    default: 'alembic upgrade head',
  }),
  CELERY_APP: v.str({
    description: 'Celery application the worker and beat load (celery -A).',
    pattern: /^[A-Za-z_][A-Za-z0-9_.:]*$/,
    patternHint: 'must be a Python module path such as app.worker.celery_app',
    default: 'app.worker.celery_app',
  }),
  WORKER_REPLICAS: v.int({ description: 'Number of Celery worker containers.', min: 1, max: 32, default: { dev: '1', prod: '2' } }),
  WORKER_CONCURRENCY: v.int({ description: 'Celery worker processes per worker container.', min: 1, max: 64, default: { dev: '2', prod: '4' } }),
  WORKER_DB_CONNECTIONS: v.int({
    description: 'Most PostgreSQL connections one worker container opens (all its processes together); used by the capacity check.',
    min: 1,
    max: 500,
    default: '10',
  }),
  DB_POOL_SIZE: v.int({ description: 'SQLAlchemy pool_size of each backend container.', min: 1, max: 500, default: '20' }),
  DB_MAX_OVERFLOW: v.int({ description: 'SQLAlchemy max_overflow of each backend container.', min: 0, max: 500, default: '30' }),
  DB_POOL_PRE_PING: v.bool({ description: 'SQLAlchemy pool_pre_ping: test a pooled connection before use.', default: 'true' }),
  REDIS_MAX_CONNECTIONS: v.int({ description: 'Redis connection pool size of each backend container.', min: 1, max: 10000, default: '50' }),
  REDIS_RETRY_ON_TIMEOUT: v.bool({ description: 'Redis client retry_on_timeout.', default: 'true' }),
  POSTGRES_DB: v.str({
    description: 'Application database name.',
    pattern: /^[a-z_][a-z0-9_]{0,62}$/,
    patternHint: 'must be a lowercase SQL identifier',
    default: 'healthmate',
  }),
  POSTGRES_USER: v.str({
    description: 'Application database role.',
    pattern: /^[a-z_][a-z0-9_]{0,62}$/,
    patternHint: 'must be a lowercase SQL identifier',
    default: 'healthmate_user',
  }),
  POSTGRES_PASSWORD: v.secret({
    description: 'Password of the application database role.',
    default: { dev: 'dev-postgres-password' },
  }),
  POSTGRES_MAX_CONNECTIONS: v.int({
    description: 'PostgreSQL max_connections; the render fails when backend pools, workers and tools could need more.',
    min: 20,
    max: 10000,
    default: { dev: '200', prod: '400' },
  }),
  POSTGRES_SHARED_BUFFERS: v.str({
    description: 'PostgreSQL shared_buffers (about 25% of the memory given to PostgreSQL).',
    ...PG_SIZE,
    default: { dev: '128MB', prod: '1GB' },
  }),
  POSTGRES_EFFECTIVE_CACHE_SIZE: v.str({
    description: 'PostgreSQL effective_cache_size (about 75% of that memory).',
    ...PG_SIZE,
    default: { dev: '512MB', prod: '3GB' },
  }),
  POSTGRES_WORK_MEM: v.str({ description: 'PostgreSQL work_mem per sort or hash (times max_connections must fit in memory).', ...PG_SIZE, default: '4MB' }),
  POSTGRES_MAINTENANCE_WORK_MEM: v.str({
    description: 'PostgreSQL maintenance_work_mem (vacuum, index builds).',
    ...PG_SIZE,
    default: { dev: '64MB', prod: '256MB' },
  }),
  REDIS_PASSWORD: v.secret({
    description: 'Password Redis requires from every client (requirepass).',
    default: { dev: 'dev-redis-password' },
  }),
  REDIS_MAXMEMORY: v.str({ description: 'Redis maxmemory.', ...REDIS_SIZE, default: { dev: '128mb', prod: '512mb' } }),
  REDIS_MAXMEMORY_POLICY: v.oneOf(['noeviction', 'volatile-lru', 'allkeys-lru', 'volatile-lfu', 'allkeys-lfu', 'volatile-ttl'] as const, {
    description: 'Redis eviction policy; volatile-* only evicts keys with a TTL, so Celery queues (no TTL) are never dropped.',
    default: 'volatile-lru',
  }),
  SECRET_KEY: v.secret({
    description: 'Backend signing key for sessions and tokens.',
    default: { dev: 'dev-secret-key-not-for-production' },
  }),
  POSTGRES_IMAGE: image('PostgreSQL', 'postgres:15.10-bookworm'),
  REDIS_IMAGE: image('Redis', 'redis:7.4.1-bookworm'),
  NGINX_IMAGE: image('Nginx', 'nginx:1.26.2'),
  PROMETHEUS_IMAGE: image('Prometheus', 'prom/prometheus:v2.55.1'),
  ALERTMANAGER_IMAGE: image('Alertmanager', 'prom/alertmanager:v0.27.0'),
  GRAFANA_IMAGE: image('Grafana', 'grafana/grafana:11.3.1'),
  POSTGRES_EXPORTER_IMAGE: image('postgres_exporter', 'quay.io/prometheuscommunity/postgres-exporter:v0.16.0'),
  REDIS_EXPORTER_IMAGE: image('redis_exporter', 'oliver006/redis_exporter:v1.66.0'),
  NODE_EXPORTER_IMAGE: image('node_exporter', 'prom/node-exporter:v1.8.2'),
  NGINX_EXPORTER_IMAGE: image('nginx-prometheus-exporter', 'nginx/nginx-prometheus-exporter:1.3.0'),
  BLACKBOX_EXPORTER_IMAGE: image('blackbox_exporter', 'prom/blackbox-exporter:v0.25.0'),
  CERTBOT_IMAGE: image('certbot', 'certbot/certbot:v2.11.0'),
  MAILHOG_IMAGE: image('Mailhog (dev SMTP sink)', 'mailhog/mailhog:v1.0.1'),
};
