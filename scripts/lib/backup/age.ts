import { readFileSync } from 'node:fs';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BadInputError, OperationError } from '../errors.js';
import { findTool } from '../tools.js';
import { collectStderr, exited, spawnCommand } from './process.js';

function keyLines(file: string, what: string, hint: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new BadInputError(`${what} ${file} cannot be read (${code === 'ENOENT' ? 'it does not exist' : code}).`, hint);
  }
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** age recipients (age1...) from a recipients file, as `age -R` reads it. */
export function readRecipients(file: string): string[] {
  const hint = 'create it with `age-keygen -y identity.txt > recipients.txt` or fix BACKUP_AGE_RECIPIENTS_FILE';
  const lines = keyLines(file, 'age recipients file', hint);
  const bad = lines.find((l) => !/^age1[0-9a-z]+$/.test(l));
  if (bad !== undefined || lines.length === 0)
    throw new BadInputError(`age recipients file ${file} must hold one age1... recipient per line${bad ? `, not "${bad.slice(0, 20)}"` : ''}.`, hint);
  return lines;
}

/** age identities (AGE-SECRET-KEY-1...) from an identity file, as `age -i` reads it. */
export function readIdentities(file: string): string[] {
  const hint = 'pass the identity file made by age-keygen with --identity';
  const lines = keyLines(file, 'age identity file', hint);
  if (lines.length === 0 || lines.some((l) => !l.startsWith('AGE-SECRET-KEY-')))
    throw new BadInputError(`age identity file ${file} must hold AGE-SECRET-KEY-... lines.`, hint);
  return lines;
}

/** An encryption stage of a stream: read `output`; `finished` rejects when the encryption failed. */
export interface Encryption {
  output: Readable;
  finished: Promise<void>;
  /** Stops the stage at once (another stage failed). */
  abort(): void;
  /** Which implementation ran, for the log. */
  implementation: 'age' | 'age-encryption';
}

/**
 * age encryption of a stream to recipients (public keys, so they may appear in
 * argv). Debian's `age` binary writes the same format about ten times faster
 * than the TypeScript implementation (bench/backup.ts measures both), so it is
 * used when installed; the library is the fallback.
 */
export async function encryptStream(source: Readable, recipients: string[]): Promise<Encryption> {
  const binary = findTool('age');
  if (binary) return encryptWithBinary(binary, source, recipients);
  return encryptWithLibrary(source, recipients);
}

function encryptWithBinary(binary: string, source: Readable, recipients: string[]): Encryption {
  const child = spawnCommand({ file: binary, args: ['--encrypt', ...recipients.flatMap((r) => ['-r', r])] }, { stdio: ['pipe', 'pipe', 'pipe'] });
  const stderr = collectStderr(child);
  const ended = exited(child).then((exit) => {
    if (exit.code !== 0) throw new OperationError(`age encryption failed: ${stderr() || `exit ${exit.code ?? exit.signal}`}`);
  });
  const feeding = pipeline(source, child.stdin as Writable).catch(async (error: unknown) => {
    // A write age cut short by exiting (EPIPE): its exit status says why, not the write.
    if ((error as NodeJS.ErrnoException).code === 'EPIPE') await ended;
    throw error;
  });
  const finished = Promise.all([feeding, ended]).then(() => undefined);
  return {
    output: child.stdout as Readable,
    finished,
    abort: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
    implementation: 'age',
  };
}

export async function encryptWithLibrary(source: Readable, recipients: string[]): Promise<Encryption> {
  const { Encrypter } = await import('age-encryption');
  const encrypter = new Encrypter();
  for (const r of recipients) encrypter.addRecipient(r);
  const out = await encrypter.encrypt(Readable.toWeb(source) as ReadableStream<Uint8Array>);
  const output = Readable.fromWeb(out as import('node:stream/web').ReadableStream<Uint8Array>);
  return { output, finished: Promise.resolve(), abort: () => output.destroy(), implementation: 'age-encryption' };
}

/** Decrypts in stream; a non-matching identity is bad input (exit 2). */
export async function decryptStream(source: Readable, identities: string[], file: string): Promise<Readable> {
  const { Decrypter } = await import('age-encryption');
  const decrypter = new Decrypter();
  for (const i of identities) decrypter.addIdentity(i);
  try {
    const out = await decrypter.decrypt(Readable.toWeb(source) as ReadableStream<Uint8Array>);
    return Readable.fromWeb(out as import('node:stream/web').ReadableStream<Uint8Array>);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/no identity matched/i.test(message))
      throw new BadInputError(`none of the age identities given can decrypt ${file}.`, 'use the identity whose recipient the backups are encrypted to');
    throw new BadInputError(`${file} is not a readable age file (${message}).`);
  }
}
