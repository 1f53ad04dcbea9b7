/**
 * kubernetes-models 4.5.1 is generated from the OpenAPI document of
 * Kubernetes 1.27.1; the CRD kinds come from their own packages
 * (@kubernetes-models/autoscaler 3.3.4, prometheus-operator 4.4.4,
 * cert-manager 4.4.4, external-secrets 0.5.2: the releases on the same
 * kubernetes-models major that still support Node 20) and, for CloudNativePG
 * and its Barman Cloud Plugin, from the operators' own CRDs in ./crds/.
 * Apart from schema.ts, so naming the version loads none of them.
 */
export const KUBERNETES_SCHEMA_VERSION = '1.27.1';
