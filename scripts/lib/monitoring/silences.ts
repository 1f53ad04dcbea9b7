import { type AlertMatcher, alertRegex } from '../cli/kinds.js';
import { BadInputError, OperationError } from '../errors.js';
import { type HttpAnswer, type HttpCall, HttpFailure, httpCall } from '../http-client.js';

/** Alertmanager API v2 matcher (maintenance.ts --matcher checked its syntax and regex). */
export type Matcher = AlertMatcher;

export interface SilenceRequest {
  matchers: Matcher[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
}

/** Silences this script makes carry this author, so `--end all` ends only those. */
export const MAINTENANCE_AUTHOR = 'healthmate-maintenance';

/** The severities a maintenance window silences: critical alerts always page. */
const SILENCED_SEVERITIES = ['warning', 'info'];

/** Whether `m` lets an alert with this label value through, as Alertmanager matches (regexes anchored). */
function accepts(m: Matcher, value: string): boolean {
  const equal = m.isRegex ? (alertRegex(m.value)?.test(value) ?? false) : m.value === value;
  return m.isEqual ? equal : !equal;
}

/**
 * Matchers of a maintenance silence: warning and info alerts of this
 * environment, never critical or data-loss alerts (those must still page).
 */
export function maintenanceMatchers(environment: string, extra: Matcher[]): Matcher[] {
  for (const m of extra) {
    // The window's own severity matcher already keeps critical alerts out; a matcher that lets neither warning nor info through matches nothing.
    if (m.name === 'severity' && !SILENCED_SEVERITIES.some((severity) => accepts(m, severity)))
      throw new BadInputError(
        `--matcher severity${m.isEqual ? '=' : '!'}${m.isRegex ? '~' : m.isEqual ? '' : '='}${m.value} would make a silence that can never match: maintenance silences only warning and info alerts, and critical alerts always page.`,
        'drop the matcher, or use severity=warning or severity=info',
      );
    if (m.name === 'environment' || m.name === 'data_loss')
      throw new BadInputError(`--matcher ${m.name} is set by the window itself (this env, never data-loss alerts); drop it.`);
  }
  return [
    { name: 'environment', value: environment, isRegex: false, isEqual: true },
    { name: 'severity', value: 'warning|info', isRegex: true, isEqual: true },
    { name: 'data_loss', value: 'true', isRegex: false, isEqual: false },
    ...extra,
  ];
}

export function silenceRequest(matchers: Matcher[], minutes: number, reason: string, now = new Date()): SilenceRequest {
  return {
    matchers,
    startsAt: now.toISOString(),
    endsAt: new Date(now.getTime() + minutes * 60_000).toISOString(),
    createdBy: MAINTENANCE_AUTHOR,
    comment: reason,
  };
}

async function call(baseUrl: string, path: string, init: Omit<HttpCall, 'timeoutMs'>): Promise<HttpAnswer> {
  const url = `${baseUrl.replace(/\/+$/, '')}/api/v2${path}`;
  let response: HttpAnswer;
  try {
    response = await httpCall(url, { ...init, timeoutMs: 15_000 });
  } catch (error) {
    if (!(error instanceof HttpFailure)) throw error;
    throw new OperationError(`cannot reach Alertmanager at ${baseUrl} (${error.code}).`, 'is Alertmanager running, and is --url right?');
  }
  if (!response.ok) {
    const body = response.body.trim();
    throw new OperationError(`Alertmanager at ${baseUrl} answered HTTP ${response.status} to ${init.method} ${path}${body ? `: ${body}` : '.'}`);
  }
  return response;
}

export async function createSilence(baseUrl: string, request: SilenceRequest): Promise<string> {
  const response = await call(baseUrl, '/silences', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) });
  return (JSON.parse(response.body) as { silenceID: string }).silenceID;
}

interface Silence {
  id: string;
  createdBy: string;
  comment: string;
  endsAt: string;
  status: { state: 'active' | 'pending' | 'expired' };
}

/** Active or pending silences this script created. */
export async function maintenanceSilences(baseUrl: string): Promise<Silence[]> {
  const response = await call(baseUrl, '/silences', { method: 'GET' });
  return (JSON.parse(response.body) as Silence[]).filter((s) => s.createdBy === MAINTENANCE_AUTHOR && s.status.state !== 'expired');
}

export async function expireSilence(baseUrl: string, id: string): Promise<void> {
  await call(baseUrl, `/silence/${id}`, { method: 'DELETE' });
}
