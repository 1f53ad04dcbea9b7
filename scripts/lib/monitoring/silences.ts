import { BadInputError, OperationError } from '../errors.js';
import { type HttpAnswer, type HttpCall, HttpFailure, httpCall } from '../http-client.js';

/** Alertmanager API v2 matcher. */
export interface Matcher {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual: boolean;
}

export interface SilenceRequest {
  matchers: Matcher[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
}

/** Silences this script makes carry this author, so `--end all` ends only those. */
export const MAINTENANCE_AUTHOR = 'healthmate-maintenance';
const MAX_MINUTES = 7 * 24 * 60;

/** 30m, 2h, 1h30m, 1d → minutes. */
export function parseDuration(text: string): number {
  const match = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$/.exec(text);
  const minutes = match ? Number(match[1] ?? 0) * 1440 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0) : 0;
  if (!match || minutes <= 0) throw new BadInputError(`--for must be a duration like 30m, 2h or 1h30m, not "${text}".`);
  if (minutes > MAX_MINUTES) throw new BadInputError(`--for ${text} is longer than 7 days; a maintenance silence that long hides real problems.`);
  return minutes;
}

/** name=value, name!=value, name=~regex or name!~regex. */
export function parseMatcher(text: string): Matcher {
  const match = /^([a-zA-Z_][a-zA-Z0-9_]*)(=~|!~|!=|=)(.*)$/.exec(text);
  if (!match) throw new BadInputError(`--matcher must look like name=value, name!=value, name=~regex or name!~regex, not "${text}".`);
  const [, name, op, value] = match as unknown as [string, string, string, string];
  return { name, value, isRegex: op.endsWith('~'), isEqual: !op.startsWith('!') };
}

/**
 * Matchers of a maintenance silence: warning and info alerts of this
 * environment, never critical or data-loss alerts (those must still page).
 */
export function maintenanceMatchers(environment: string, extra: Matcher[]): Matcher[] {
  for (const m of extra) {
    // The window's own severity matcher already keeps critical alerts out; narrowing to them matches nothing.
    if (m.name === 'severity' && m.isEqual && !m.isRegex && !['warning', 'info'].includes(m.value))
      throw new BadInputError(
        `--matcher severity=${m.value} would make a silence that can never match: maintenance silences only warning and info alerts, and critical alerts always page.`,
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
  if (!/^[0-9a-f-]{36}$/.test(id)) throw new BadInputError(`--end expects a silence id (a UUID) or "all", not "${id}".`);
  await call(baseUrl, `/silence/${id}`, { method: 'DELETE' });
}
