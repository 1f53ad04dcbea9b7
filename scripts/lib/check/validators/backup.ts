import type { Validator } from '../types.js';

/** Validators of the backup area (filled in by its issue). */
export const backupValidators: Validator[] = [];
