import { error, type Problem } from '../check/types.js';
import type { LoadedEnv } from '../env/load.js';
import { describe, type K8sObject, type LoadedObject } from './manifests.js';
import { type Endpoint, flowAllowed } from './netpol.js';
import { selects } from './policy-selectors.js';
import { SECRET_KEYS, SECRET_NAME } from './secret.js';

/**
 * Policy rules from the default checks of kube-score, Polaris and kube-linter
 * (docs/kubernetes.md lists each, where it comes from, and the ones left out).
 * An object may break a rule on purpose only by naming the rule in the
 * annotation healthmate.io/policy-exempt AND giving a reason in
 * healthmate.io/policy-exempt-reason.
 */
export const EXEMPT_ANNOTATION = 'healthmate.io/policy-exempt';
export const EXEMPT_REASON_ANNOTATION = 'healthmate.io/policy-exempt-reason';

export interface PolicyContext {
  /** The namespace every namespaced object must name (K8S_NAMESPACE). */
  namespace: string;
  /** Where the ingress-nginx controller pods run (K8S_INGRESS_NAMESPACE). */
  ingressNamespace: string;
  /** Where Prometheus runs (K8S_MONITORING_NAMESPACE). */
  monitoringNamespace: string;
}

/**
 * Connections HealthMate needs (allow) and ones that must stay impossible
 * (deny), by workload name; `ingress`, `prometheus`, `dns` and `elsewhere`
 * are pods outside the namespace.
 */
export const REQUIRED_FLOWS: { from: string; to: string; port: number; protocol?: 'TCP' | 'UDP'; allow: boolean }[] = [
  { from: 'ingress', to: 'backend', port: 8000, allow: true },
  { from: 'prometheus', to: 'backend', port: 8000, allow: true },
  ...['backend', 'worker'].flatMap((app) => [
    { from: app, to: 'postgres-primary', port: 5432, allow: true },
    { from: app, to: 'postgres-replica', port: 5432, allow: true },
    { from: app, to: 'redis', port: 6379, allow: true },
  ]),
  { from: 'beat', to: 'redis', port: 6379, allow: true },
  { from: 'postgres-replica', to: 'postgres-primary', port: 5432, allow: true },
  ...['backend', 'worker', 'beat', 'postgres-primary', 'postgres-replica', 'redis'].flatMap((app) => [
    { from: app, to: 'dns', port: 53, protocol: 'UDP' as const, allow: true },
    { from: app, to: 'dns', port: 53, allow: true },
  ]),
  { from: 'ingress', to: 'postgres-primary', port: 5432, allow: false },
  { from: 'ingress', to: 'redis', port: 6379, allow: false },
  { from: 'ingress', to: 'backend', port: 9000, allow: false },
  { from: 'elsewhere', to: 'backend', port: 8000, allow: false },
  { from: 'worker', to: 'backend', port: 8000, allow: false },
  { from: 'backend', to: 'elsewhere', port: 443, allow: false },
  { from: 'redis', to: 'postgres-primary', port: 5432, allow: false },
  { from: 'postgres-primary', to: 'redis', port: 6379, allow: false },
  { from: 'postgres-primary', to: 'elsewhere', port: 5432, allow: false },
];

export interface Rule {
  id: string;
  /** Tools whose default check this encodes, or "issue 8" for our own. */
  source: string;
  description: string;
  check(all: Manifests, ctx: PolicyContext): Finding[];
}

interface Finding {
  on: LoadedObject;
  message: string;
}

// biome-ignore lint/suspicious/noExplicitAny: pod specs are checked structurally below after the schema pass.
type Any = any;

/** The manifest set with the lookups rules share. */
export class Manifests {
  constructor(readonly objects: LoadedObject[]) {}
  ofKind(...kinds: string[]): LoadedObject[] {
    return this.objects.filter((o) => kinds.includes(o.object.kind ?? ''));
  }
  workloads(): LoadedObject[] {
    return this.ofKind('Deployment', 'StatefulSet');
  }
  find(kind: string, name: string): LoadedObject | undefined {
    return this.objects.find((o) => o.object.kind === kind && o.object.metadata?.name === name);
  }
  /** HPAs whose scaleTargetRef names this workload. */
  hpasFor(workload: LoadedObject): LoadedObject[] {
    return this.ofKind('HorizontalPodAutoscaler').filter((h) => targets(h.object.spec?.scaleTargetRef, workload.object));
  }
}

function targets(ref: Any, object: K8sObject): boolean {
  return ref?.kind === object.kind && ref?.name === object.metadata?.name && ref?.apiVersion === object.apiVersion;
}

function podLabels(workload: K8sObject): Record<string, string> {
  return workload.spec?.template?.metadata?.labels ?? {};
}

function containersOf(workload: K8sObject, withInit = true): Any[] {
  const spec = workload.spec?.template?.spec ?? {};
  return [...(spec.containers ?? []), ...(withInit ? (spec.initContainers ?? []) : [])];
}

function each(objects: LoadedObject[], check: (o: LoadedObject) => string | string[] | undefined): Finding[] {
  return objects.flatMap((on) => {
    const result = check(on);
    const messages = result === undefined ? [] : Array.isArray(result) ? result : [result];
    return messages.map((message) => ({ on, message }));
  });
}

function perContainer(all: Manifests, check: (c: Any, pod: Any, workload: K8sObject, init: boolean) => string | undefined): Finding[] {
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
function effective(c: Any, pod: Any, key: string): unknown {
  return c.securityContext?.[key] ?? pod.securityContext?.[key];
}

function probeKey(probe: Any): string {
  return JSON.stringify(probe ?? null);
}

function probePort(probe: Any): unknown {
  return probe?.httpGet?.port ?? probe?.tcpSocket?.port ?? probe?.grpc?.port;
}

/** Minimum pods an HPA guarantees, or the fixed replica count (default 1). */
function minPods(all: Manifests, w: LoadedObject): number {
  const hpa = all.hpasFor(w)[0];
  if (hpa) return Number(hpa.object.spec?.minReplicas ?? 1);
  return Number(w.object.spec?.replicas ?? 1);
}

function pdbsFor(all: Manifests, w: LoadedObject): LoadedObject[] {
  return all.ofKind('PodDisruptionBudget').filter((p) => selects(p.object.spec?.selector, podLabels(w.object)));
}

/** Resolves an int-or-percent against a total, rounding like the disruption controller (up). */
function resolveCount(value: unknown, total: number): number {
  if (typeof value === 'number') return value;
  const match = /^(\d+)%$/.exec(String(value));
  return match ? Math.ceil((Number(match[1]) / 100) * total) : Number.NaN;
}

const HOSTNAME = 'kubernetes.io/hostname';
const SECRET_NAME_RE = /(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL)/i;

export const RULES: Rule[] = [
  {
    id: 'explicit-namespace',
    source: 'kube-linter use-namespace',
    description: 'Every namespaced object names the HealthMate namespace, never default.',
    check: (all, ctx) =>
      each(
        all.objects.filter((o) => o.object.kind !== 'Namespace'),
        (o) =>
          o.object.metadata?.namespace === ctx.namespace
            ? undefined
            : `metadata.namespace is ${o.object.metadata?.namespace ?? 'unset'}, not ${ctx.namespace} (K8S_NAMESPACE).`,
      ),
  },
  {
    id: 'image-tag-pinned',
    source: 'kube-linter latest-tag, Polaris tagNotSpecified, kube-score container-image-tag',
    description: 'Every image names a version tag (or digest), never latest.',
    check: (all) =>
      perContainer(all, (c) => {
        const image = String(c.image ?? '');
        if (image.includes('@sha256:')) return undefined;
        const tag = /:([^/:]+)$/.exec(image)?.[1];
        if (!tag) return `image ${image} has no tag.`;
        return tag === 'latest' ? `image ${image} uses latest.` : undefined;
      }),
  },
  {
    id: 'image-pull-policy-always',
    source: 'kube-score container-image-pull-policy',
    description: 'imagePullPolicy Always, so a node never runs a stale or tampered cached image.',
    check: (all) => perContainer(all, (c) => (c.imagePullPolicy === 'Always' ? undefined : 'imagePullPolicy is not Always.')),
  },
  {
    id: 'resources',
    source:
      'kube-score container-resources and container-ephemeral-storage-request-and-limit, Polaris cpu/memory Requests/LimitsMissing, kube-linter unset-cpu/memory-requirements',
    description: 'CPU, memory and ephemeral-storage requests and limits on every container; requests no higher than limits.',
    check: (all) =>
      perContainer(all, (c) => {
        const missing: string[] = [];
        for (const kind of ['requests', 'limits'])
          for (const r of ['cpu', 'memory', 'ephemeral-storage']) if (c.resources?.[kind]?.[r] === undefined) missing.push(`${kind}.${r}`);
        return missing.length > 0 ? `resources ${missing.join(', ')} not set.` : undefined;
      }),
  },
  {
    id: 'probes',
    source: 'kube-score pod-probes, Polaris readinessProbeMissing/livenessProbeMissing',
    description: 'Every long-running container has a readiness and a liveness probe, and they differ.',
    check: (all) =>
      perContainer(all, (c, _pod, _w, init) => {
        if (init) return undefined;
        if (!c.readinessProbe) return 'has no readinessProbe.';
        if (!c.livenessProbe) return 'has no livenessProbe.';
        return probeKey(c.readinessProbe) === probeKey(c.livenessProbe)
          ? 'readiness and liveness probes are identical (a failing dependency would restart it).'
          : undefined;
      }),
  },
  {
    id: 'probe-ports-exist',
    source: 'kube-linter liveness-port, readiness-port, startup-port',
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
    source: 'kube-linter run-as-non-root, Polaris runAsRootAllowed, Pod Security restricted',
    description: 'runAsNonRoot true for every container.',
    check: (all) => perContainer(all, (c, pod) => (effective(c, pod, 'runAsNonRoot') === true ? undefined : 'runAsNonRoot is not true.')),
  },
  {
    id: 'high-uid-gid',
    source: 'kube-score container-security-context-user-group-id',
    description: 'runAsUser and runAsGroup of at least 10000, clear of host users.',
    check: (all) =>
      perContainer(all, (c, pod) => {
        const user = Number(effective(c, pod, 'runAsUser'));
        const group = Number(effective(c, pod, 'runAsGroup'));
        return user >= 10000 && group >= 10000 ? undefined : 'runAsUser and runAsGroup must both be set to 10000 or more.';
      }),
  },
  {
    id: 'read-only-root-filesystem',
    source: 'kube-score container-security-context-readonlyrootfilesystem, Polaris notReadOnlyRootFilesystem, kube-linter no-read-only-root-fs',
    description: 'readOnlyRootFilesystem true; writable paths are emptyDir or volume mounts.',
    check: (all) => perContainer(all, (c) => (c.securityContext?.readOnlyRootFilesystem === true ? undefined : 'readOnlyRootFilesystem is not true.')),
  },
  {
    id: 'no-privilege-escalation',
    source:
      'kube-linter privilege-escalation-container and privileged-container, Polaris privilegeEscalationAllowed/runAsPrivileged, kube-score container-security-context-privileged',
    description: 'allowPrivilegeEscalation false and never privileged.',
    check: (all) =>
      perContainer(all, (c) => {
        if (c.securityContext?.privileged === true) return 'is privileged.';
        return c.securityContext?.allowPrivilegeEscalation === false ? undefined : 'allowPrivilegeEscalation is not false.';
      }),
  },
  {
    id: 'drop-all-capabilities',
    source: 'Polaris dangerousCapabilities/insecureCapabilities, kube-linter drop-net-raw-capability, Pod Security restricted',
    description: 'capabilities drop ALL and add none.',
    check: (all) =>
      perContainer(all, (c) => {
        const caps = c.securityContext?.capabilities ?? {};
        if (!(caps.drop ?? []).includes('ALL')) return 'capabilities.drop does not include ALL.';
        return (caps.add ?? []).length > 0 ? `adds capabilities ${caps.add.join(', ')}.` : undefined;
      }),
  },
  {
    id: 'seccomp-runtime-default',
    source: 'Polaris linuxHardening, kube-score container-seccomp-profile, Pod Security restricted',
    description: 'seccompProfile RuntimeDefault (or Localhost) for every container.',
    check: (all) =>
      perContainer(all, (c, pod) => {
        const type = (effective(c, pod, 'seccompProfile') as Any)?.type;
        return type === 'RuntimeDefault' || type === 'Localhost' ? undefined : 'seccompProfile is not RuntimeDefault.';
      }),
  },
  {
    id: 'no-host-access',
    source:
      'Polaris hostNetworkSet/hostPIDSet/hostIPCSet/hostPortSet/hostPathSet, kube-linter host-network/host-pid/host-ipc/sensitive-host-mounts/docker-sock',
    description: 'No host network, PID or IPC namespace, host ports or hostPath volumes.',
    check: (all) =>
      each(all.workloads(), (w) => {
        const pod = w.object.spec?.template?.spec ?? {};
        const found: string[] = [];
        for (const key of ['hostNetwork', 'hostPID', 'hostIPC']) if (pod[key] === true) found.push(`${key} is true.`);
        for (const v of pod.volumes ?? []) if (v.hostPath) found.push(`volume ${v.name} is a hostPath.`);
        for (const c of containersOf(w.object))
          for (const p of c.ports ?? []) if (p.hostPort) found.push(`container ${c.name} publishes hostPort ${p.hostPort}.`);
        return found;
      }),
  },
  {
    id: 'no-service-account-token',
    source: 'Polaris automountServiceAccountToken',
    description: 'automountServiceAccountToken false: no HealthMate pod calls the Kubernetes API.',
    check: (all) =>
      each(all.workloads(), (w) =>
        w.object.spec?.template?.spec?.automountServiceAccountToken === false ? undefined : 'automountServiceAccountToken is not false.',
      ),
  },
  {
    id: 'no-secrets-in-manifests',
    source: 'kube-linter env-var-secret, Polaris sensitiveContainerEnvVar, issue 8',
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
    id: 'secret-keys-provided',
    source: 'issue 8 (a pod referencing a missing key never starts)',
    description: `Every secretKeyRef and secret volume names ${SECRET_NAME} and a key deploy-k8s.ts puts in it.`,
    check: (all) =>
      each(all.workloads(), (w) => {
        const pod = w.object.spec?.template?.spec ?? {};
        const refs: { name: string; key: string }[] = [];
        for (const c of containersOf(w.object))
          for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef) refs.push({ name: e.valueFrom.secretKeyRef.name, key: e.valueFrom.secretKeyRef.key });
        for (const v of pod.volumes ?? [])
          if (v.secret) for (const item of v.secret.items ?? [{ key: '(whole secret)' }]) refs.push({ name: v.secret.secretName, key: item.key });
        return refs
          .filter((r) => r.name !== SECRET_NAME || !(Object.keys(SECRET_KEYS) as string[]).includes(r.key))
          .map((r) => `refers to key ${r.key} of Secret ${r.name}, which the deploy does not create.`);
      }),
  },
  {
    id: 'no-duplicate-env',
    source: 'kube-score environment-variable-key-duplication',
    description: 'No environment variable is set twice in one container.',
    check: (all) =>
      perContainer(all, (c) => {
        const names = (c.env ?? []).map((e: Any) => e.name as string);
        const dup = names.find((n: string, i: number) => names.indexOf(n) !== i);
        return dup ? `sets ${dup} twice.` : undefined;
      }),
  },
  {
    id: 'config-refs-exist',
    source: 'kube-linter non-existent-service-account (same idea for ConfigMaps)',
    description: 'Every ConfigMap a pod reads is defined in the manifests.',
    check: (all) =>
      each(all.workloads(), (w) => {
        const names = new Set<string>();
        for (const c of containersOf(w.object)) for (const f of c.envFrom ?? []) if (f.configMapRef) names.add(f.configMapRef.name);
        for (const v of w.object.spec?.template?.spec?.volumes ?? []) if (v.configMap) names.add(v.configMap.name);
        return [...names].filter((n) => !all.find('ConfigMap', n)).map((n) => `reads ConfigMap ${n}, which no manifest defines.`);
      }),
  },
  {
    id: 'selector-matches-template',
    source: 'kube-linter mismatching-selector',
    description: "A workload's selector matches its own pod template labels.",
    check: (all) =>
      each(all.workloads(), (w) => (selects(w.object.spec?.selector, podLabels(w.object)) ? undefined : 'selector does not match the pod template labels.')),
  },
  {
    id: 'replicas-at-least-2',
    source: 'kube-score deployment-replicas, Polaris deploymentMissingReplicas',
    description: 'At least two pods (fixed replicas or HPA minimum), so one can be lost or drained.',
    check: (all) => each(all.workloads(), (w) => (minPods(all, w) >= 2 ? undefined : `runs as few as ${minPods(all, w)} pod.`)),
  },
  {
    id: 'no-replicas-with-hpa',
    source: 'kube-score deployment-targeted-by-hpa-does-not-have-replicas-configured',
    description: 'A workload an HPA scales has no replicas field (each apply would reset the count).',
    check: (all) =>
      each(all.workloads(), (w) =>
        all.hpasFor(w).length > 0 && w.object.spec?.replicas !== undefined ? 'sets replicas although an HPA manages the count.' : undefined,
      ),
  },
  {
    id: 'rolling-update',
    source: 'kube-score deployment-strategy, issue 8',
    description: 'RollingUpdate; Deployments with maxUnavailable 0, so a rollout never drops below the current capacity.',
    check: (all) =>
      each(all.workloads(), (w) => {
        if (w.object.kind === 'StatefulSet')
          return (w.object.spec?.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate' ? undefined : 'updateStrategy is not RollingUpdate.';
        const strategy = w.object.spec?.strategy;
        if (strategy?.type !== 'RollingUpdate') return 'strategy is not RollingUpdate.';
        const unavailable = strategy.rollingUpdate?.maxUnavailable;
        return unavailable === 0 || unavailable === '0%' ? undefined : 'rollingUpdate.maxUnavailable is not 0.';
      }),
  },
  {
    id: 'host-anti-affinity',
    source:
      'kube-score deployment-has-host-podantiaffinity/statefulset-has-host-podantiaffinity, kube-linter no-anti-affinity, Polaris topologySpreadConstraint',
    description: "Pods prefer different nodes: anti-affinity or a topology spread on kubernetes.io/hostname selecting the workload's own pods.",
    check: (all) =>
      each(all.workloads(), (w) => {
        const pod = w.object.spec?.template?.spec ?? {};
        const labels = podLabels(w.object);
        const anti = pod.affinity?.podAntiAffinity ?? {};
        const terms = [
          ...(anti.requiredDuringSchedulingIgnoredDuringExecution ?? []),
          ...(anti.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((p: Any) => p.podAffinityTerm),
        ];
        const spread = pod.topologySpreadConstraints ?? [];
        const ok =
          terms.some((t: Any) => t?.topologyKey === HOSTNAME && selects(t.labelSelector, labels)) ||
          spread.some((s: Any) => s.topologyKey === HOSTNAME && selects(s.labelSelector, labels));
        return ok ? undefined : 'has no pod anti-affinity or topology spread on kubernetes.io/hostname.';
      }),
  },
  {
    id: 'graceful-termination',
    source: 'issue 8 (draining)',
    description: 'A preStop pause is shorter than terminationGracePeriodSeconds, leaving time to drain.',
    check: (all) =>
      perContainer(all, (c, pod) => {
        const command: string[] = c.lifecycle?.preStop?.exec?.command ?? [];
        const pause = command[0] === 'sleep' ? Number(command[1]) : 0;
        const grace = Number(pod.terminationGracePeriodSeconds ?? 30);
        return pause > 0 && pause >= grace ? `preStop sleep ${pause}s leaves no time within terminationGracePeriodSeconds ${grace}.` : undefined;
      }),
  },
  {
    id: 'pod-disruption-budget',
    source: 'kube-score deployment-has-poddisruptionbudget/statefulset-has-poddisruptionbudget, Polaris missingPodDisruptionBudget',
    description: 'Every workload is covered by exactly one PodDisruptionBudget.',
    check: (all) =>
      each(all.workloads(), (w) => {
        const n = pdbsFor(all, w).length;
        return n === 1
          ? undefined
          : n === 0
            ? 'no PodDisruptionBudget selects its pods.'
            : `${n} PodDisruptionBudgets select its pods (the eviction API refuses that).`;
      }),
  },
  {
    id: 'pdb-allows-disruption',
    source: 'Polaris pdbDisruptionsIsZero, kube-linter pdb-max-unavailable/pdb-min-available, Polaris pdbMinAvailableGreaterThanHPAMinReplicas',
    description: 'A PDB never blocks every eviction, also at the HPA minimum: maxUnavailable ≥ 1, minAvailable below the minimum pod count.',
    check: (all) =>
      each(all.workloads(), (w) => {
        const total = minPods(all, w);
        return pdbsFor(all, w).flatMap((p) => {
          const spec = p.object.spec ?? {};
          if (spec.maxUnavailable !== undefined) {
            const n = resolveCount(spec.maxUnavailable, total);
            return n >= 1 ? [] : [`PodDisruptionBudget ${p.object.metadata?.name} has maxUnavailable ${spec.maxUnavailable}: no pod could ever be evicted.`];
          }
          const min = resolveCount(spec.minAvailable, total);
          return min < total
            ? []
            : [`PodDisruptionBudget ${p.object.metadata?.name} needs ${spec.minAvailable} available of at least ${total} pods: drains would block.`];
        });
      }),
  },
  {
    id: 'pdb-keeps-one-pod',
    source: 'issue 8 (PDB compatible with the HPA minimum)',
    description: 'With the minimum pod count, a PDB still keeps at least one pod serving.',
    check: (all) =>
      each(all.workloads(), (w) => {
        const total = minPods(all, w);
        if (total < 2) return undefined;
        return pdbsFor(all, w).flatMap((p) => {
          const spec = p.object.spec ?? {};
          const left = spec.maxUnavailable !== undefined ? total - resolveCount(spec.maxUnavailable, total) : resolveCount(spec.minAvailable, total);
          return left >= 1 ? [] : [`PodDisruptionBudget ${p.object.metadata?.name} lets all ${total} pods go at once.`];
        });
      }),
  },
  {
    id: 'pdb-unhealthy-eviction',
    source: 'kube-linter pdb-unhealthy-pod-eviction-policy',
    description: 'unhealthyPodEvictionPolicy AlwaysAllow, so a crash-looping pod cannot block a node drain.',
    check: (all) =>
      each(all.ofKind('PodDisruptionBudget'), (p) =>
        p.object.spec?.unhealthyPodEvictionPolicy === 'AlwaysAllow' ? undefined : 'unhealthyPodEvictionPolicy is not AlwaysAllow.',
      ),
  },
  {
    id: 'pdb-targets-pods',
    source: 'kube-linter dangling-pdb (kube-score poddisruptionbudget-has-policy)',
    description: 'Every PDB selects some workload and sets minAvailable or maxUnavailable.',
    check: (all) =>
      each(all.ofKind('PodDisruptionBudget'), (p) => {
        if (p.object.spec?.minAvailable === undefined && p.object.spec?.maxUnavailable === undefined) return 'sets neither minAvailable nor maxUnavailable.';
        return all.workloads().some((w) => selects(p.object.spec?.selector, podLabels(w.object))) ? undefined : 'selects no workload.';
      }),
  },
  {
    id: 'statefulset-headless-service',
    source: 'kube-score statefulset-has-servicename',
    description: "A StatefulSet's serviceName is a headless Service selecting its pods.",
    check: (all) =>
      each(all.ofKind('StatefulSet'), (s) => {
        const svc = all.find('Service', s.object.spec?.serviceName ?? '');
        if (!svc) return `serviceName ${s.object.spec?.serviceName} is not a Service in the manifests.`;
        if (svc.object.spec?.clusterIP !== 'None') return `Service ${svc.object.metadata?.name} is not headless (clusterIP: None).`;
        return selects({ matchLabels: svc.object.spec?.selector }, podLabels(s.object))
          ? undefined
          : `Service ${svc.object.metadata?.name} does not select its pods.`;
      }),
  },
  {
    id: 'service-targets-pod',
    source: 'kube-score service-targets-pod, kube-linter dangling-service and invalid-target-ports',
    description: 'Every Service selects some workload, and its named target ports exist there.',
    check: (all) =>
      each(all.ofKind('Service'), (svc) => {
        const selector = svc.object.spec?.selector;
        const matched = all.workloads().filter((w) => selector && selects({ matchLabels: selector }, podLabels(w.object)));
        if (matched.length === 0) return 'selects no workload.';
        const problems: string[] = [];
        for (const port of svc.object.spec?.ports ?? []) {
          if (typeof port.targetPort !== 'string') continue;
          const ok = matched.every((w) => containersOf(w.object, false).some((c) => (c.ports ?? []).some((p: Any) => p.name === port.targetPort)));
          if (!ok) problems.push(`targetPort ${port.targetPort} is not a named port of every selected workload.`);
        }
        return problems;
      }),
  },
  {
    id: 'default-deny-network-policy',
    source: 'issue 8, kube-score pod-networkpolicy',
    description: 'A NetworkPolicy selecting every pod denies all ingress and egress not allowed explicitly.',
    check: (all) => {
      const ok = all
        .ofKind('NetworkPolicy')
        .some(
          (p) =>
            Object.keys(p.object.spec?.podSelector ?? {}).length === 0 &&
            ['Ingress', 'Egress'].every((t) => (p.object.spec?.policyTypes ?? []).includes(t)) &&
            (p.object.spec?.ingress ?? []).length === 0 &&
            (p.object.spec?.egress ?? []).length === 0,
        );
      const ns = all.ofKind('Namespace')[0] ?? all.objects[0];
      return ok || !ns ? [] : [{ on: ns, message: 'no default-deny NetworkPolicy (empty podSelector, policyTypes Ingress and Egress, no rules).' }];
    },
  },
  {
    id: 'network-policy-covers-pod',
    source: 'kube-score pod-networkpolicy',
    description: 'Every pod is selected by NetworkPolicies for both ingress and egress.',
    check: (all) =>
      each(all.workloads(), (w) => {
        const policies = all.ofKind('NetworkPolicy').filter((p) => selects(p.object.spec?.podSelector ?? {}, podLabels(w.object)));
        return ['Ingress', 'Egress']
          .filter((t) => !policies.some((p) => (p.object.spec?.policyTypes ?? []).includes(t)))
          .map((t) => `no NetworkPolicy restricts its ${t.toLowerCase()}.`);
      }),
  },
  {
    id: 'network-policy-targets-pod',
    source: 'kube-score networkpolicy-targets-pod, kube-linter dangling-networkpolicy',
    description: 'Every NetworkPolicy selects at least one pod.',
    check: (all) =>
      each(all.ofKind('NetworkPolicy'), (p) =>
        all.workloads().some((w) => selects(p.object.spec?.podSelector ?? {}, podLabels(w.object))) ? undefined : 'selects no pod.',
      ),
  },
  {
    id: 'network-flows',
    source: 'issue 8 (ingress controller to backend, apps to PostgreSQL and Redis, DNS, Prometheus; nothing else)',
    description: 'NetworkPolicies, evaluated with networking.k8s.io/v1 semantics, allow every needed connection and block the listed unwanted ones.',
    check: (all, ctx) => {
      const endpoints: Record<string, Endpoint> = {
        ingress: { namespace: ctx.ingressNamespace, labels: { 'app.kubernetes.io/name': 'ingress-nginx' } },
        prometheus: { namespace: ctx.monitoringNamespace, labels: { 'app.kubernetes.io/name': 'prometheus' } },
        dns: { namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } },
        elsewhere: { namespace: 'some-other-namespace', labels: { app: 'anything' } },
      };
      for (const w of all.workloads()) endpoints[w.object.metadata?.name ?? ''] = { namespace: ctx.namespace, labels: podLabels(w.object) };
      const policies = all.ofKind('NetworkPolicy').map((p) => p.object);
      const anchor = all.ofKind('NetworkPolicy')[0] ?? all.objects[0];
      if (!anchor) return [];
      return REQUIRED_FLOWS.flatMap((f) => {
        const from = endpoints[f.from];
        const to = endpoints[f.to];
        if (!from || !to) return [{ on: anchor, message: `flow ${f.from} -> ${f.to}: no workload named ${from ? f.to : f.from}.` }];
        const allowed = flowAllowed(policies, { from, to, port: f.port, protocol: f.protocol ?? 'TCP' });
        if (allowed === f.allow) return [];
        const what = `${f.from} -> ${f.to}:${f.port}/${f.protocol ?? 'TCP'}`;
        return [{ on: anchor, message: f.allow ? `${what} is needed but blocked.` : `${what} must be blocked but is allowed.` }];
      });
    },
  },
  {
    id: 'hpa-target-exists',
    source: 'kube-score horizontalpodautoscaler-has-target, kube-linter dangling-horizontalpodautoscaler',
    description: 'Every HPA scales a workload defined in the manifests.',
    check: (all) =>
      each(all.ofKind('HorizontalPodAutoscaler'), (h) =>
        all.workloads().some((w) => targets(h.object.spec?.scaleTargetRef, w.object)) ? undefined : 'scaleTargetRef names no workload in the manifests.',
      ),
  },
  {
    id: 'hpa-replica-range',
    source: 'kube-score horizontalpodautoscaler-replicas, Polaris hpaMinAvailability/hpaMaxAvailability',
    description: 'HPA minReplicas ≥ 2 and maxReplicas > minReplicas.',
    check: (all) =>
      each(all.ofKind('HorizontalPodAutoscaler'), (h) => {
        const min = Number(h.object.spec?.minReplicas ?? 1);
        const max = Number(h.object.spec?.maxReplicas);
        if (min < 2) return `minReplicas ${min} is below 2.`;
        return max > min ? undefined : `maxReplicas ${max} is not above minReplicas ${min}.`;
      }),
  },
  {
    id: 'hpa-slow-scale-down',
    source: 'issue 8 (HPA v2 default behavior)',
    description: 'scaleDown stabilisation of at least 300 s and at most 10% of pods a minute.',
    check: (all) =>
      each(all.ofKind('HorizontalPodAutoscaler'), (h) => {
        const down = h.object.spec?.behavior?.scaleDown;
        if (Number(down?.stabilizationWindowSeconds ?? 300) < 300)
          return `scaleDown.stabilizationWindowSeconds ${down.stabilizationWindowSeconds} is below 300.`;
        const tooFast = (down?.policies ?? []).filter((p: Any) => p.type === 'Percent' && (p.value / p.periodSeconds) * 60 > 10);
        return tooFast.length > 0 ? 'a scaleDown policy removes more than 10% of pods a minute.' : undefined;
      }),
  },
  {
    id: 'hpa-metrics-have-requests',
    source: 'issue 8 (utilisation is measured against requests)',
    description: 'An HPA scaling on CPU or memory utilisation targets containers that all request that resource.',
    check: (all) =>
      each(all.ofKind('HorizontalPodAutoscaler'), (h) => {
        const target = all.workloads().find((w) => targets(h.object.spec?.scaleTargetRef, w.object));
        if (!target) return undefined;
        return (h.object.spec?.metrics ?? [])
          .filter((m: Any) => m.type === 'Resource' && m.resource?.target?.type === 'Utilization')
          .map((m: Any) => m.resource.name as string)
          .filter((r: string) => containersOf(target.object, false).some((c) => c.resources?.requests?.[r] === undefined))
          .map((r: string) => `scales on ${r} utilisation but a container of ${describe(target)} requests no ${r}.`);
      }),
  },
  {
    id: 'vpa-recommendation-only',
    source: 'issue 8',
    description: 'VPAs run in recommendation mode (updateMode Off) and target a workload in the manifests.',
    check: (all) =>
      each(all.ofKind('VerticalPodAutoscaler'), (v) => {
        const ref = v.object.spec?.targetRef;
        if (!all.workloads().some((w) => targets(ref, w.object))) return 'targetRef names no workload in the manifests.';
        return v.object.spec?.updatePolicy?.updateMode === 'Off' ? undefined : 'updatePolicy.updateMode is not Off.';
      }),
  },
  {
    id: 'vpa-not-on-hpa-resource',
    source: 'Kubernetes autoscaler docs (VPA and HPA must not both act on CPU or memory)',
    description: 'A VPA never controls a resource an HPA scales the same workload on (controlledResources defaults to cpu and memory).',
    check: (all) =>
      each(all.ofKind('VerticalPodAutoscaler'), (v) => {
        const target = all.workloads().find((w) => targets(v.object.spec?.targetRef, w.object));
        if (!target) return undefined;
        const hpaResources = new Set(
          all
            .hpasFor(target)
            .flatMap((h) => (h.object.spec?.metrics ?? []).filter((m: Any) => m.type === 'Resource').map((m: Any) => m.resource?.name as string)),
        );
        const policies: Any[] = v.object.spec?.resourcePolicy?.containerPolicies ?? [];
        const controlled = new Set<string>();
        const names = containersOf(target.object, false).map((c) => c.name as string);
        for (const name of names) {
          const policy = policies.find((p) => p.containerName === name) ?? policies.find((p) => p.containerName === '*');
          if (policy?.mode === 'Off') continue;
          for (const r of policy?.controlledResources ?? ['cpu', 'memory']) controlled.add(r);
        }
        const clash = [...controlled].filter((r) => hpaResources.has(r));
        return clash.length > 0 ? `controls ${clash.join(', ')}, which an HPA scales ${describe(target)} on.` : undefined;
      }),
  },
  {
    id: 'ingress-targets-service',
    source: 'kube-score ingress-targets-service',
    description: 'Every Ingress backend is a Service in the manifests with that port.',
    check: (all) =>
      each(all.ofKind('Ingress'), (ing) => {
        const problems: string[] = [];
        for (const rule of ing.object.spec?.rules ?? [])
          for (const path of rule.http?.paths ?? []) {
            const service = path.backend?.service;
            const svc = all.find('Service', service?.name ?? '');
            const ok = (svc?.object.spec?.ports ?? []).some((p: Any) => p.name === service?.port?.name || p.port === service?.port?.number);
            if (!svc || !ok)
              problems.push(`path ${path.path} targets ${service?.name}:${service?.port?.name ?? service?.port?.number}, which no Service provides.`);
          }
        return problems;
      }),
  },
  {
    id: 'ingress-tls',
    source: 'issue 8',
    description: 'Every host an Ingress serves is covered by its tls section.',
    check: (all) =>
      each(all.ofKind('Ingress'), (ing) => {
        const covered = new Set((ing.object.spec?.tls ?? []).flatMap((t: Any) => t.hosts ?? []));
        return (ing.object.spec?.rules ?? [])
          .map((r: Any) => r.host as string)
          .filter((h: string) => !covered.has(h))
          .map((h: string) => `host ${h} is served without TLS.`);
      }),
  },
];

function exemptions(o: LoadedObject): { ids: Set<string>; reason?: string } {
  const annotations = o.object.metadata?.annotations ?? {};
  const ids = new Set(
    (annotations[EXEMPT_ANNOTATION] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  const reason = annotations[EXEMPT_REASON_ANNOTATION]?.trim();
  return reason ? { ids, reason } : { ids };
}

export function policyContext(env: LoadedEnv): PolicyContext {
  return { namespace: env.values.K8S_NAMESPACE, ingressNamespace: env.values.K8S_INGRESS_NAMESPACE, monitoringNamespace: env.values.K8S_MONITORING_NAMESPACE };
}

/** Runs every rule; findings on an object that exempts the rule (with a reason) are dropped. */
export function checkPolicy(objects: LoadedObject[], ctx: PolicyContext): Problem[] {
  const all = new Manifests(objects);
  const problems: Problem[] = [];
  const known = new Set(RULES.map((r) => r.id));
  for (const o of objects) {
    const { ids, reason } = exemptions(o);
    for (const id of ids) if (!known.has(id)) problems.push(error(`${describe(o)} exempts unknown policy rule "${id}".`, o.file, o.line));
    if (ids.size > 0 && !reason) problems.push(error(`${describe(o)} exempts policy rules without ${EXEMPT_REASON_ANNOTATION}.`, o.file, o.line));
  }
  for (const rule of RULES) {
    for (const finding of rule.check(all, ctx)) {
      const { ids, reason } = exemptions(finding.on);
      if (ids.has(rule.id) && reason) continue;
      problems.push(error(`[${rule.id}] ${describe(finding.on)}: ${finding.message}`, finding.on.file, finding.on.line));
    }
  }
  return problems;
}
