import type { Validator } from './types.js';
import { foundationValidators } from './validators/foundation.js';

/** Every validator check.ts runs, in order. Each area appends its own list. */
export const VALIDATORS: Validator[] = [...foundationValidators];
