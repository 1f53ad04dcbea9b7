import type { Deriver } from '../derived.js';

/** Template values the backup area computes from the env. */
export const deriveBackup: Deriver = () => ({});
