import { KUBERNETES_SCHEMA_VERSION } from '../../k8s/versions.js';
import type { Validator } from '../types.js';

// The Kubernetes modules (schemas, 48 policy rules) load only when these run:
// a compose deploy imports this list to plan its checks, not to run them.

/** Every rendered manifest and recipe against its schema (Kubernetes OpenAPI, the operators' CRDs). */
export const k8sSchemaValidator: Validator = {
  name: `Kubernetes ${KUBERNETES_SCHEMA_VERSION} and operator CRD schemas`,
  async run({ bundleDir }) {
    const { loadManifests, loadRecipes } = await import('../../k8s/manifests.js');
    const { validateSchemas } = await import('../../k8s/schema.js');
    const manifests = loadManifests(bundleDir);
    const recipes = loadRecipes(bundleDir);
    return [...manifests.problems, ...recipes.problems, ...(await validateSchemas([...manifests.objects, ...recipes.objects]))];
  },
};

/** kube-score, Polaris and kube-linter default checks and HealthMate's own rules (docs/kubernetes.md). */
export const k8sPolicyValidator: Validator = {
  name: 'Kubernetes policy (kube-score, Polaris, kube-linter and HealthMate rules)',
  async run({ bundleDir, env }) {
    const { loadManifests } = await import('../../k8s/manifests.js');
    const { checkPolicy, policyContext } = await import('../../k8s/policy/index.js');
    return checkPolicy(loadManifests(bundleDir).objects, policyContext(env));
  },
};

export const k8sValidators: Validator[] = [k8sSchemaValidator, k8sPolicyValidator];
