import { selects } from '../policy-selectors.js';
import { type Any, CLUSTER_SCOPED, each, effective, perContainer, podLabels, probePort, type Rule } from './model.js';

const SECRET_NAME_RE = /(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL)/i;

/** Why an image reference is not pinned, or undefined. */
function unpinned(image: string): string | undefined {
  if (image.includes('@sha256:')) return undefined;
  const tag = /:([^/:]+)$/.exec(image)?.[1];
  if (!tag) return `image ${image} has no tag.`;
  return tag === 'latest' ? `image ${image} uses latest.` : undefined;
}

/** Rules from kube-linter's default checks (each names the checks it encodes). */
export const KUBE_LINTER_RULES: Rule[] = [
  {
    id: 'explicit-namespace',
    origin: 'kube-linter',
    encodes: 'kube-linter use-namespace',
    description: 'Every namespaced object names the HealthMate namespace, never default.',
    check: (all, ctx) =>
      each(
        all.objects.filter((o) => !CLUSTER_SCOPED.includes(o.object.kind ?? '')),
        (o) =>
          o.object.metadata?.namespace === ctx.namespace
            ? undefined
            : `metadata.namespace is ${o.object.metadata?.namespace ?? 'unset'}, not ${ctx.namespace} (K8S_NAMESPACE).`,
      ),
  },
  {
    id: 'image-tag-pinned',
    origin: 'kube-linter',
    encodes: 'kube-linter latest-tag, Polaris tagNotSpecified, kube-score container-image-tag',
    description: "Every image (containers, a Cluster's imageName) names a version tag (or digest), never latest.",
    check: (all) => [
      ...perContainer(all, (c) => unpinned(String(c.image ?? ''))),
      ...each(all.clusters(), (c) => unpinned(String(c.object.spec?.imageName ?? ''))),
    ],
  },
  {
    id: 'probe-ports-exist',
    origin: 'kube-linter',
    encodes: 'kube-linter liveness-port, readiness-port, startup-port',
    description: 'A probe port names or numbers a port the container declares.',
    check: (all) =>
      perContainer(all, (c) => {
        for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
          const port = probePort(c[kind]);
          if (port === undefined) continue;
          const ok = (c.ports ?? []).some((p: Any) => p.name === port || p.containerPort === port);
          if (!ok) return `${kind} port ${String(port)} is not a declared container port.`;
        }
        return undefined;
      }),
  },
  {
    id: 'run-as-non-root',
    origin: 'kube-linter',
    encodes: 'kube-linter run-as-non-root, Polaris runAsRootAllowed, Pod Security restricted',
    description: 'runAsNonRoot true for every container.',
    check: (all) => perContainer(all, (c, pod) => (effective(c, pod, 'runAsNonRoot') === true ? undefined : 'runAsNonRoot is not true.')),
  },
  {
    id: 'no-privilege-escalation',
    origin: 'kube-linter',
    encodes:
      'kube-linter privilege-escalation-container and privileged-container, Polaris privilegeEscalationAllowed/runAsPrivileged, kube-score container-security-context-privileged',
    description: 'allowPrivilegeEscalation false and never privileged.',
    check: (all) =>
      perContainer(all, (c) => {
        if (c.securityContext?.privileged === true) return 'is privileged.';
        return c.securityContext?.allowPrivilegeEscalation === false ? undefined : 'allowPrivilegeEscalation is not false.';
      }),
  },
  {
    id: 'no-secrets-in-manifests',
    origin: 'kube-linter',
    encodes: 'kube-linter env-var-secret, Polaris sensitiveContainerEnvVar, issue 8',
    description: 'No Secret objects and no secret-looking environment variable with a literal value.',
    check: (all) => [
      ...each(all.ofKind('Secret'), () => 'Secrets are created by deploy-k8s.ts from dist/<env>/secrets/, never written in a manifest.'),
      ...perContainer(all, (c) => {
        const bad = (c.env ?? []).filter((e: Any) => SECRET_NAME_RE.test(e.name) && e.value !== undefined && !/_FILE$/.test(e.name));
        return bad.length > 0 ? `environment ${bad.map((e: Any) => e.name).join(', ')} holds a literal value; use secretKeyRef.` : undefined;
      }),
    ],
  },
  {
    id: 'selector-matches-template',
    origin: 'kube-linter',
    encodes: 'kube-linter mismatching-selector',
    description: "A workload's selector matches its own pod template labels.",
    check: (all) =>
      each(all.workloads(), (w) => (selects(w.object.spec?.selector, podLabels(w.object)) ? undefined : 'selector does not match the pod template labels.')),
  },
  {
    id: 'pdb-unhealthy-eviction',
    origin: 'kube-linter',
    encodes: 'kube-linter pdb-unhealthy-pod-eviction-policy',
    description: 'unhealthyPodEvictionPolicy AlwaysAllow, so a crash-looping pod cannot block a node drain.',
    check: (all) =>
      each(all.ofKind('PodDisruptionBudget'), (p) =>
        p.object.spec?.unhealthyPodEvictionPolicy === 'AlwaysAllow' ? undefined : 'unhealthyPodEvictionPolicy is not AlwaysAllow.',
      ),
  },
  {
    id: 'pdb-targets-pods',
    origin: 'kube-linter',
    encodes: 'kube-linter dangling-pdb (kube-score poddisruptionbudget-has-policy)',
    description: 'Every PDB selects some workload and sets minAvailable or maxUnavailable.',
    check: (all) =>
      each(all.ofKind('PodDisruptionBudget'), (p) => {
        if (p.object.spec?.minAvailable === undefined && p.object.spec?.maxUnavailable === undefined) return 'sets neither minAvailable nor maxUnavailable.';
        return all.workloads().some((w) => selects(p.object.spec?.selector, podLabels(w.object))) ? undefined : 'selects no workload.';
      }),
  },
];

/** Endpoints a ServiceMonitor or PodMonitor scrapes: its port must exist on what it selects. */
export const MONITOR_RULES: Rule[] = [
  {
    id: 'monitor-targets-exist',
    origin: 'kube-linter',
    encodes: 'kube-linter dangling-servicemonitor',
    description: 'Every ServiceMonitor selects a Service, and every PodMonitor a workload, that has the named port it scrapes.',
    check: (all) => [
      ...each(all.ofKind('ServiceMonitor'), (m) => {
        const services = all.ofKind('Service').filter((s) => selects(m.object.spec?.selector, s.object.metadata?.labels ?? {}));
        if (services.length === 0) return 'selects no Service.';
        return (m.object.spec?.endpoints ?? [])
          .filter((e: Any) => !services.some((s) => (s.object.spec?.ports ?? []).some((p: Any) => p.name === e.port)))
          .map((e: Any) => `port ${e.port} is not a named port of the selected Services.`);
      }),
      ...each(all.ofKind('PodMonitor'), (m) => {
        const workloads = all.workloads().filter((w) => selects(m.object.spec?.selector, podLabels(w.object)));
        if (workloads.length === 0) return 'selects no workload.';
        const ports = workloads.flatMap((w) => (w.object.spec?.template?.spec?.containers ?? []).flatMap((c: Any) => (c.ports ?? []).map((p: Any) => p.name)));
        return (m.object.spec?.podMetricsEndpoints ?? [])
          .filter((e: Any) => !ports.includes(e.port))
          .map((e: Any) => `port ${e.port} is not a named container port of the selected pods.`);
      }),
    ],
  },
];
