import type { Validator } from '../types.js';

/** Validators of the edge area (filled in by its issue). */
export const edgeValidators: Validator[] = [];
