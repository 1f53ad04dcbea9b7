/**
 * The operators whose CRDs the manifests use, and how to install each. The
 * deploy's preflight asks the cluster for exactly these CRDs and stops,
 * naming the missing operator and its install command, before changing
 * anything. docs/kubernetes.md repeats the install commands.
 */
export interface Operator {
  name: string;
  /** apiVersion/kind of the objects that need it. */
  kinds: string[];
  /** CustomResourceDefinition names (plural.group) the cluster must serve. */
  crds: string[];
  install: string;
}

export const OPERATORS: Operator[] = [
  {
    name: 'CloudNativePG (>= 1.26)',
    kinds: ['postgresql.cnpg.io/v1/Cluster', 'postgresql.cnpg.io/v1/ScheduledBackup'],
    crds: ['clusters.postgresql.cnpg.io', 'scheduledbackups.postgresql.cnpg.io'],
    install: 'kubectl apply --server-side -f https://raw.githubusercontent.com/cloudnative-pg/cloudnative-pg/release-1.27/releases/cnpg-1.27.0.yaml',
  },
  {
    name: 'the Barman Cloud Plugin of CloudNativePG (>= 0.5, needs cert-manager)',
    kinds: ['barmancloud.cnpg.io/v1/ObjectStore'],
    crds: ['objectstores.barmancloud.cnpg.io'],
    install: 'kubectl apply -f https://github.com/cloudnative-pg/plugin-barman-cloud/releases/download/v0.6.0/manifest.yaml',
  },
  {
    name: 'the Prometheus Operator',
    kinds: ['monitoring.coreos.com/v1/ServiceMonitor', 'monitoring.coreos.com/v1/PodMonitor', 'monitoring.coreos.com/v1/PrometheusRule'],
    crds: ['servicemonitors.monitoring.coreos.com', 'podmonitors.monitoring.coreos.com', 'prometheusrules.monitoring.coreos.com'],
    install: 'helm install kube-prometheus-stack oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack --namespace monitoring --create-namespace',
  },
  {
    name: 'cert-manager (>= 1.12)',
    kinds: ['cert-manager.io/v1/Certificate', 'cert-manager.io/v1/ClusterIssuer'],
    crds: ['certificates.cert-manager.io', 'clusterissuers.cert-manager.io'],
    install: 'kubectl apply -f https://github.com/cert-manager/cert-manager/releases/download/v1.16.2/cert-manager.yaml',
  },
  {
    name: 'the Vertical Pod Autoscaler (its CRDs and recommender; updateMode Off needs nothing else)',
    kinds: ['autoscaling.k8s.io/v1/VerticalPodAutoscaler'],
    crds: ['verticalpodautoscalers.autoscaling.k8s.io'],
    install: 'git clone https://github.com/kubernetes/autoscaler && autoscaler/vertical-pod-autoscaler/hack/vpa-up.sh',
  },
];

/** Operators the given apiVersion/kinds need. */
export function operatorsFor(kinds: Iterable<string>): Operator[] {
  const used = new Set(kinds);
  return OPERATORS.filter((o) => o.kinds.some((k) => used.has(k)));
}

/** The first operator whose CRDs are not all among `served` (names from `kubectl get crd -o name`), or undefined. */
export function missingOperator(needed: Operator[], served: string[]): { operator: Operator; crds: string[] } | undefined {
  const names = new Set(served.map((line) => line.trim().replace(/^customresourcedefinition\.apiextensions\.k8s\.io\//, '')).filter(Boolean));
  for (const operator of needed) {
    const crds = operator.crds.filter((c) => !names.has(c));
    if (crds.length > 0) return { operator, crds };
  }
  return undefined;
}
