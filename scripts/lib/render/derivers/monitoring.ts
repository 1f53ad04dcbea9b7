import type { Deriver } from '../derived.js';

/** Template values the monitoring area computes from the env. */
export const deriveMonitoring: Deriver = () => ({});
