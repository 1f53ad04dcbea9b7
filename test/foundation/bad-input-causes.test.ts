/**
 * Causes of issue 25 that are not option problems, as a table (see test/helpers/bad-input.ts):
 * each row is an input that broke the promise before, run as a real script.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'vitest';
import { type Case, type Row, runRow } from '../helpers/bad-input.js';

const prod = (c: Case): string[] => ['--env', 'prod', '--env-file', c.prodEnv];

/** The prod env file with one line replaced (or added). */
function withLine(c: Case, name: string, value: string): void {
  const lines = readFileSync(c.prodEnv, 'utf8')
    .split('\n')
    .filter((line) => !line.startsWith(`${name}=`));
  writeFileSync(c.prodEnv, [...lines, `${name}=${value}`].join('\n'));
}

const ROWS: Row[] = [
  // ---- N9: host paths rendered into a prod bundle are absolute ----
  {
    name: 'N9: a relative STATE_DIR in a prod env file, named with its file and line',
    script: 'render.ts',
    setup: (c) => withLine(c, 'STATE_DIR', 'state'),
    args: (c) => [...prod(c), '--dry-run'],
    code: 2,
    message: /prod\.env:\d+: STATE_DIR must be an absolute path in prod, where it is rendered into a bundle another machine runs/,
  },
  {
    name: 'N9: a relative STATE_DIR from --set',
    script: 'render.ts',
    args: (c) => [...prod(c), '--set', 'STATE_DIR=state', '--out', 'dist'],
    code: 2,
    message: 'STATE_DIR (from --set) must be an absolute path in prod',
  },
  {
    name: 'N9: a relative BACKUP_DIR in prod',
    script: 'deploy-prod.ts',
    setup: (c) => withLine(c, 'BACKUP_DIR', 'backups'),
    args: (c) => [...prod(c), '--dry-run'],
    code: 2,
    message: /prod\.env:\d+: BACKUP_DIR must be an absolute path in prod/,
  },
  {
    name: 'N9: a relative PGBACKREST_REPO_DIR in prod',
    script: 'check.ts',
    setup: (c) => withLine(c, 'PGBACKREST_REPO_DIR', '../repo'),
    args: (c) => [...prod(c)],
    code: 2,
    message: /PGBACKREST_REPO_DIR must be an absolute path in prod/,
  },
  {
    name: 'N9: dev may keep a relative STATE_DIR',
    script: 'render.ts',
    args: () => ['--env', 'dev', '--set', 'STATE_DIR=state/dev', '--dry-run'],
    code: 0,
    message: 'would write dist/dev/docker-compose.yml',
  },
];

describe.concurrent('bad input of issue 25 (causes other than options): exit code, one sentence, nothing changed', () => {
  it.each(ROWS)('$name', (row) => runRow(row), 450_000);
});
