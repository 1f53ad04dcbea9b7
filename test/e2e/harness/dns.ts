/**
 * The e2e hosts' DNS server: what a private network's resolver does for the names an
 * operator registers (the pgBackRest repository host's name, say). It answers A queries
 * for its records, an empty answer for their other types, and NXDOMAIN for every other
 * name at once (so nothing on the hosts waits for an upstream that does not exist).
 *
 * Runs as its own process (the test process blocks on spawnSync at times):
 *   tsx dns.ts --listen 198.19.x.1 --record name=198.19.x.y [--record …]
 * Its stdin is a pipe from the harness: when that closes, the server exits.
 */
import { createSocket } from 'node:dgram';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { listen: { type: 'string' }, record: { type: 'string', multiple: true, default: [] } } });
if (!values.listen) throw new Error('usage: dns.ts --listen <address> --record name=address …');
const records = new Map(
  values.record.map((entry) => {
    const [name, address] = entry.split('=');
    return [(name as string).toLowerCase().replace(/\.$/, ''), address as string];
  }),
);

const socket = createSocket('udp4');
socket.on('message', (query, peer) => {
  if (query.length < 12 || query.readUInt16BE(4) !== 1) return;
  // The one question: its name's labels, then type and class.
  const labels: string[] = [];
  let offset = 12;
  while (offset < query.length && query[offset] !== 0) {
    const length = query[offset] as number;
    labels.push(query.subarray(offset + 1, offset + 1 + length).toString('latin1'));
    offset += length + 1;
  }
  offset += 1;
  if (offset + 4 > query.length) return;
  const type = query.readUInt16BE(offset);
  const question = query.subarray(12, offset + 4);
  const address = records.get(labels.join('.').toLowerCase());
  const answer = address !== undefined && type === 1;
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  // Response, authoritative, recursion desired as asked, recursion available; NXDOMAIN for an unknown name.
  header.writeUInt16BE(0x8000 | 0x0400 | (query.readUInt16BE(2) & 0x0100) | 0x0080 | (address === undefined ? 3 : 0), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answer ? 1 : 0, 6);
  const parts = [header, question];
  if (answer) {
    const record = Buffer.alloc(16);
    // A pointer to the question's name, type A, class IN, 60 s, 4 bytes of address.
    record.writeUInt16BE(0xc00c, 0);
    record.writeUInt16BE(1, 2);
    record.writeUInt16BE(1, 4);
    record.writeUInt32BE(60, 6);
    record.writeUInt16BE(4, 10);
    address.split('.').forEach((byte, i) => {
      record[12 + i] = Number(byte);
    });
    parts.push(record);
  }
  socket.send(Buffer.concat(parts), peer.port, peer.address);
});
socket.bind(53, values.listen, () => process.stdout.write('listening\n'));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
