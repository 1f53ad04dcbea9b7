// An SFTP server that damages an upload in transit, for tests (rclone's sftp `server_command`):
// OpenSSH's own sftp-server (the path in argv) does the work, and this process sits between the
// client and it, flipping one byte in the data of the first SSH_FXP_WRITE. The size stays right.
// Plain JavaScript: sshd runs it as a remote command, outside the test runner.
import { spawn } from 'node:child_process';

const SSH_FXP_WRITE = 6;
const server = spawn(process.argv[2], [], { stdio: ['pipe', 'inherit', 'inherit'] });
server.on('exit', (code) => process.exit(code ?? 1));

let pending = Buffer.alloc(0);
let damaged = false;

/** SSH_FXP_WRITE: uint32 length, byte type, uint32 id, string handle, uint64 offset, string data. */
function damage(packet) {
  const lengthAt = 13 + packet.readUInt32BE(9) + 8;
  const dataLength = packet.readUInt32BE(lengthAt);
  // The data's own length: a client may send a packet longer than the data it carries.
  if (dataLength === 0) return false;
  packet[lengthAt + 4 + Math.floor(dataLength / 2)] ^= 0xff;
  return true;
}

process.stdin.on('data', (chunk) => {
  pending = Buffer.concat([pending, chunk]);
  while (pending.length >= 4) {
    const end = 4 + pending.readUInt32BE(0);
    if (pending.length < end) break;
    const packet = Buffer.from(pending.subarray(0, end));
    pending = pending.subarray(end);
    if (!damaged && packet[4] === SSH_FXP_WRITE) damaged = damage(packet);
    if (!server.stdin.write(packet)) {
      process.stdin.pause();
      server.stdin.once('drain', () => process.stdin.resume());
    }
  }
});
process.stdin.on('end', () => server.stdin.end());
