import { error, type Problem } from '../check/types.js';
import { describe, type LoadedObject } from './manifests.js';
import { CNPG_SCHEMAS, CNPG_VERSIONS } from './schemas/cnpg.js';
import { KUBERNETES_SCHEMA_VERSION } from './versions.js';

export { KUBERNETES_SCHEMA_VERSION } from './versions.js';

/** Validates one object; returns the schema errors as text, or undefined. */
type Check = (object: unknown) => string | undefined;

/** Where each CRD kind's schema comes from, for the error message (core kinds: Kubernetes 1.27.1). */
const CRD_SOURCES: Record<string, string> = {
  'autoscaling.k8s.io/v1': 'VPA CRD (@kubernetes-models/autoscaler)',
  'monitoring.coreos.com/v1': 'Prometheus Operator CRD (@kubernetes-models/prometheus-operator)',
  'cert-manager.io/v1': 'cert-manager CRD (@kubernetes-models/cert-manager)',
  'external-secrets.io/v1': 'External Secrets CRD (@kubernetes-models/external-secrets: v1beta1, which ESO renamed v1)',
};

function schemaSource(apiVersion: string, key: string): string {
  if (key in CNPG_SCHEMAS) return CNPG_VERSIONS;
  return CRD_SOURCES[apiVersion] ?? `Kubernetes ${KUBERNETES_SCHEMA_VERSION}`;
}

interface AjvError {
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

function formatErrors(errors: AjvError[] | null | undefined): string {
  return (errors ?? [])
    .slice(0, 3)
    .map((e) => {
      const path = (e.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.') || '(object)';
      const allowed = Array.isArray(e.params?.allowedValues) ? ` (${(e.params.allowedValues as unknown[]).join(', ')})` : '';
      const extra = typeof e.params?.additionalProperty === 'string' ? ` (${e.params.additionalProperty})` : '';
      return `${path} ${e.message ?? 'is invalid'}${allowed}${extra}`;
    })
    .join('; ');
}

type ModelClass = new (data: never) => { validate(): void };

function modelCheck(Model: ModelClass, asApiVersion?: string): Check {
  return (object) => {
    try {
      new Model((asApiVersion ? { ...(object as object), apiVersion: asApiVersion } : object) as never).validate();
      return undefined;
    } catch (caught) {
      const errors = (caught as { errors?: AjvError[] }).errors;
      return Array.isArray(errors) && errors.length > 0 ? formatErrors(errors) : caught instanceof Error ? caught.message : String(caught);
    }
  };
}

let checks: Promise<Record<string, Check>> | undefined;

/**
 * apiVersion/kind → validator. The model packages cost about a second to
 * import, so they load here, on the first validation, never when a script
 * merely imports this module.
 */
function loadChecks(): Promise<Record<string, Check>> {
  checks ??= (async () => {
    // Per-kind modules of the CRD packages: their index files pull in every kind (~0.6 s more).
    const [apps, autoscaling, networking, policy, core, vpa, serviceMonitor, podMonitor, prometheusRule, certificate, clusterIssuer, externalSecret, { Ajv }] =
      await Promise.all([
        import('kubernetes-models/apps/v1'),
        import('kubernetes-models/autoscaling/v2'),
        import('kubernetes-models/networking.k8s.io/v1'),
        import('kubernetes-models/policy/v1'),
        import('kubernetes-models/v1'),
        import('@kubernetes-models/autoscaler/autoscaling.k8s.io/v1'),
        import('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor'),
        import('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor'),
        import('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule'),
        import('@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate'),
        import('@kubernetes-models/cert-manager/cert-manager.io/v1/ClusterIssuer'),
        import('@kubernetes-models/external-secrets/external-secrets.io/v1beta1/ExternalSecret'),
        import('ajv'),
      ]);
    const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
    const crdChecks = Object.fromEntries(
      Object.entries(CNPG_SCHEMAS).map(([key, schema]) => {
        const validate = ajv.compile(schema);
        return [key, (object: unknown) => (validate(object) ? undefined : formatErrors(validate.errors as AjvError[]))];
      }),
    );
    return {
      'v1/Namespace': modelCheck(core.Namespace),
      'v1/ConfigMap': modelCheck(core.ConfigMap),
      'v1/Service': modelCheck(core.Service),
      'apps/v1/Deployment': modelCheck(apps.Deployment),
      'apps/v1/StatefulSet': modelCheck(apps.StatefulSet),
      'policy/v1/PodDisruptionBudget': modelCheck(policy.PodDisruptionBudget),
      'autoscaling/v2/HorizontalPodAutoscaler': modelCheck(autoscaling.HorizontalPodAutoscaler),
      'networking.k8s.io/v1/NetworkPolicy': modelCheck(networking.NetworkPolicy),
      'networking.k8s.io/v1/Ingress': modelCheck(networking.Ingress),
      'autoscaling.k8s.io/v1/VerticalPodAutoscaler': modelCheck(vpa.VerticalPodAutoscaler),
      'monitoring.coreos.com/v1/ServiceMonitor': modelCheck(serviceMonitor.ServiceMonitor),
      'monitoring.coreos.com/v1/PodMonitor': modelCheck(podMonitor.PodMonitor),
      'monitoring.coreos.com/v1/PrometheusRule': modelCheck(prometheusRule.PrometheusRule),
      'cert-manager.io/v1/Certificate': modelCheck(certificate.Certificate),
      'cert-manager.io/v1/ClusterIssuer': modelCheck(clusterIssuer.ClusterIssuer),
      // ESO serves only v1 since 0.17; v1 is v1beta1 renamed, and the package's Node 20 release has v1beta1.
      'external-secrets.io/v1/ExternalSecret': modelCheck(externalSecret.ExternalSecret, 'external-secrets.io/v1beta1'),
      ...crdChecks,
    };
  })();
  return checks;
}

/** Every apiVersion/kind the manifests may use. */
export async function supportedKinds(): Promise<string[]> {
  return Object.keys(await loadChecks());
}

/** Validates each object against the schema of its apiVersion/kind. */
export async function validateSchemas(objects: LoadedObject[]): Promise<Problem[]> {
  const byKind = await loadChecks();
  const problems: Problem[] = [];
  for (const loaded of objects) {
    const { object, file, line } = loaded;
    if (typeof object.apiVersion !== 'string' || typeof object.kind !== 'string') {
      problems.push(error('object has no apiVersion or kind.', file, line));
      continue;
    }
    const key = `${object.apiVersion}/${object.kind}`;
    const check = byKind[key];
    if (!check) {
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
    const found = check(object);
    if (found !== undefined) {
      problems.push(error(`${describe(loaded)} does not match the ${schemaSource(object.apiVersion, key)} schema: ${found}.`, file, line));
    }
  }
  return problems;
}
