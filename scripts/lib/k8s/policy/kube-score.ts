import { selects } from '../policy-selectors.js';
import {
  type Any,
  containersOf,
  each,
  effective,
  HOSTNAME,
  minPods,
  missingResources,
  pdbsFor,
  perContainer,
  podLabels,
  probeKey,
  type Rule,
  targets,
} from './model.js';

/** Rules from kube-score's default checks (each names the checks it encodes). */
export const KUBE_SCORE_RULES: Rule[] = [
  {
    id: 'image-pull-policy-always',
    origin: 'kube-score',
    encodes: 'kube-score container-image-pull-policy',
    description: 'imagePullPolicy Always (containers and CloudNativePG Clusters), so a node never runs a stale or tampered cached image.',
    check: (all) => [
      ...perContainer(all, (c) => (c.imagePullPolicy === 'Always' ? undefined : 'imagePullPolicy is not Always.')),
      ...each(all.clusters(), (c) => (c.object.spec?.imagePullPolicy === 'Always' ? undefined : 'spec.imagePullPolicy is not Always.')),
    ],
  },
  {
    id: 'resources',
    origin: 'kube-score',
    encodes:
      'kube-score container-resources and container-ephemeral-storage-request-and-limit, Polaris cpu/memory Requests/LimitsMissing, kube-linter unset-cpu/memory-requirements',
    description:
      'CPU, memory and ephemeral-storage requests and limits on every container; CPU and memory on CloudNativePG instances (with bounded ephemeral volumes) and the Barman Cloud sidecar.',
    check: (all) => [
      ...perContainer(all, (c) => missingResources(c.resources, ['cpu', 'memory', 'ephemeral-storage'])),
      // CloudNativePG: cpu and memory on the instances; their scratch space is bounded by ephemeralVolumesSizeLimit.
      ...each(all.clusters(), (c) => {
        const limits = c.object.spec?.ephemeralVolumesSizeLimit ?? {};
        const scratch = limits.shm !== undefined && limits.temporaryData !== undefined ? undefined : 'ephemeralVolumesSizeLimit shm and temporaryData not set.';
        return [missingResources(c.object.spec?.resources, ['cpu', 'memory']), scratch].filter((m): m is string => m !== undefined);
      }),
      ...each(
        all.ofKind('ObjectStore'),
        (o) =>
          missingResources(o.object.spec?.instanceSidecarConfiguration?.resources, ['cpu', 'memory']) &&
          'the Barman Cloud sidecar (instanceSidecarConfiguration.resources) has no cpu and memory requests and limits.',
      ),
    ],
  },
  {
    id: 'probes',
    origin: 'kube-score',
    encodes: 'kube-score pod-probes, Polaris readinessProbeMissing/livenessProbeMissing',
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
    id: 'high-uid-gid',
    origin: 'kube-score',
    encodes: 'kube-score container-security-context-user-group-id',
    description: "runAsUser and runAsGroup (a Cluster's postgresUID/postgresGID) of at least 10000, clear of host users.",
    check: (all) => [
      ...perContainer(all, (c, pod) => {
        const user = Number(effective(c, pod, 'runAsUser'));
        const group = Number(effective(c, pod, 'runAsGroup'));
        return user >= 10000 && group >= 10000 ? undefined : 'runAsUser and runAsGroup must both be set to 10000 or more.';
      }),
      ...each(all.clusters(), (c) => {
        // CloudNativePG runs PostgreSQL as postgresUID/postgresGID, 26 unless set.
        const user = Number(c.object.spec?.postgresUID ?? 26);
        const group = Number(c.object.spec?.postgresGID ?? 26);
        return user >= 10000 && group >= 10000 ? undefined : `PostgreSQL runs as uid ${user} and gid ${group}, below 10000.`;
      }),
    ],
  },
  {
    id: 'read-only-root-filesystem',
    origin: 'kube-score',
    encodes: 'kube-score container-security-context-readonlyrootfilesystem, Polaris notReadOnlyRootFilesystem, kube-linter no-read-only-root-fs',
    description: 'readOnlyRootFilesystem true; writable paths are emptyDir or volume mounts.',
    check: (all) => perContainer(all, (c) => (c.securityContext?.readOnlyRootFilesystem === true ? undefined : 'readOnlyRootFilesystem is not true.')),
  },
  {
    id: 'no-duplicate-env',
    origin: 'kube-score',
    encodes: 'kube-score environment-variable-key-duplication',
    description: 'No environment variable is set twice in one container.',
    check: (all) =>
      perContainer(all, (c) => {
        const names = (c.env ?? []).map((e: Any) => e.name as string);
        const dup = names.find((n: string, i: number) => names.indexOf(n) !== i);
        return dup ? `sets ${dup} twice.` : undefined;
      }),
  },
  {
    id: 'replicas-at-least-2',
    origin: 'kube-score',
    encodes: 'kube-score deployment-replicas, Polaris deploymentMissingReplicas',
    description: 'At least two pods (fixed replicas, HPA minimum or Cluster instances), so one can be lost or drained.',
    check: (all) => [
      ...each(all.workloads(), (w) => (minPods(all, w) >= 2 ? undefined : `runs as few as ${minPods(all, w)} pod.`)),
      ...each(all.clusters(), (c) =>
        Number(c.object.spec?.instances) >= 2 ? undefined : `has ${c.object.spec?.instances} instance: no replica to fail over to.`,
      ),
    ],
  },
  {
    id: 'no-replicas-with-hpa',
    origin: 'kube-score',
    encodes: 'kube-score deployment-targeted-by-hpa-does-not-have-replicas-configured',
    description: 'A workload an HPA scales has no replicas field (each apply would reset the count).',
    check: (all) =>
      each(all.workloads(), (w) =>
        all.hpasFor(w).length > 0 && w.object.spec?.replicas !== undefined ? 'sets replicas although an HPA manages the count.' : undefined,
      ),
  },
  {
    id: 'rolling-update',
    origin: 'kube-score',
    encodes: 'kube-score deployment-strategy, issue 8',
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
    origin: 'kube-score',
    encodes:
      'kube-score deployment-has-host-podantiaffinity/statefulset-has-host-podantiaffinity, kube-linter no-anti-affinity, Polaris topologySpreadConstraint',
    description:
      "Pods prefer different nodes: anti-affinity or a topology spread on kubernetes.io/hostname selecting the workload's own pods; a Cluster keeps the operator's anti-affinity on kubernetes.io/hostname.",
    check: (all) => [
      ...each(all.workloads(), (w) => {
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
      // CloudNativePG makes the anti-affinity term itself from spec.affinity.
      ...each(all.clusters(), (c) => {
        const affinity = c.object.spec?.affinity ?? {};
        if (affinity.enablePodAntiAffinity === false) return 'affinity.enablePodAntiAffinity is false.';
        return affinity.topologyKey === HOSTNAME ? undefined : `affinity.topologyKey is ${affinity.topologyKey ?? 'unset'}, not ${HOSTNAME}.`;
      }),
    ],
  },
  {
    id: 'pod-disruption-budget',
    origin: 'kube-score',
    encodes: 'kube-score deployment-has-poddisruptionbudget/statefulset-has-poddisruptionbudget, Polaris missingPodDisruptionBudget',
    description:
      'Every workload is covered by exactly one PodDisruptionBudget; a CloudNativePG Cluster keeps the ones its operator makes (enablePDB not false).',
    check: (all) => [
      ...each(all.workloads(), (w) => {
        const n = pdbsFor(all, w).length;
        return n === 1
          ? undefined
          : n === 0
            ? 'no PodDisruptionBudget selects its pods.'
            : `${n} PodDisruptionBudgets select its pods (the eviction API refuses that).`;
      }),
      // CloudNativePG makes the Cluster's PodDisruptionBudgets unless enablePDB is false.
      ...each(all.clusters(), (c) => (c.object.spec?.enablePDB === false ? 'enablePDB is false, so the operator makes no PodDisruptionBudget.' : undefined)),
    ],
  },
  {
    id: 'statefulset-headless-service',
    origin: 'kube-score',
    encodes: 'kube-score statefulset-has-servicename',
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
    origin: 'kube-score',
    encodes: 'kube-score service-targets-pod, kube-linter dangling-service and invalid-target-ports',
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
    id: 'network-policy-covers-pod',
    origin: 'kube-score',
    encodes: 'kube-score pod-networkpolicy',
    description: 'Every pod is selected by NetworkPolicies for both ingress and egress.',
    check: (all) =>
      all.pods().flatMap((pod) => {
        const policies = all.ofKind('NetworkPolicy').filter((p) => selects(p.object.spec?.podSelector ?? {}, pod.labels));
        return ['Ingress', 'Egress']
          .filter((t) => !policies.some((p) => (p.object.spec?.policyTypes ?? []).includes(t)))
          .map((t) => ({ on: pod.from, message: `no NetworkPolicy restricts the ${t.toLowerCase()} of pod ${pod.name}.` }));
      }),
  },
  {
    id: 'network-policy-targets-pod',
    origin: 'kube-score',
    encodes: 'kube-score networkpolicy-targets-pod, kube-linter dangling-networkpolicy',
    description: 'Every NetworkPolicy selects at least one pod.',
    check: (all) =>
      each(all.ofKind('NetworkPolicy'), (p) =>
        all.pods().some((pod) => selects(p.object.spec?.podSelector ?? {}, pod.labels)) ? undefined : 'selects no pod.',
      ),
  },
  {
    id: 'hpa-target-exists',
    origin: 'kube-score',
    encodes: 'kube-score horizontalpodautoscaler-has-target, kube-linter dangling-horizontalpodautoscaler',
    description: 'Every HPA scales a workload defined in the manifests.',
    check: (all) =>
      each(all.ofKind('HorizontalPodAutoscaler'), (h) =>
        all.workloads().some((w) => targets(h.object.spec?.scaleTargetRef, w.object)) ? undefined : 'scaleTargetRef names no workload in the manifests.',
      ),
  },
  {
    id: 'hpa-replica-range',
    origin: 'kube-score',
    encodes: 'kube-score horizontalpodautoscaler-replicas, Polaris hpaMinAvailability/hpaMaxAvailability',
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
    id: 'ingress-targets-service',
    origin: 'kube-score',
    encodes: 'kube-score ingress-targets-service',
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
];
