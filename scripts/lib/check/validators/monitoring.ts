import type { Validator } from '../types.js';

/** Validators of the monitoring area (filled in by its issue). */
export const monitoringValidators: Validator[] = [];
