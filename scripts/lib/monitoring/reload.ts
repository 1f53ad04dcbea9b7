import { OperationError } from '../errors.js';
import { type HttpAnswer, HttpFailure, httpCall } from '../http-client.js';

/** A service with a lifecycle reload endpoint and the metrics that prove a reload. */
export interface ReloadTarget {
  name: 'Prometheus' | 'Alertmanager';
  url: string;
  successMetric: string;
  timestampMetric: string;
}

export function prometheusTarget(url: string): ReloadTarget {
  return {
    name: 'Prometheus',
    url,
    successMetric: 'prometheus_config_last_reload_successful',
    timestampMetric: 'prometheus_config_last_reload_success_timestamp_seconds',
  };
}

export function alertmanagerTarget(url: string): ReloadTarget {
  return {
    name: 'Alertmanager',
    url,
    successMetric: 'alertmanager_config_last_reload_successful',
    timestampMetric: 'alertmanager_config_last_reload_success_timestamp_seconds',
  };
}

const TIMEOUT_MS = 30_000;

function endpoint(target: ReloadTarget, path: string): string {
  return `${target.url.replace(/\/+$/, '')}${path}`;
}

/** How long a reset connection (a service or docker-proxy still starting: accepted, then dropped) is retried. */
const TRANSIENT_RETRY_MS = 60_000;

/** GET and the reload POST are both safe to repeat; only a reset connection is retried, for up to a minute. */
async function request(target: ReloadTarget, path: string, method: 'GET' | 'POST'): Promise<HttpAnswer> {
  const deadline = Date.now() + TRANSIENT_RETRY_MS;
  for (;;) {
    try {
      return await httpCall(endpoint(target, path), { method, timeoutMs: TIMEOUT_MS });
    } catch (error) {
      if (!(error instanceof HttpFailure)) throw error;
      if (error.code === 'ECONNRESET' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      throw new OperationError(`cannot reach ${target.name} at ${target.url} (${error.code}).`, `is ${target.name} running, and is the URL right?`);
    }
  }
}

/** Value of an unlabelled metric in a Prometheus text exposition, or undefined. */
export function metricValue(exposition: string, name: string): number | undefined {
  for (const line of exposition.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{}`)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

async function readMetrics(target: ReloadTarget): Promise<{ success?: number; timestamp?: number }> {
  const response = await request(target, '/metrics', 'GET');
  if (!response.ok) throw new OperationError(`${target.name} at ${target.url} answered HTTP ${response.status} on /metrics.`);
  const success = metricValue(response.body, target.successMetric);
  const timestamp = metricValue(response.body, target.timestampMetric);
  return { ...(success === undefined ? {} : { success }), ...(timestamp === undefined ? {} : { timestamp }) };
}

/**
 * POST /-/reload, then prove it took: the success gauge is 1 and the success
 * timestamp moved past the one before the reload. Throws OperationError with
 * the reason (the service's own message when it refuses the configuration).
 */
export async function reloadAndVerify(target: ReloadTarget): Promise<void> {
  const before = await readMetrics(target);
  // The timestamp has one-second resolution: make sure a new reload cannot share the old second.
  if (before.timestamp !== undefined) {
    const wait = before.timestamp * 1000 + 1100 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  const response = await request(target, '/-/reload', 'POST');
  if (!response.ok) {
    const body = response.body.trim().split('\n').slice(0, 5).join(' ');
    const hint = response.status === 403 ? `start ${target.name} with --web.enable-lifecycle` : undefined;
    throw new OperationError(`${target.name} at ${target.url} refused the reload (HTTP ${response.status})${body ? `: ${body}` : '.'}`, hint);
  }
  const after = await readMetrics(target);
  if (after.success !== 1) throw new OperationError(`${target.name} reports ${target.successMetric} = ${after.success ?? 'missing'} after the reload.`);
  if (after.timestamp === undefined || (before.timestamp !== undefined && after.timestamp <= before.timestamp)) {
    throw new OperationError(`${target.name}'s ${target.timestampMetric} did not advance: the reload did not take effect.`);
  }
}
