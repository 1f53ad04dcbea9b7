import type { Validator } from '../types.js';

/** Validators of the stack area (filled in by its issue). */
export const stackValidators: Validator[] = [];
