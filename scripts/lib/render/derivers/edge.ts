import type { Deriver } from '../derived.js';

/** Template values the edge area computes from the env. */
export const deriveEdge: Deriver = () => ({});
