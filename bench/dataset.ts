/**
 * A database that compresses like a health-chat backend's data, not like
 * pgbench's blank filler: conversations and messages of natural-looking text
 * (Zipf-distributed words), jsonb metadata, numeric scores, timestamps, and
 * attachments whose bytea bodies are incompressible (photos, PDFs). About
 * 20 MB on disk per unit of scale, loaded with COPY from a generated stream.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** A small deterministic PRNG (mulberry32), so every run loads the same data. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = prng(20261130);
const LETTERS = 'etaoinshrdlcumwfgypbvkjxqz';

/** 6,000 pseudo-words, short ones common, drawn by a Zipf law like the words of real text. */
const VOCABULARY = Array.from({ length: 6000 }, (_, i) => {
  const length = 2 + Math.floor(random() * (3 + Math.log2(i + 2)));
  let word = '';
  for (let j = 0; j < length; j++) word += LETTERS[Math.floor(random() ** 1.7 * LETTERS.length)];
  return word;
});
const ZIPF_CDF = (() => {
  const weights = VOCABULARY.map((_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  let sum = 0;
  return weights.map((w) => {
    sum += w / total;
    return sum;
  });
})();

function word(): string {
  const x = random();
  let lo = 0;
  let hi = ZIPF_CDF.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((ZIPF_CDF[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return VOCABULARY[lo] as string;
}

function sentence(words: number): string {
  const parts: string[] = [];
  for (let i = 0; i < words; i++) parts.push(word());
  const text = parts.join(' ');
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

function paragraph(): string {
  const sentences = 1 + Math.floor(random() * 6);
  return Array.from({ length: sentences }, () => sentence(4 + Math.floor(random() * 18))).join(' ');
}

const iso = (ms: number) => new Date(ms).toISOString();

const SCHEMA = `
CREATE TABLE conversations (id bigint PRIMARY KEY, user_id bigint NOT NULL, created_at timestamptz NOT NULL, title text NOT NULL);
CREATE TABLE messages (
  id bigint PRIMARY KEY, conversation_id bigint NOT NULL REFERENCES conversations, role text NOT NULL,
  created_at timestamptz NOT NULL, content text NOT NULL, tokens integer NOT NULL, score numeric(6,4), metadata jsonb NOT NULL);
CREATE TABLE attachments (id bigint PRIMARY KEY, message_id bigint NOT NULL REFERENCES messages, mime text NOT NULL, body bytea NOT NULL);
CREATE INDEX messages_conversation ON messages (conversation_id, created_at);
`;

const MESSAGES_PER_UNIT = 20_000;
const MESSAGES_PER_CONVERSATION = 20;
/** One attachment per 200 messages, 16–48 KiB each: about 15% of the data, as photos and scans are. */
const ATTACHMENT_EVERY = 200;

function* conversationRows(scale: number): Generator<string> {
  const count = Math.ceil((scale * MESSAGES_PER_UNIT) / MESSAGES_PER_CONVERSATION);
  const start = Date.UTC(2025, 0, 1);
  for (let id = 1; id <= count; id++)
    yield `${id}\t${1 + Math.floor(random() * 50_000)}\t${iso(start + id * 60_000)}\t${sentence(3 + Math.floor(random() * 5))}\n`;
}

function* messageRows(scale: number): Generator<string> {
  const count = scale * MESSAGES_PER_UNIT;
  const start = Date.UTC(2025, 0, 1);
  const models = ['hm-rag-small', 'hm-rag-large', 'hm-triage'];
  const tags = ['sleep', 'nutrition', 'medication', 'exercise', 'mood', 'blood-pressure', 'glucose', 'allergy'];
  for (let id = 1; id <= count; id++) {
    const assistant = id % 2 === 0;
    const content = assistant ? Array.from({ length: 1 + Math.floor(random() * 4) }, paragraph).join('\\n\\n') : paragraph();
    const tokens = Math.ceil(content.length / 4);
    const score = assistant ? (random() * 10).toFixed(4) : '\\N';
    const metadata = JSON.stringify({
      model: assistant ? models[Math.floor(random() * models.length)] : null,
      latency_ms: assistant ? Math.round(200 + random() * 4000) : null,
      sources: assistant
        ? Array.from({ length: Math.floor(random() * 4) }, () => ({ doc: `kb-${Math.floor(random() * 90_000)}`, score: Number(random().toFixed(3)) }))
        : [],
      tags: tags.filter(() => random() < 0.15),
    });
    yield `${id}\t${1 + Math.floor((id - 1) / MESSAGES_PER_CONVERSATION)}\t${assistant ? 'assistant' : 'user'}\t${iso(start + id * 3_000)}\t${content}\t${tokens}\t${score}\t${metadata}\n`;
  }
}

function* attachmentRows(scale: number): Generator<string> {
  const count = Math.floor((scale * MESSAGES_PER_UNIT) / ATTACHMENT_EVERY);
  const mimes = ['image/jpeg', 'image/png', 'application/pdf'];
  for (let id = 1; id <= count; id++) {
    const body = randomBytes(16_384 + Math.floor(random() * 32_768));
    yield `${id}\t${id * ATTACHMENT_EVERY}\t${mimes[id % mimes.length]}\t\\\\x${body.toString('hex')}\n`;
  }
}

/** Batches small rows into ~256 KiB chunks so COPY is fed at disk speed, not per-row speed. */
async function* batched(rows: Iterable<string>): AsyncGenerator<string> {
  let buffer = '';
  for (const row of rows) {
    buffer += row;
    if (buffer.length > 262_144) {
      yield buffer;
      buffer = '';
    }
  }
  if (buffer) yield buffer;
}

async function copyInto(psql: string, env: NodeJS.ProcessEnv, database: string, table: string, rows: Iterable<string>): Promise<void> {
  const child = spawn(psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', database, '-c', `COPY ${table} FROM STDIN`], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  const exit = new Promise<number | null>((resolve) => child.once('close', resolve));
  await pipeline(Readable.from(batched(rows)), child.stdin);
  if ((await exit) !== 0) throw new Error(`COPY ${table} failed`);
}

/** Creates the tables in `database` (which must exist and be empty) and loads `scale` units (~20 MB each). */
export async function loadRealisticData(pgBin: string, env: NodeJS.ProcessEnv, database: string, scale: number): Promise<void> {
  const psql = `${pgBin}/psql`;
  const schema = spawn(psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', database, '-c', SCHEMA], { env: { ...process.env, ...env }, stdio: 'inherit' });
  if ((await new Promise((resolve) => schema.once('close', resolve))) !== 0) throw new Error('creating the bench schema failed');
  await copyInto(psql, env, database, 'conversations', conversationRows(scale));
  await copyInto(psql, env, database, 'messages', messageRows(scale));
  await copyInto(psql, env, database, 'attachments', attachmentRows(scale));
}
