import { loadManifests, loadRecipes } from '../../k8s/manifests.js';
import { checkPolicy, policyContext } from '../../k8s/policy/index.js';
import { KUBERNETES_SCHEMA_VERSION, validateSchemas } from '../../k8s/schema.js';
import type { Validator } from '../types.js';

/** Every rendered manifest and recipe against its schema (Kubernetes OpenAPI, the operators' CRDs). */
export const k8sSchemaValidator: Validator = {
  name: `Kubernetes ${KUBERNETES_SCHEMA_VERSION} and operator CRD schemas`,
  async run({ bundleDir }) {
    const manifests = loadManifests(bundleDir);
    const recipes = loadRecipes(bundleDir);
    return [...manifests.problems, ...recipes.problems, ...(await validateSchemas([...manifests.objects, ...recipes.objects]))];
  },
};

/** kube-score, Polaris and kube-linter default checks and HealthMate's own rules (docs/kubernetes.md). */
export const k8sPolicyValidator: Validator = {
  name: 'Kubernetes policy (kube-score, Polaris, kube-linter and HealthMate rules)',
  run({ bundleDir, env }) {
    return checkPolicy(loadManifests(bundleDir).objects, policyContext(env));
  },
};

export const k8sValidators: Validator[] = [k8sSchemaValidator, k8sPolicyValidator];
