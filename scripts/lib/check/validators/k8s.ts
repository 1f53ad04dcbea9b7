import { loadManifests } from '../../k8s/manifests.js';
import { checkPolicy, policyContext } from '../../k8s/policy.js';
import { KUBERNETES_SCHEMA_VERSION, validateSchemas } from '../../k8s/schema.js';
import type { Validator } from '../types.js';

/** Every rendered manifest against the Kubernetes OpenAPI schema (and the VPA CRD schema). */
export const k8sSchemaValidator: Validator = {
  name: `Kubernetes ${KUBERNETES_SCHEMA_VERSION} schemas`,
  run({ bundleDir }) {
    const { objects, problems } = loadManifests(bundleDir);
    return [...problems, ...validateSchemas(objects)];
  },
};

/** kube-score, Polaris and kube-linter default checks (docs/kubernetes.md). */
export const k8sPolicyValidator: Validator = {
  name: 'Kubernetes policy (kube-score, Polaris, kube-linter rules)',
  run({ bundleDir, env }) {
    return checkPolicy(loadManifests(bundleDir).objects, policyContext(env));
  },
};

export const k8sValidators: Validator[] = [k8sSchemaValidator, k8sPolicyValidator];
