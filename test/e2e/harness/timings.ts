import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from './images.js';

/** Wall-clock split of an e2e run, printed at the end and kept in the cache folder. */
export class Timings {
  private readonly entries: Record<string, number | string | object> = {};

  async time<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
    const started = Date.now();
    try {
      return await fn();
    } finally {
      this.entries[name] = Math.round((Date.now() - started) / 100) / 10;
    }
  }

  note(name: string, value: number | string | object): void {
    this.entries[name] = value;
  }

  write(file: string): void {
    const text = JSON.stringify(this.entries, null, 2);
    console.log(`e2e ${file}:\n${text}`);
    mkdirSync(cacheDir(), { recursive: true });
    writeFileSync(join(cacheDir(), file), `${text}\n`);
  }
}
