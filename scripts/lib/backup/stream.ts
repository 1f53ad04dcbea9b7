import type { ChildProcess } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PassThrough, type Readable, Transform, type TransformCallback, Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { addCleanup } from '../cleanup.js';
import { OperationError } from '../errors.js';
import { type Encryption, encryptStream } from './age.js';
import { type Command, collectStderr, exited, spawnCommand } from './process.js';

/** Stream buffers of 1 MiB instead of Node 20's 16 KiB: fewer, larger chunks through each stage of a gigabyte stream. */
const BIG_CHUNKS = { highWaterMark: 1 << 20 };

/** Counts and hashes the bytes flowing through. */
export class HashCounter extends Transform {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;
  constructor() {
    super(BIG_CHUNKS);
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

/**
 * Feeds the verifier's stdin without letting it stall or break the main
 * stream: pg_restore may exit (successfully) before reading the last bytes
 * of the dump; from then on the rest is discarded and its exit code decides.
 */
class VerifierFeed extends Writable {
  private gone = false;
  constructor(private readonly target: Writable) {
    super();
    target.on('error', () => {
      this.gone = true;
    });
    target.on('close', () => {
      this.gone = true;
    });
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.gone || this.target.write(chunk)) {
      callback();
      return;
    }
    const resume = () => {
      this.target.off('drain', resume);
      this.target.off('close', resume);
      callback();
    };
    this.target.on('drain', resume);
    this.target.on('close', resume);
  }
  override _final(callback: (error?: Error | null) => void): void {
    if (!this.gone) this.target.end();
    callback();
  }
}

export interface StreamResult {
  sha256: string;
  size: number;
  dumpSha256: string;
  dumpSize: number;
}

export interface StreamPlan {
  /** Writes the dump to stdout (pg_dump -Fc). */
  dump: Command;
  /** Reads the dump from stdin in full (pg_restore -f /dev/null); proves it is complete and readable. */
  verify: Command;
  /** Names the verifier in errors, e.g. "pg_restore". */
  verifierName: string;
  /** Final artifact path; the stream goes to `<final>.partial` first. */
  finalPath: string;
  recipients: string[];
  /** Makes the error message for a failed dump (e.g. a PostgreSQL connection error). */
  dumpError: (stderr: string, exit: { code: number | null; signal: NodeJS.Signals | null }) => Error;
}

/**
 * One stream, no pipefail holes: pg_dump stdout → sha256 → (verifier, and
 * age encryption → sha256 → <final>.partial) → fsync → rename. Any failing
 * stage (dump exit ≠ 0, verifier exit ≠ 0, a write error such as ENOSPC, a
 * signal) kills the other stages and removes the partial file.
 */
export async function streamToArtifact(plan: StreamPlan): Promise<StreamResult> {
  const partial = `${plan.finalPath}.partial`;
  // O_EXCL: a leftover partial of a killed run is removed under the lock, never reused.
  const file = await open(partial, 'wx', 0o600);
  const fileStream = createWriteStream('', { fd: file });
  const children: ChildProcess[] = [];
  let renamed = false;
  let encryption: Encryption | undefined;
  const abort = async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    encryption?.abort();
    fileStream.destroy();
    if (!renamed) await rm(partial, { force: true });
  };
  const removeCleanup = addCleanup(abort);
  const stopWriteback = writeBackEarly(file, fileStream);
  try {
    const plainHash = new HashCounter();
    const toFile = new PassThrough(BIG_CHUNKS);
    // Unencrypted, the artifact is the dump: its hash is the dump's, not a second pass over the same bytes.
    const artifactHash = plan.recipients.length > 0 ? new HashCounter() : undefined;
    // Ready before any process starts: Node discards the output of a child that exits
    // while nobody reads its stdout, and encryption setup awaits.
    encryption = plan.recipients.length > 0 ? await encryptStream(toFile, plan.recipients) : undefined;
    const body: Readable = encryption?.output ?? toFile;
    const dump = spawnCommand(plan.dump, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(dump);
    const dumpStderr = collectStderr(dump);
    const verify = spawnCommand(plan.verify, { stdio: ['pipe', 'ignore', 'pipe'] });
    children.push(verify);
    const verifyStderr = collectStderr(verify);
    const toVerifier = new VerifierFeed(verify.stdin as Writable);
    plainHash.pipe(toVerifier);
    plainHash.pipe(toFile);

    // Each stage reports its own failure; the first one is the cause, later ones are its echo.
    let firstError: unknown;
    const fail = (error: unknown) => {
      firstError ??= error;
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      encryption?.abort();
      // Paused streams would otherwise wait forever for a reader that is gone.
      for (const stream of [plainHash, toVerifier, toFile, body, artifactHash, fileStream]) stream?.destroy();
    };
    await Promise.all([
      pipeline(dump.stdout as Readable, plainHash).catch(fail),
      finished(toVerifier).catch(fail),
      (artifactHash ? pipeline(body, artifactHash, fileStream) : pipeline(body, fileStream)).catch(fail),
      encryption?.finished.catch(fail),
      // A dead pg_dump ends its stdout cleanly, so its exit code decides.
      exited(dump).then((exit) => {
        if (exit.code !== 0) fail(plan.dumpError(dumpStderr(), exit));
      }, fail),
      exited(verify).then((exit) => {
        if (exit.code !== 0)
          fail(
            new OperationError(
              `the output is not readable by ${plan.verifierName}: ${verifyStderr().replace(/\n/g, ' | ').slice(-300) || `exit ${exit.code ?? exit.signal}`}`,
            ),
          );
      }, fail),
    ]);
    await stopWriteback();
    if (firstError !== undefined) throw firstError;

    await syncFile(partial);
    await rename(partial, plan.finalPath);
    renamed = true;
    await syncFile(dirname(plan.finalPath));
    const dumpSha256 = plainHash.hash.digest('hex');
    return {
      sha256: artifactHash ? artifactHash.hash.digest('hex') : dumpSha256,
      size: artifactHash ? artifactHash.bytes : plainHash.bytes,
      dumpSha256,
      dumpSize: plainHash.bytes,
    };
  } catch (error) {
    await abort();
    throw writeError(error, partial);
  } finally {
    await stopWriteback();
    removeCleanup();
  }
}

/** How much written data may wait in the page cache before the disk is asked for it. */
const WRITEBACK_EVERY = 64 << 20;

/**
 * Has the disk write the artifact while the dump still runs, 64 MiB at a
 * time: pg_dump's compression keeps the CPU busy and the disk idle, and
 * otherwise the final fsync waits for the whole file (about 0.15 s per
 * 250 MB on the project's box). fdatasync runs on libuv's threads.
 * The returned function stops it and waits for the sync in flight.
 */
function writeBackEarly(file: FileHandle, stream: WriteStream): () => Promise<void> {
  let synced = 0;
  let inFlight: Promise<void> | undefined;
  const timer = setInterval(() => {
    const written = stream.bytesWritten;
    if (inFlight || written - synced < WRITEBACK_EVERY) return;
    inFlight = file.datasync().then(
      () => {
        synced = written;
      },
      // Not fatal (the stream may have closed the file): the final fsync is the one that counts.
      () => undefined,
    );
    void inFlight.finally(() => {
      inFlight = undefined;
    });
  }, 200);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await inFlight;
  };
}

function writeError(error: unknown, partial: string): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC')
    return new OperationError(`the disk holding ${dirname(partial)} is full; the partial backup was removed.`, 'free space or lower BACKUP_KEEP_*');
  if (code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE')
    return new OperationError('the backup stream broke before the dump ended; the partial backup was removed.');
  return error;
}

/** fsync a file or folder (any descriptor flushes the inode), so data and renames survive a power cut. */
export async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
