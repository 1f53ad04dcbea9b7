import { OperationError } from '../errors.js';
import { type DeployStore, readStoreFile, replaceStoreFile } from './store.js';

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

/** The state kept on the engine's host (see store.ts). */
export function readState(store: DeployStore): DeployState {
  const text = readStoreFile(store, STATE_FILE);
  if (text === undefined) return {};
  try {
    return JSON.parse(text) as DeployState;
  } catch {
    throw new OperationError(`${store.where}/${STATE_FILE} is not valid JSON.`, 'restore it from the audit log or remove it (rollback then has no target)');
  }
}

export function writeState(store: DeployStore, state: DeployState): void {
  replaceStoreFile(store, STATE_FILE, `${JSON.stringify(state, null, 2)}\n`);
}

/** The state after `release` went live. */
export function promote(state: DeployState, next: ReleaseRef): DeployState {
  return state.current && state.current.release !== next.release ? { current: next, previous: state.current } : { ...state, current: next };
}

/** Records that `release` went live (the deploy's last step); returns the state before. */
export function recordRelease(store: DeployStore, release: ReleaseRef): DeployState {
  const before = readState(store);
  writeState(store, promote(before, release));
  return before;
}
