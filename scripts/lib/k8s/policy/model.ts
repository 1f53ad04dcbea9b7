import type { K8sObject, LoadedObject } from '../manifests.js';
import { selects } from '../policy-selectors.js';

/** Where a rule comes from: a default check of one of the three tools, or HealthMate's own reasoning. */
export type RuleOrigin = 'kube-score' | 'Polaris' | 'kube-linter' | 'HealthMate';

export interface PolicyContext {
  /** The namespace every namespaced object must name (K8S_NAMESPACE). */
  namespace: string;
  /** Where the ingress-nginx controller pods run (K8S_INGRESS_NAMESPACE). */
  ingressNamespace: string;
  /** Where Prometheus runs (K8S_MONITORING_NAMESPACE). */
  monitoringNamespace: string;
  /** Where the CloudNativePG operator runs (K8S_CNPG_NAMESPACE). */
  cnpgNamespace: string;
  /** The connection budget inputs (stack variables) the capacity rule checks max_connections against. */
  capacity: { poolSize: number; maxOverflow: number; workerConnections: number };
}

export interface Finding {
  on: LoadedObject;
  message: string;
}

export interface Rule {
  id: string;
  /** The module it lives in: the tool whose default check it is, or HealthMate. */
  origin: RuleOrigin;
  /** The checks of kube-score, Polaris or kube-linter it encodes, or why HealthMate has it. */
  encodes: string;
  description: string;
  check(all: Manifests, ctx: PolicyContext): Finding[];
}

// biome-ignore lint/suspicious/noExplicitAny: pod specs are checked structurally after the schema pass.
export type Any = any;

/** A pod as the network rules see it: a workload's template, a CloudNativePG instance, or a pod an operator starts. */
export interface Pod {
  name: string;
  labels: Record<string, string>;
  /** The object that makes the pod (findings land there). */
  from: LoadedObject;
}

/** The manifest set with the lookups rules share. */
export class Manifests {
  constructor(readonly objects: LoadedObject[]) {}
  ofKind(...kinds: string[]): LoadedObject[] {
    return this.objects.filter((o) => kinds.includes(o.object.kind ?? ''));
  }
  workloads(): LoadedObject[] {
    return this.ofKind('Deployment', 'StatefulSet');
  }
  /** CloudNativePG Clusters: the operator makes their pods. */
  clusters(): LoadedObject[] {
    return this.ofKind('Cluster').filter((o) => o.object.apiVersion === 'postgresql.cnpg.io/v1');
  }
  find(kind: string, name: string): LoadedObject | undefined {
    return this.objects.find((o) => o.object.kind === kind && o.object.metadata?.name === name);
  }
  /** HPAs whose scaleTargetRef names this workload. */
  hpasFor(workload: LoadedObject): LoadedObject[] {
    return this.ofKind('HorizontalPodAutoscaler').filter((h) => targets(h.object.spec?.scaleTargetRef, workload.object));
  }
  /**
   * Every kind of pod that will run: workload templates; per Cluster a
   * primary and a replica with the labels CloudNativePG sets
   * (cnpg.io/cluster, cnpg.io/instanceRole, plus inheritedMetadata); and,
   * when a Certificate exists, cert-manager's HTTP-01 solver pod.
   */
  pods(): Pod[] {
    const pods: Pod[] = this.workloads().map((w) => ({ name: w.object.metadata?.name ?? '', labels: podLabels(w.object), from: w }));
    for (const c of this.clusters()) {
      const name = c.object.metadata?.name ?? '';
      for (const role of ['primary', 'replica']) {
        const labels = {
          ...(c.object.spec?.inheritedMetadata?.labels ?? {}),
          'cnpg.io/cluster': name,
          'cnpg.io/instanceRole': role,
          'cnpg.io/podRole': 'instance',
        };
        pods.push({ name: `${name}-${role}`, labels, from: c });
      }
    }
    const certificate = this.ofKind('Certificate')[0];
    if (certificate) pods.push({ name: 'acme-solver', labels: { 'acme.cert-manager.io/http01-solver': 'true' }, from: certificate });
    return pods;
  }
}

export function targets(ref: Any, object: K8sObject): boolean {
  return ref?.kind === object.kind && ref?.name === object.metadata?.name && ref?.apiVersion === object.apiVersion;
}

export function podLabels(workload: K8sObject): Record<string, string> {
  return workload.spec?.template?.metadata?.labels ?? {};
}

export function containersOf(workload: K8sObject, withInit = true): Any[] {
  const spec = workload.spec?.template?.spec ?? {};
  return [...(spec.containers ?? []), ...(withInit ? (spec.initContainers ?? []) : [])];
}

export function each(objects: LoadedObject[], check: (o: LoadedObject) => string | string[] | undefined): Finding[] {
  return objects.flatMap((on) => {
    const result = check(on);
    const messages = result === undefined ? [] : Array.isArray(result) ? result : [result];
    return messages.map((message) => ({ on, message }));
  });
}

export function perContainer(all: Manifests, check: (c: Any, pod: Any, workload: K8sObject, init: boolean) => string | undefined): Finding[] {
  return each(all.workloads(), (w) => {
    const pod = w.object.spec?.template?.spec ?? {};
    const messages: string[] = [];
    for (const [init, list] of [
      [false, pod.containers ?? []],
      [true, pod.initContainers ?? []],
    ] as const) {
      for (const c of list) {
        const message = check(c, pod, w.object, init);
        if (message) messages.push(`container ${c.name}: ${message}`);
      }
    }
    return messages;
  });
}

/** Effective security setting: the container's, else the pod's. */
export function effective(c: Any, pod: Any, key: string): unknown {
  return c.securityContext?.[key] ?? pod.securityContext?.[key];
}

export function probeKey(probe: Any): string {
  return JSON.stringify(probe ?? null);
}

export function probePort(probe: Any): unknown {
  return probe?.httpGet?.port ?? probe?.tcpSocket?.port ?? probe?.grpc?.port;
}

/** Minimum pods an HPA guarantees, or the fixed replica count (default 1). */
export function minPods(all: Manifests, w: LoadedObject): number {
  const hpa = all.hpasFor(w)[0];
  if (hpa) return Number(hpa.object.spec?.minReplicas ?? 1);
  return Number(w.object.spec?.replicas ?? 1);
}

/** Most pods a workload can run: the HPA maximum (or fixed count) plus the rolling update's surge. */
export function maxPods(all: Manifests, w: LoadedObject): number {
  const hpa = all.hpasFor(w)[0];
  const steady = Number(hpa ? hpa.object.spec?.maxReplicas : (w.object.spec?.replicas ?? 1));
  const surge =
    w.object.kind === 'Deployment' && w.object.spec?.strategy?.type !== 'Recreate' ? (w.object.spec?.strategy?.rollingUpdate?.maxSurge ?? '25%') : 0;
  return steady + resolveCount(surge, steady);
}

export function pdbsFor(all: Manifests, w: LoadedObject): LoadedObject[] {
  return all.ofKind('PodDisruptionBudget').filter((p) => selects(p.object.spec?.selector, podLabels(w.object)));
}

/** Resolves an int-or-percent against a total, rounding like the disruption controller (up). */
export function resolveCount(value: unknown, total: number): number {
  if (typeof value === 'number') return value;
  const match = /^(\d+)%$/.exec(String(value));
  return match ? Math.ceil((Number(match[1]) / 100) * total) : Number.NaN;
}

export const HOSTNAME = 'kubernetes.io/hostname';

/** Kinds without a namespace. */
export const CLUSTER_SCOPED = ['Namespace', 'ClusterIssuer'];

/** The requests and limits of `names` a resources block lacks, as one message (undefined when complete). */
export function missingResources(resources: Any, names: string[]): string | undefined {
  const missing: string[] = [];
  for (const kind of ['requests', 'limits']) for (const r of names) if (resources?.[kind]?.[r] === undefined) missing.push(`${kind}.${r}`);
  return missing.length > 0 ? `resources ${missing.join(', ')} not set.` : undefined;
}
