import type { Deriver } from '../derived.js';

/** Template values the k8s area computes from the env. */
export const deriveK8s: Deriver = () => ({});
