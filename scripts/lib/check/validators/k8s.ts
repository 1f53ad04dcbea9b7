import type { Validator } from '../types.js';

/** Validators of the k8s area (filled in by its issue). */
export const k8sValidators: Validator[] = [];
