import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OperationError } from '../errors.js';
import { writeFileAtomic } from '../fs-atomic.js';

export const STATE_FILE = 'state.json';

export interface ReleaseRef {
  /** Folder name under releases/. */
  release: string;
  tag: string;
  at: string;
}

/** What runs now and what ran before: the rollback target. */
export interface DeployState {
  current?: ReleaseRef;
  previous?: ReleaseRef;
}

export function readState(deployDir: string): DeployState {
  let text: string;
  try {
    text = readFileSync(join(deployDir, STATE_FILE), 'utf8');
  } catch {
    return {};
  }
  try {
    return JSON.parse(text) as DeployState;
  } catch {
    throw new OperationError(`${join(deployDir, STATE_FILE)} is not valid JSON.`, 'restore it from the audit log or remove it (rollback then has no target)');
  }
}

export function writeState(deployDir: string, state: DeployState): void {
  writeFileAtomic(join(deployDir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`, 0o644);
}

/** The state after `release` went live. */
export function promote(state: DeployState, next: ReleaseRef): DeployState {
  return state.current && state.current.release !== next.release ? { current: next, previous: state.current } : { ...state, current: next };
}
