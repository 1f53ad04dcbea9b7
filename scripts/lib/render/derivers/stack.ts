import type { Deriver } from '../derived.js';

/** Template values the stack area computes from the env. */
export const deriveStack: Deriver = () => ({});
