import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { accessLogEntries, type Backend, type Edge, type Reply, request, SECURITY_HEADERS, startBackend, startEdge } from './harness.js';

// The tests of this file run in order against one prod nginx: the last ones
// stop the backends (failover, then 502).
let edge: Edge;
let a: Backend;
let b: Backend;

const AUTH_BURST = 3;

beforeAll(async () => {
  a = await startBackend('a');
  b = await startBackend('b');
  edge = await startEdge({
    env: 'prod',
    backends: [a.address, b.address],
    set: {
      // Generous API limits so the other tests are never limited; a strict auth zone to prove limiting.
      NGINX_RATE_API: '1000r/s',
      NGINX_BURST_API: '1000',
      NGINX_RATE_AUTH: '1r/m',
      NGINX_BURST_AUTH: String(AUTH_BURST),
      NGINX_CLIENT_MAX_BODY_SIZE: '1k',
    },
  });
});

afterAll(async () => {
  await edge?.stop();
  await a?.close();
  await b?.close();
});

function expectSecurityHeaders(reply: Reply): void {
  for (const name of SECURITY_HEADERS) expect(reply.headers[name], `${name} on a ${reply.status}`).toBeTruthy();
  expect(reply.headers['strict-transport-security']).toBe('max-age=63072000; includeSubDomains');
  expect(reply.headers['x-frame-options']).toBe('DENY');
  expect(reply.headers['x-content-type-options']).toBe('nosniff');
  expect(reply.headers.server).toBe('nginx');
}

const seenBy = (path: string) => [...a.requests, ...b.requests].filter((r) => r.url === path);

describe('nginx in front of the backend (prod config)', () => {
  it('proxies to both replicas with forwarded headers and every security header', async () => {
    const replies = await Promise.all(
      Array.from({ length: 6 }, (_, i) => request(edge, { path: `/api/v1/items/${i}`, headers: { 'x-forwarded-for': '6.6.6.6' } })),
    );
    for (const reply of replies) {
      expect(reply.status).toBe(200);
      expectSecurityHeaders(reply);
      // The backend set no Cache-Control: personal data must not be stored anywhere.
      expect(reply.headers['cache-control']).toBe('no-store');
    }
    expect(new Set(replies.map((r) => JSON.parse(r.body).backend))).toEqual(new Set(['a', 'b']));
    const seen = seenBy('/api/v1/items/0')[0];
    expect(seen?.headers['x-forwarded-proto']).toBe('https');
    expect(seen?.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen?.headers['x-real-ip']).toBe('127.0.0.1');
    expect(seen?.headers.host).toBe(edge.domain);
    expect(seen?.headers.connection).toBeUndefined();
  });

  it('keeps security headers on a backend 404 and hides duplicates the backend sends', async () => {
    const reply = await request(edge, { path: '/api/v1/missing' });
    expect(reply.status).toBe(404);
    expectSecurityHeaders(reply);
    expect(reply.headers['x-request-id']).not.toContain('backend-echo');
  });

  it('generates a request id, keeps a valid incoming one and replaces a malformed one', async () => {
    const generated = await request(edge, { path: '/api/v1/rid-new' });
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
    expect(seenBy('/api/v1/rid-new')[0]?.headers['x-request-id']).toBe(generated.headers['x-request-id']);

    const kept = await request(edge, { path: '/api/v1/rid-kept', headers: { 'x-request-id': 'client-trace-0042' } });
    expect(kept.headers['x-request-id']).toBe('client-trace-0042');
    expect(seenBy('/api/v1/rid-kept')[0]?.headers['x-request-id']).toBe('client-trace-0042');

    const replaced = await request(edge, { path: '/api/v1/rid-bad', headers: { 'x-request-id': 'x"><script>' } });
    expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
    expect(seenBy('/api/v1/rid-bad')[0]?.headers['x-request-id']).toBe(replaced.headers['x-request-id']);

    // The JSON access log carries the same id, the upstream address and timings.
    const entry = accessLogEntries(edge).find((e) => e.path === '/api/v1/rid-kept');
    expect(entry).toMatchObject({ request_id: 'client-trace-0042', status: 200, method: 'GET', tls: expect.stringMatching(/^TLSv1\.[23]$/) });
    expect(String(entry?.upstream_addr)).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(Number(entry?.upstream_response_time)).toBeGreaterThanOrEqual(0);
  });

  it('gzips JSON for clients that accept it', async () => {
    const reply = await request(edge, { path: '/api/v1/large', headers: { 'accept-encoding': 'gzip' } });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-encoding']).toBe('gzip');
    expect(reply.headers.vary).toContain('Accept-Encoding');
  });

  it('caches /version briefly but never an API response, even one marked public', async () => {
    for (let i = 0; i < 3; i += 1) expect((await request(edge, { path: '/version' })).status).toBe(200);
    expect(seenBy('/version')).toHaveLength(1);
    const hit = await request(edge, { path: '/version' });
    expect(hit.headers['x-cache-status']).toBe('HIT');
    expectSecurityHeaders(hit);

    for (let i = 0; i < 3; i += 1) await request(edge, { path: '/api/v1/public-looking', headers: { authorization: 'Bearer t' } });
    expect(seenBy('/api/v1/public-looking')).toHaveLength(3);
  });

  it('passes /health through without rate limiting', async () => {
    const reply = await request(edge, { path: '/health' });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({ status: 'ok' });
  });

  it('answers 413 with JSON and headers for a body over client_max_body_size', async () => {
    const reply = await request(edge, { path: '/api/v1/upload', method: 'POST', body: 'x'.repeat(4096), headers: { 'content-type': 'text/plain' } });
    expect(reply.status).toBe(413);
    expect(JSON.parse(reply.body).detail).toMatch(/too large/);
    expectSecurityHeaders(reply);
  });

  it('limits login attempts per IP with 429: the backend sees no more than rate + burst', async () => {
    const started = Date.now();
    const replies = await Promise.all(Array.from({ length: 12 }, () => request(edge, { path: '/api/v1/auth/login' })));
    const elapsedMinutes = (Date.now() - started) / 60_000;
    const allowed = AUTH_BURST + 1 + Math.floor(elapsedMinutes * 1);
    const passed = replies.filter((r) => r.status === 200).length;
    const limited = replies.filter((r) => r.status === 429);
    expect(passed + limited.length).toBe(12);
    expect(passed).toBeLessThanOrEqual(allowed);
    expect(seenBy('/api/v1/auth/login').length).toBeLessThanOrEqual(allowed);
    expect(limited.length).toBeGreaterThanOrEqual(12 - allowed);
    const rejected = limited[0] as Reply;
    expectSecurityHeaders(rejected);
    expect(rejected.headers['content-type']).toBe('application/json');
    expect(JSON.parse(rejected.body).detail).toMatch(/Too many requests/);
    // The general API zone is separate and still open.
    expect((await request(edge, { path: '/api/v1/items/after-limit' })).status).toBe(200);
  });

  it('serves /metrics and stub_status to the monitoring network only', async () => {
    const inside = await request(edge, { path: '/metrics' });
    expect(inside.status).toBe(200);
    expect(inside.body).toContain('healthmate_active_users');
    const before = seenBy('/metrics').length;
    const outside = await request(edge, { path: '/metrics', localAddress: '127.0.0.2' });
    expect(outside.status).toBe(403);
    expectSecurityHeaders(outside);
    expect((await request(edge, { path: '/metrics/../metrics', localAddress: '127.0.0.2' })).status).toBe(403);
    expect(seenBy('/metrics')).toHaveLength(before);

    const status = await request(edge, { path: '/stub_status', plain: true, port: edge.ports.status });
    expect(status.status).toBe(200);
    expect(status.body).toMatch(/^Active connections: \d+/);
    const statusOutside = await request(edge, { path: '/stub_status', plain: true, port: edge.ports.status, localAddress: '127.0.0.2' });
    expect(statusOutside.status).toBe(403);
  });

  it('redirects plain HTTP with 308 to HTTPS, except the ACME challenge path', async () => {
    const redirect = await request(edge, { path: '/api/v1/items?page=2', plain: true, method: 'POST', body: '{}' });
    expect(redirect.status).toBe(308);
    expect(redirect.headers.location).toBe(`https://${edge.domain}:${edge.ports.https}/api/v1/items?page=2`);

    writeFileSync(join(edge.state, 'acme', '.well-known', 'acme-challenge', 'token-abc123'), 'token-abc123.thumbprint');
    const challenge = await request(edge, { path: '/.well-known/acme-challenge/token-abc123', plain: true });
    expect(challenge.status).toBe(200);
    expect(challenge.body).toBe('token-abc123.thumbprint');
    expect((await request(edge, { path: '/.well-known/acme-challenge/missing', plain: true })).status).toBe(404);
  });

  it('closes connections for an unknown host name, over HTTP and HTTPS', async () => {
    await expect(request(edge, { path: '/', plain: true, host: 'intruder.example' })).rejects.toThrow(/socket hang up|ECONNRESET/);
    // Unknown SNI: the handshake itself is refused, no certificate is shown.
    await expect(request(edge, { path: '/', host: 'intruder.example' })).rejects.toThrow(/alert|handshake|ECONNRESET|socket/i);
    // Right SNI, wrong Host header: no answer either.
    await expect(request(edge, { path: '/', headers: { host: 'intruder.example' } })).rejects.toThrow(/socket hang up|ECONNRESET/);
  });

  it('retries a 503 on the other replica for GET, never for POST', async () => {
    const atA = (method: string) => a.requests.filter((r) => r.url === '/api/v1/flaky' && r.method === method).length;
    const atB = (method: string) => b.requests.filter((r) => r.url === '/api/v1/flaky' && r.method === method).length;
    // POST first and one at a time, so b is tried before it counts as failed (max_fails=3).
    const posts: Reply[] = [];
    for (let i = 0; i < 4; i += 1) posts.push(await request(edge, { path: '/api/v1/flaky', method: 'POST', body: '{}' }));
    expect(atB('POST')).toBeGreaterThan(0);
    expect(posts.filter((r) => r.status === 503)).toHaveLength(atB('POST'));
    expect(posts.filter((r) => r.status === 200)).toHaveLength(atA('POST'));

    const gets = await Promise.all(Array.from({ length: 6 }, () => request(edge, { path: '/api/v1/flaky' })));
    expect(gets.map((r) => r.status)).toEqual(Array(6).fill(200));
    // b was asked and answered 503; nginx then took each of those GETs to a.
    expect(atB('GET')).toBeGreaterThan(0);
    expect(atA('GET')).toBe(6);
  });

  it('reuses upstream connections: many requests, few backend connections', async () => {
    const connectionsBefore = a.connections + b.connections;
    for (let i = 0; i < 60; i += 1) expect((await request(edge, { path: `/api/v1/keepalive/${i}` })).status).toBe(200);
    const opened = a.connections + b.connections - connectionsBefore;
    // At most one new connection per nginx worker and backend (workers = CPUs).
    expect(opened).toBeLessThanOrEqual(cpus().length * 2);
    expect([...a.requests, ...b.requests].filter((r) => r.url.startsWith('/api/v1/keepalive/'))).toHaveLength(60);
  });

  it('after every replica answered 503 (the database was down), serves the moment one is healthy again, not after fail_timeout', async () => {
    a.failing = true;
    b.failing = true;
    onTestFinished(() => {
      a.failing = false;
      b.failing = false;
    });
    // Three failing requests mark both replicas failed (max_fails=3; the state is shared by the workers).
    const down = [];
    for (let i = 0; i < 6; i += 1) down.push(await request(edge, { path: '/health' }));
    expect(down.every((r) => r.status === 503 || r.status === 502)).toBe(true);
    // Both replicas rest (fail_timeout 10 s): the last request ran out of replicas to ask.
    expect(accessLogEntries(edge).at(-1)?.upstream_status).toMatch(/502$/);
    a.failing = false;
    // Still within fail_timeout: the first request after a replica is healthy again succeeds.
    const back = await Promise.all(Array.from({ length: 8 }, () => request(edge, { path: '/health' })));
    expect(back.map((r) => r.status)).toEqual(Array(back.length).fill(200));
  });

  it('fails over: with one of two backends down every request succeeds', async () => {
    await b.close();
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => request(edge, { path: `/api/v1/failover/${i}` })));
    expect(replies.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(new Set(replies.map((r) => JSON.parse(r.body).backend))).toEqual(new Set(['a']));
  });

  it('answers 502 with JSON and security headers when no backend is up', async () => {
    await a.close();
    const reply = await request(edge, { path: '/api/v1/items/1' });
    expect(reply.status).toBe(502);
    expectSecurityHeaders(reply);
    expect(JSON.parse(reply.body).detail).toMatch(/temporarily unavailable/);
  });
});
