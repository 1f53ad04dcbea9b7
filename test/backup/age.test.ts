import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { decryptStream, type Encryption, encryptStream, encryptWithLibrary } from '../../scripts/lib/backup/age.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

async function encryptAll(encryption: Encryption): Promise<Buffer> {
  const [out] = await Promise.all([collect(encryption.output), encryption.finished]);
  return out;
}

function keys(dir: string): { identityFile: string; identity: string; recipient: string } {
  const identityFile = join(dir, 'identity.txt');
  expect(spawnSync(needTool('age-keygen'), ['-o', identityFile]).status).toBe(0);
  const identity = readFileSync(identityFile, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('AGE-SECRET-KEY-')) as string;
  const recipient = spawnSync('age-keygen', ['-y', identityFile], { encoding: 'utf8' }).stdout.trim();
  return { identityFile, identity, recipient };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('age encryption: Debian age binary and the TypeScript library write one format', () => {
  test('the binary is used when installed, and its output decrypts with the library and with age -d', async () => {
    needTool('age');
    const dir = tempDir();
    const { identityFile, identity, recipient } = keys(dir);
    const plain = randomBytes(3 * 1024 * 1024 + 17);
    const encryption = await encryptStream(Readable.from([plain]), [recipient]);
    expect(encryption.implementation).toBe('age');
    const sealed = await encryptAll(encryption);
    expect(sealed.subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    const viaLibrary = await collect(await decryptStream(Readable.from([sealed]), [identity], 'test.age'));
    expect(sha(viaLibrary)).toBe(sha(plain));
    const file = join(dir, 'x.age');
    writeFileSync(file, sealed);
    const viaBinary = spawnSync('age', ['-d', '-i', identityFile, file], { maxBuffer: 16 * 1024 * 1024 });
    expect(viaBinary.status).toBe(0);
    expect(sha(viaBinary.stdout)).toBe(sha(plain));
  });

  test('the library fallback writes what age -d reads', async () => {
    const dir = tempDir();
    const { identityFile, recipient } = keys(dir);
    const plain = randomBytes(1024 * 1024);
    const encryption = await encryptWithLibrary(Readable.from([plain]), [recipient]);
    const file = join(dir, 'y.age');
    writeFileSync(file, await encryptAll(encryption));
    const viaBinary = spawnSync('age', ['-d', '-i', identityFile, file], { maxBuffer: 16 * 1024 * 1024 });
    expect(viaBinary.status).toBe(0);
    expect(sha(viaBinary.stdout)).toBe(sha(plain));
  });

  test('a failing age process rejects `finished` with its own message', async () => {
    needTool('age');
    const encryption = await encryptStream(Readable.from([Buffer.from('x')]), ['age1notarecipient']);
    const drained = collect(encryption.output);
    await expect(encryption.finished).rejects.toThrow(/age encryption failed/);
    await drained;
  });

  test('age failing while the stream still feeds it: its own message, not the EPIPE of the write it cut short', async () => {
    needTool('age');
    // More than a pipe holds, written while age refuses its recipient and exits.
    const endless = Readable.from(
      (function* () {
        for (;;) yield Buffer.alloc(64 * 1024);
      })(),
    );
    const encryption = await encryptStream(endless, ['age1notarecipient']);
    const drained = collect(encryption.output);
    await expect(encryption.finished).rejects.toThrow(/age encryption failed: .*age1notarecipient/);
    await drained;
    endless.destroy();
  });
});
