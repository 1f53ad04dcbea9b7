import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Backend, type Edge, type Reply, request, SECURITY_HEADERS, startBackend, startEdge } from './harness.js';

// The general API zone (`location /` and /version) of the rendered prod config, made strict here;
// proxy.test.ts keeps it wide open and proves the auth zone.
const API_BURST = 3;
const REQUESTS = 12;

let edge: Edge;
let backend: Backend;

beforeAll(async () => {
  backend = await startBackend('a');
  edge = await startEdge({ env: 'prod', backends: [backend.address], set: { NGINX_RATE_API: '1r/m', NGINX_BURST_API: String(API_BURST) } });
});

afterAll(async () => {
  await edge?.stop();
  await backend?.close();
});

const seen = (path: string) => backend.requests.filter((r) => r.url === path).length;

/** `REQUESTS` at once from one client address; what nginx answered and how many reached the backend. */
async function burst(path: string, localAddress: string): Promise<{ replies: Reply[]; allowed: number }> {
  const started = Date.now();
  const replies = await Promise.all(Array.from({ length: REQUESTS }, () => request(edge, { path, localAddress })));
  // 1r/m: one more request may pass for each minute the burst took on a slow machine.
  return { replies, allowed: API_BURST + 1 + Math.floor((Date.now() - started) / 60_000) };
}

describe('the general API rate limit (prod config, loopback nginx)', () => {
  it('answers 429 (not 503) with JSON beyond rate + burst on an ordinary API path; the backend sees no more', async () => {
    const { replies, allowed } = await burst('/api/v1/items', '127.0.0.1');
    const statuses = replies.map((r) => r.status);
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(allowed);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(REQUESTS - allowed);
    expect(seen('/api/v1/items')).toBeLessThanOrEqual(allowed);
    const rejected = replies.find((r) => r.status === 429) as Reply;
    expect(rejected.headers['content-type']).toBe('application/json');
    expect(JSON.parse(rejected.body).detail).toMatch(/Too many requests/);
    for (const name of SECURITY_HEADERS) expect(rejected.headers[name], name).toBeTruthy();
    // The budget is per client, not per path: another API path from the same address is limited too.
    expect((await request(edge, { path: '/api/v1/other', localAddress: '127.0.0.1' })).status).toBe(429);
    // Health checks are never limited.
    expect((await request(edge, { path: '/health', localAddress: '127.0.0.1' })).status).toBe(200);
  });

  it('keeps a budget per client address: one client used up its own, another still gets through, then is limited alike', async () => {
    const first = await burst('/api/v1/first', '127.0.0.3');
    expect(first.replies.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(REQUESTS - first.allowed);
    const { replies, allowed } = await burst('/api/v1/elsewhere', '127.0.0.2');
    const passed = replies.filter((r) => r.status === 200).length;
    expect(passed).toBeGreaterThanOrEqual(1);
    expect(passed).toBeLessThanOrEqual(allowed);
    expect(replies.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(REQUESTS - allowed);
    expect(seen('/api/v1/elsewhere')).toBe(passed);
  });
});
