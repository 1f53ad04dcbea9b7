import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Servers that accept connections and never answer, as a hung Docker engine or SFTP server
 * does: one on a unix socket, one on a loopback TCP port. They run in the test process, so
 * talk to them from child processes started asynchronously (runScriptAsync), not spawnSync.
 */
export interface SilentServers {
  /** unix://<tmp>/silent.sock */
  unixUrl: string;
  port: number;
  /** Connections accepted so far. */
  accepted(): number;
  /** When each was accepted (Date.now()), in order: how long a client waited before it tried again. */
  acceptedAt(): number[];
  close(): Promise<void>;
}

export async function startSilentServers(): Promise<SilentServers> {
  const dir = mkdtempSync(join(tmpdir(), 'healthmate-silent-'));
  const sockets: Socket[] = [];
  const times: number[] = [];
  const hold = (socket: Socket): void => {
    sockets.push(socket);
    times.push(Date.now());
    socket.on('error', () => undefined);
  };
  const listen = (server: Server, ...at: [string] | [number, string]): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(...(at as [number, string]), () => resolve());
    });
  const unix = createServer(hold);
  const tcp = createServer(hold);
  const socketPath = join(dir, 'silent.sock');
  await listen(unix, socketPath);
  await listen(tcp, 0, '127.0.0.1');
  const address = tcp.address();
  return {
    unixUrl: `unix://${socketPath}`,
    port: typeof address === 'object' && address ? address.port : 0,
    accepted: () => sockets.length,
    acceptedAt: () => [...times],
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all([unix, tcp].map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
