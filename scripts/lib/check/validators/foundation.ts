import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LineCounter, parseAllDocuments } from 'yaml';
import { SECRETS_DIR } from '../../render/bundle.js';
import { error, type Problem, type Validator } from '../types.js';

const read = (dir: string, file: string): string => readFileSync(join(dir, file), 'utf8');

/** Every YAML and JSON file parses. */
export const syntaxValidator: Validator = {
  name: 'YAML and JSON syntax',
  run({ bundleDir, files }) {
    const problems: Problem[] = [];
    for (const file of files) {
      if (file.startsWith(`${SECRETS_DIR}/`)) continue;
      if (/\.ya?ml$/.test(file)) {
        const lineCounter = new LineCounter();
        for (const doc of parseAllDocuments(read(bundleDir, file), { lineCounter })) {
          for (const e of doc.errors) {
            problems.push(error(`invalid YAML: ${e.message.split('\n')[0]}`, file, lineCounter.linePos(e.pos[0]).line));
          }
        }
      } else if (file.endsWith('.json')) {
        const text = read(bundleDir, file);
        try {
          JSON.parse(text);
        } catch (e) {
          const position = /position (\d+)/.exec(String(e))?.[1];
          const line = position ? text.slice(0, Number(position)).split('\n').length : undefined;
          problems.push(error(`invalid JSON: ${e instanceof Error ? e.message : String(e)}`, file, line));
        }
      }
    }
    return problems;
  },
};

/** Nothing in the bundle still looks like a placeholder. */
export const leftoverPlaceholderValidator: Validator = {
  name: 'no leftover placeholders',
  run({ bundleDir, files }) {
    const problems: Problem[] = [];
    for (const file of files) {
      if (file.startsWith(`${SECRETS_DIR}/`)) continue;
      read(bundleDir, file)
        .split('\n')
        .forEach((text, index) => {
          if (text.includes('@@')) problems.push(error('leftover placeholder (@@…@@) in a rendered file.', file, index + 1));
        });
    }
    return problems;
  },
};

/** No secret value appears anywhere outside secrets/. */
export const secretLeakValidator: Validator = {
  name: 'secret leak scan',
  run({ bundleDir, files, secretValues }) {
    const problems: Problem[] = [];
    const values = secretValues.filter((s) => s.length >= 4);
    for (const file of files) {
      if (file.startsWith(`${SECRETS_DIR}/`)) continue;
      read(bundleDir, file)
        .split('\n')
        .forEach((text, index) => {
          if (values.some((secret) => text.includes(secret))) {
            problems.push(error('contains a secret value; reference the file under secrets/ instead.', file, index + 1));
          }
        });
    }
    return problems;
  },
};

export const foundationValidators: Validator[] = [syntaxValidator, leftoverPlaceholderValidator, secretLeakValidator];
