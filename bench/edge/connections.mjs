// Run by bench/edge.ts: HTTPS connections that each carry one request, as a
// client that comes back does. `reuse` offers the previous connection's TLS
// session (nginx's shared session cache) the way browsers and HTTP client
// libraries do; `new` does a full handshake every time.
// Usage: node connections.mjs <port> <new|reuse> <seconds>
import { connect } from 'node:tls';

const [port, mode, seconds] = process.argv.slice(2);
const until = Date.now() + Number(seconds) * 1000;
let session;
let connections = 0;
let resumed = 0;

function once() {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port: Number(port),
      servername: 'localhost',
      rejectUnauthorized: false,
      session: mode === 'reuse' ? session : undefined,
    });
    socket.once('session', (s) => {
      session = s;
    });
    socket.once('secureConnect', () => {
      if (socket.isSessionReused()) resumed++;
      socket.write('GET /api/v1/bench HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    });
    socket.on('data', () => {});
    socket.once('end', resolve);
    socket.once('error', reject);
  });
}

while (Date.now() < until) {
  await once();
  connections++;
}
console.log(JSON.stringify({ perSecond: connections / Number(seconds), resumed, connections }));
