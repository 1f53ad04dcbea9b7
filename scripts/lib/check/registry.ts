import type { Validator } from './types.js';
import { backupValidators } from './validators/backup.js';
import { clusterValidators } from './validators/cluster.js';
import { edgeValidators } from './validators/edge.js';
import { foundationValidators } from './validators/foundation.js';
import { k8sValidators } from './validators/k8s.js';
import { monitoringValidators } from './validators/monitoring.js';
import { pgbackrestValidators } from './validators/pgbackrest.js';
import { stackValidators } from './validators/stack.js';

/** Every validator check.ts runs, in order. Each area owns its own list. */
export const VALIDATORS: Validator[] = [
  ...foundationValidators,
  ...edgeValidators,
  ...monitoringValidators,
  ...backupValidators,
  ...pgbackrestValidators,
  ...clusterValidators,
  ...stackValidators,
  ...k8sValidators,
];
