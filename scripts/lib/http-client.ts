import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpAnswer {
  status: number;
  ok: boolean;
  body: string;
}

/** A failed exchange, with the system code (ECONNRESET, ECONNREFUSED, ETIMEDOUT…) the caller reports. */
export class HttpFailure extends Error {
  constructor(readonly code: string) {
    super(code);
    this.name = 'HttpFailure';
  }
}

export interface HttpCall {
  method: 'GET' | 'POST' | 'DELETE';
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
}

/**
 * One HTTP exchange on node:http instead of fetch. Node 20's fetch (undici) can
 * leave its promise unsettled when a listener accepts and resets the connection;
 * with AbortSignal.timeout's timer unref'd, nothing keeps the process alive and
 * it exits 13 mid-retry. Here the socket carries the timeout, and a reset always
 * ends in 'error'.
 */
export function httpCall(url: string, call: HttpCall): Promise<HttpAnswer> {
  const send = new URL(url).protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const fail = (error: unknown) => reject(new HttpFailure((error as { code?: string }).code ?? String(error)));
    const req = send(url, { method: call.method, headers: call.headers ?? {}, timeout: call.timeoutMs }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () => {
        const status = response.statusCode ?? 0;
        resolve({ status, ok: status >= 200 && status < 300, body });
      });
      // A connection lost mid-body ends here as ECONNRESET.
      response.on('error', fail);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', fail);
    req.end(call.body);
  });
}
