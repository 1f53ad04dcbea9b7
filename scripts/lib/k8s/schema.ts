import { VerticalPodAutoscaler } from '@kubernetes-models/autoscaler/autoscaling.k8s.io/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Service } from 'kubernetes-models/v1';
import { error, type Problem } from '../check/types.js';
import { describe, type LoadedObject } from './manifests.js';

/**
 * kubernetes-models 4.5.1 is generated from the OpenAPI document of
 * Kubernetes 1.27.1; @kubernetes-models/autoscaler 3.3.4 from the VPA CRD
 * (autoscaling.k8s.io/v1) of kubernetes/autoscaler.
 */
export const KUBERNETES_SCHEMA_VERSION = '1.27.1';

interface Model {
  validate(): void;
}
type ModelClass = new (data: never) => Model;

/** apiVersion/kind → schema model. Only kinds the manifests may use; anything else is an error. */
const MODELS: Record<string, ModelClass> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'networking.k8s.io/v1/Ingress': Ingress,
  'autoscaling.k8s.io/v1/VerticalPodAutoscaler': VerticalPodAutoscaler,
};

export const SUPPORTED_KINDS = Object.keys(MODELS);

interface AjvError {
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

function formatErrors(caught: unknown): string {
  const errors = (caught as { errors?: AjvError[] }).errors;
  if (!Array.isArray(errors) || errors.length === 0) return caught instanceof Error ? caught.message : String(caught);
  return errors
    .slice(0, 3)
    .map((e) => {
      const path = (e.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.') || '(object)';
      const allowed = Array.isArray(e.params?.allowedValues) ? ` (${(e.params.allowedValues as unknown[]).join(', ')})` : '';
      return `${path} ${e.message ?? 'is invalid'}${allowed}`;
    })
    .join('; ');
}

/** Validates each object against the OpenAPI schema of its apiVersion/kind. */
export function validateSchemas(objects: LoadedObject[]): Problem[] {
  const problems: Problem[] = [];
  for (const loaded of objects) {
    const { object, file, line } = loaded;
    if (typeof object.apiVersion !== 'string' || typeof object.kind !== 'string') {
      problems.push(error('object has no apiVersion or kind.', file, line));
      continue;
    }
    const Model = MODELS[`${object.apiVersion}/${object.kind}`];
    if (!Model) {
      if (object.kind === 'Secret') {
        problems.push(error('Secret objects never go in manifests: deploy-k8s.ts creates healthmate-secrets from dist/<env>/secrets/.', file, line));
      } else {
        problems.push(
          error(
            `${object.kind} in ${object.apiVersion} has no schema here (Kubernetes ${KUBERNETES_SCHEMA_VERSION}); use a served API version or add the kind to scripts/lib/k8s/schema.ts.`,
            file,
            line,
          ),
        );
      }
      continue;
    }
    if (typeof object.metadata?.name !== 'string' || object.metadata.name === '') {
      problems.push(error(`${object.kind} has no metadata.name.`, file, line));
      continue;
    }
    try {
      new Model(object as never).validate();
    } catch (caught) {
      problems.push(error(`${describe(loaded)} does not match the Kubernetes ${KUBERNETES_SCHEMA_VERSION} schema: ${formatErrors(caught)}.`, file, line));
    }
  }
  return problems;
}
