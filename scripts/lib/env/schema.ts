import type { InferVars, VarSpecs } from './spec.js';
import { backupVars } from './vars/backup.js';
import { clusterVars } from './vars/cluster.js';
import { coreVars } from './vars/core.js';
import { edgeVars } from './vars/edge.js';
import { k8sVars } from './vars/k8s.js';
import { monitoringVars } from './vars/monitoring.js';
import { stackVars } from './vars/stack.js';

/** Sections in the order .env.example lists them. */
export const SCHEMA_SECTIONS = [
  { title: 'General', vars: coreVars },
  { title: 'Application stack (compose)', vars: stackVars },
  { title: 'PostgreSQL cluster: Patroni, etcd, HAProxy (compose, prod)', vars: clusterVars },
  { title: 'Edge: nginx and TLS', vars: edgeVars },
  { title: 'Monitoring and alerting', vars: monitoringVars },
  { title: 'Backups', vars: backupVars },
  { title: 'Kubernetes', vars: k8sVars },
] as const;

export const SCHEMA = {
  ...coreVars,
  ...stackVars,
  ...clusterVars,
  ...edgeVars,
  ...monitoringVars,
  ...backupVars,
  ...k8sVars,
} satisfies VarSpecs;

export type EnvValues = InferVars<typeof SCHEMA>;
export type VarName = keyof typeof SCHEMA;

export function isVarName(name: string): name is VarName {
  return Object.hasOwn(SCHEMA, name);
}

export const SECRET_NAMES = (Object.keys(SCHEMA) as VarName[]).filter((name) => SCHEMA[name].secret);
