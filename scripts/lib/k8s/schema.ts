import { error, type Problem } from '../check/types.js';
import { CRD_AJV_OPTIONS, crdJsonSchema, schemaForObject, servedCrdSchemas } from './crd-schema.js';
import { describe, type LoadedObject } from './manifests.js';
import { KUBERNETES_SCHEMA_VERSION } from './versions.js';

export { KUBERNETES_SCHEMA_VERSION } from './versions.js';

/** Validates one object; returns the schema errors as text, or undefined. */
type Check = (object: unknown) => string | undefined;

/** A kind's check and where its schema comes from, for the error message. */
interface KindSchema {
  check: Check;
  source: string;
}

/** Where the model packages' CRD kinds come from, for the error message. */
const MODEL_SOURCES = {
  vpa: 'VPA CRD (@kubernetes-models/autoscaler)',
  prometheus: 'Prometheus Operator CRD (@kubernetes-models/prometheus-operator)',
  certManager: 'cert-manager CRD (@kubernetes-models/cert-manager)',
  externalSecrets: 'External Secrets CRD (@kubernetes-models/external-secrets: v1beta1, which ESO renamed v1)',
};

interface AjvError {
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

const fieldPath = (instancePath = ''): string => instancePath.replace(/^\//, '').replaceAll('/', '.');

function formatErrors(errors: AjvError[]): string {
  return errors
    .slice(0, 3)
    .map((e) => {
      const path = fieldPath(e.instancePath);
      // The API server's strict field validation words it so (kubectl: unknown field "spec.x").
      if (typeof e.params?.additionalProperty === 'string') return `unknown field "${path ? `${path}.` : ''}${e.params.additionalProperty}"`;
      const allowed = Array.isArray(e.params?.allowedValues) ? ` (${(e.params.allowedValues as unknown[]).join(', ')})` : '';
      return `${path || '(object)'} ${e.message ?? 'is invalid'}${allowed}`;
    })
    .join('; ');
}

type ModelClass = new (data: never) => { validate(): void };

/** The model's schema errors for data, none when it is valid. */
function modelErrors(Model: ModelClass, data: unknown): AjvError[] {
  try {
    new Model(data as never).validate();
    return [];
  } catch (caught) {
    const errors = (caught as { errors?: AjvError[] }).errors;
    return Array.isArray(errors) && errors.length > 0 ? errors : [{ message: caught instanceof Error ? caught.message : String(caught) }];
  }
}

const fromErrors = (errors: AjvError[]): string | undefined => (errors.length > 0 ? formatErrors(errors) : undefined);

function modelCheck(Model: ModelClass, source: string, asApiVersion?: string): KindSchema {
  return { check: (object) => fromErrors(modelErrors(Model, asApiVersion ? { ...(object as object), apiVersion: asApiVersion } : object)), source };
}

let kinds: Promise<Record<string, KindSchema>> | undefined;

/**
 * apiVersion/kind → validator. The model packages cost about a second to
 * import, so they load here, on the first validation, never when a script
 * merely imports this module.
 */
function loadKinds(): Promise<Record<string, KindSchema>> {
  kinds ??= (async () => {
    // Per-kind modules of the CRD packages: their index files pull in every kind (~0.6 s more).
    const [
      apps,
      autoscaling,
      networking,
      policy,
      core,
      meta,
      vpa,
      serviceMonitor,
      podMonitor,
      prometheusRule,
      certificate,
      clusterIssuer,
      externalSecret,
      { Ajv },
    ] = await Promise.all([
      import('kubernetes-models/apps/v1'),
      import('kubernetes-models/autoscaling/v2'),
      import('kubernetes-models/networking.k8s.io/v1'),
      import('kubernetes-models/policy/v1'),
      import('kubernetes-models/v1'),
      import('@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta'),
      import('@kubernetes-models/autoscaler/autoscaling.k8s.io/v1'),
      import('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor'),
      import('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor'),
      import('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule'),
      import('@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate'),
      import('@kubernetes-models/cert-manager/cert-manager.io/v1/ClusterIssuer'),
      import('@kubernetes-models/external-secrets/external-secrets.io/v1beta1/ExternalSecret'),
      import('ajv'),
    ]);
    const ajv = new Ajv(CRD_AJV_OPTIONS);
    // The operators' own CRDs: metadata as ObjectMeta, the rest by the served version's schema, cut to the object.
    const crdKinds = servedCrdSchemas().map(({ key, file, openAPIV3Schema }): [string, KindSchema] => {
      let schema: Record<string, unknown> | undefined;
      const check: Check = (object) => {
        schema ??= crdJsonSchema(openAPIV3Schema);
        const validate = ajv.compile(schemaForObject(schema, object));
        const metadataErrors = modelErrors(meta.ObjectMeta, (object as { metadata?: unknown }).metadata).map((e) => ({
          ...e,
          instancePath: `/metadata${e.instancePath ?? ''}`,
        }));
        return fromErrors([...metadataErrors, ...(validate(object) ? [] : (validate.errors ?? []))]);
      };
      return [key, { check, source: `upstream CRD ${file}` }];
    });
    const k8s = `Kubernetes ${KUBERNETES_SCHEMA_VERSION}`;
    return {
      'v1/Namespace': modelCheck(core.Namespace, k8s),
      'v1/ConfigMap': modelCheck(core.ConfigMap, k8s),
      'v1/Service': modelCheck(core.Service, k8s),
      'apps/v1/Deployment': modelCheck(apps.Deployment, k8s),
      'apps/v1/StatefulSet': modelCheck(apps.StatefulSet, k8s),
      'policy/v1/PodDisruptionBudget': modelCheck(policy.PodDisruptionBudget, k8s),
      'autoscaling/v2/HorizontalPodAutoscaler': modelCheck(autoscaling.HorizontalPodAutoscaler, k8s),
      'networking.k8s.io/v1/NetworkPolicy': modelCheck(networking.NetworkPolicy, k8s),
      'networking.k8s.io/v1/Ingress': modelCheck(networking.Ingress, k8s),
      'autoscaling.k8s.io/v1/VerticalPodAutoscaler': modelCheck(vpa.VerticalPodAutoscaler, MODEL_SOURCES.vpa),
      'monitoring.coreos.com/v1/ServiceMonitor': modelCheck(serviceMonitor.ServiceMonitor, MODEL_SOURCES.prometheus),
      'monitoring.coreos.com/v1/PodMonitor': modelCheck(podMonitor.PodMonitor, MODEL_SOURCES.prometheus),
      'monitoring.coreos.com/v1/PrometheusRule': modelCheck(prometheusRule.PrometheusRule, MODEL_SOURCES.prometheus),
      'cert-manager.io/v1/Certificate': modelCheck(certificate.Certificate, MODEL_SOURCES.certManager),
      'cert-manager.io/v1/ClusterIssuer': modelCheck(clusterIssuer.ClusterIssuer, MODEL_SOURCES.certManager),
      // ESO serves only v1 since 0.17; v1 is v1beta1 renamed, and the package's Node 20 release has v1beta1.
      'external-secrets.io/v1/ExternalSecret': modelCheck(externalSecret.ExternalSecret, MODEL_SOURCES.externalSecrets, 'external-secrets.io/v1beta1'),
      ...Object.fromEntries(crdKinds),
    };
  })();
  return kinds;
}

/** Every apiVersion/kind the manifests may use. */
export async function supportedKinds(): Promise<string[]> {
  return Object.keys(await loadKinds());
}

/** Validates each object against the schema of its apiVersion/kind. */
export async function validateSchemas(objects: LoadedObject[]): Promise<Problem[]> {
  const byKind = await loadKinds();
  const problems: Problem[] = [];
  for (const loaded of objects) {
    const { object, file, line } = loaded;
    if (typeof object.apiVersion !== 'string' || typeof object.kind !== 'string') {
      problems.push(error('object has no apiVersion or kind.', file, line));
      continue;
    }
    const key = `${object.apiVersion}/${object.kind}`;
    const schema = byKind[key];
    if (!schema) {
      if (object.kind === 'Secret') {
        problems.push(error('Secret objects never go in manifests: deploy-k8s.ts creates healthmate-secrets from dist/<env>/secrets/.', file, line));
      } else {
        problems.push(
          error(
            `${object.kind} in ${object.apiVersion} has no schema here (Kubernetes ${KUBERNETES_SCHEMA_VERSION} and the operators' CRDs); use a served API version or add the kind to scripts/lib/k8s/schema.ts.`,
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
    const found = schema.check(object);
    if (found !== undefined) {
      problems.push(error(`${describe(loaded)} does not match the ${schema.source} schema: ${found}.`, file, line));
    }
  }
  return problems;
}
