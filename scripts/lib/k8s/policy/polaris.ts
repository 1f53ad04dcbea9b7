import { type Any, containersOf, each, effective, minPods, pdbsFor, perContainer, type Rule, resolveCount } from './model.js';

/** Rules from Polaris's default checks (each names the checks it encodes). */
export const POLARIS_RULES: Rule[] = [
  {
    id: 'drop-all-capabilities',
    origin: 'Polaris',
    encodes: 'Polaris dangerousCapabilities/insecureCapabilities, kube-linter drop-net-raw-capability, Pod Security restricted',
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
    origin: 'Polaris',
    encodes: 'Polaris linuxHardening, kube-score container-seccomp-profile, Pod Security restricted',
    description: 'seccompProfile RuntimeDefault (or Localhost) for every container.',
    check: (all) =>
      perContainer(all, (c, pod) => {
        const type = (effective(c, pod, 'seccompProfile') as Any)?.type;
        return type === 'RuntimeDefault' || type === 'Localhost' ? undefined : 'seccompProfile is not RuntimeDefault.';
      }),
  },
  {
    id: 'no-host-access',
    origin: 'Polaris',
    encodes:
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
    origin: 'Polaris',
    encodes: 'Polaris automountServiceAccountToken',
    description: 'automountServiceAccountToken false: no HealthMate pod calls the Kubernetes API.',
    check: (all) =>
      each(all.workloads(), (w) =>
        w.object.spec?.template?.spec?.automountServiceAccountToken === false ? undefined : 'automountServiceAccountToken is not false.',
      ),
  },
  {
    id: 'pdb-allows-disruption',
    origin: 'Polaris',
    encodes: 'Polaris pdbDisruptionsIsZero, kube-linter pdb-max-unavailable/pdb-min-available, Polaris pdbMinAvailableGreaterThanHPAMinReplicas',
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
];
