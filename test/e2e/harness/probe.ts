import { readFileSync } from 'node:fs';
import { request } from 'node:https';

export interface HttpsAnswer {
  status: number;
  body: string;
}

export interface HttpsRequest {
  /** The address to connect to. */
  connect: string;
  port: number;
  path: string;
  /** The only CA the server's certificate is verified against. */
  caFile: string;
  /** SNI and Host; without it the certificate must name `connect` (an IP address SAN). */
  domain?: string;
  method?: 'GET' | 'POST';
  /** A JSON body. */
  body?: string;
  timeoutMs?: number;
}

/** One HTTPS request on a new connection; rejects on a connection error or timeout. */
export function httpsRequest(options: HttpsRequest): Promise<HttpsAnswer> {
  const { connect, port, path, caFile, domain, method = 'GET', body, timeoutMs = 10_000 } = options;
  const headers: Record<string, string | number> = domain ? { host: domain } : {};
  if (body !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  return new Promise((resolve, reject) => {
    const req = request(
      { host: connect, port, path, method, ...(domain ? { servername: domain } : {}), headers, ca: readFileSync(caFile), agent: false, timeout: timeoutMs },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

/** GET over HTTPS to `connect`:port (default 127.0.0.1) with SNI/Host `domain`, verifying the certificate against `caFile` only. */
export function httpsGet(domain: string, port: number, path: string, caFile: string, connect = '127.0.0.1'): Promise<HttpsAnswer> {
  return httpsRequest({ connect, port, path, caFile, domain });
}

export async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

interface Target {
  labels: Record<string, string>;
  scrapeUrl: string;
  health: string;
  lastError: string;
}

export async function prometheusTargets(base = 'http://127.0.0.1:9090'): Promise<Target[]> {
  const answer = await getJson<{ data: { activeTargets: Target[] } }>(`${base}/api/v1/targets?state=active`);
  return answer.data.activeTargets;
}

export async function promQuery(query: string, base = 'http://127.0.0.1:9090'): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const answer = await getJson<{ data: { result: { metric: Record<string, string>; value: [number, string] }[] } }>(
    `${base}/api/v1/query?query=${encodeURIComponent(query)}`,
  );
  return answer.data.result;
}

export interface AlertmanagerAlert {
  labels: Record<string, string>;
  status: { state: string };
}

export async function alertmanagerAlerts(base = 'http://127.0.0.1:9093'): Promise<AlertmanagerAlert[]> {
  return getJson<AlertmanagerAlert[]>(`${base}/api/v2/alerts`);
}

export interface AuditLine {
  tag: string;
  action: string;
  result: string;
  previousTag?: string;
  skippedChecks?: string[];
  error?: string;
}

export function auditLines(stateDir: string): AuditLine[] {
  return readFileSync(`${stateDir}/deploy/audit.log`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as AuditLine);
}
