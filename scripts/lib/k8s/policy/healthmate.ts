import { describe } from '../manifests.js';
import { type Endpoint, flowAllowed } from '../netpol.js';
import { providedSecretKeys } from '../secret.js';
import { type Any, containersOf, each, maxPods, minPods, pdbsFor, perContainer, type Rule, resolveCount, targets } from './model.js';

/**
 * Connections HealthMate needs (allow) and ones that must stay impossible
 * (deny), by pod name (scripts/lib/k8s/policy/model.ts, Manifests.pods:
 * workloads, postgres-primary / postgres-replica for the CloudNativePG
 * Cluster, acme-solver). `ingress`, `prometheus`, `cnpg-operator`, `dns` and
 * `elsewhere` are pods in other namespaces; `api-server`, `object-store` and
 * `internet` are addresses outside the pod network.
 */
export const REQUIRED_FLOWS: { from: string; to: string; port: number; protocol?: 'TCP' | 'UDP'; allow: boolean }[] = [
  { from: 'ingress', to: 'backend', port: 8000, allow: true },
  { from: 'prometheus', to: 'backend', port: 8000, allow: true },
  { from: 'prometheus', to: 'redis', port: 9121, allow: true },
  { from: 'prometheus', to: 'postgres-primary', port: 9187, allow: true },
  { from: 'prometheus', to: 'postgres-replica', port: 9187, allow: true },
  ...['backend', 'worker'].flatMap((app) => [
    { from: app, to: 'postgres-primary', port: 5432, allow: true },
    { from: app, to: 'postgres-replica', port: 5432, allow: true },
    { from: app, to: 'redis', port: 6379, allow: true },
  ]),
  { from: 'beat', to: 'redis', port: 6379, allow: true },
  // CloudNativePG: streaming replication, the operator's control and status
  // calls, the instance manager's API calls and the WAL archive.
  { from: 'postgres-replica', to: 'postgres-primary', port: 5432, allow: true },
  { from: 'postgres-primary', to: 'postgres-replica', port: 8000, allow: true },
  { from: 'cnpg-operator', to: 'postgres-primary', port: 8000, allow: true },
  { from: 'cnpg-operator', to: 'postgres-replica', port: 5432, allow: true },
  { from: 'postgres-primary', to: 'api-server', port: 6443, allow: true },
  { from: 'postgres-replica', to: 'api-server', port: 443, allow: true },
  { from: 'postgres-primary', to: 'object-store', port: 443, allow: true },
  { from: 'ingress', to: 'acme-solver', port: 8089, allow: true },
  ...['backend', 'worker', 'beat', 'postgres-primary', 'postgres-replica', 'redis'].flatMap((app) => [
    { from: app, to: 'dns', port: 53, protocol: 'UDP' as const, allow: true },
    { from: app, to: 'dns', port: 53, allow: true },
  ]),
  { from: 'ingress', to: 'postgres-primary', port: 5432, allow: false },
  { from: 'ingress', to: 'redis', port: 6379, allow: false },
  { from: 'ingress', to: 'backend', port: 9000, allow: false },
  { from: 'elsewhere', to: 'backend', port: 8000, allow: false },
  { from: 'elsewhere', to: 'postgres-primary', port: 5432, allow: false },
  { from: 'internet', to: 'backend', port: 8000, allow: false },
  { from: 'worker', to: 'backend', port: 8000, allow: false },
  { from: 'backend', to: 'elsewhere', port: 443, allow: false },
  { from: 'backend', to: 'internet', port: 443, allow: false },
  { from: 'worker', to: 'object-store', port: 443, allow: false },
  { from: 'redis', to: 'postgres-primary', port: 5432, allow: false },
  { from: 'redis', to: 'internet', port: 443, allow: false },
  { from: 'postgres-primary', to: 'redis', port: 6379, allow: false },
  { from: 'postgres-primary', to: 'elsewhere', port: 5432, allow: false },
  { from: 'postgres-primary', to: 'internet', port: 5432, allow: false },
  { from: 'postgres-primary', to: 'internet', port: 22, allow: false },
  { from: 'acme-solver', to: 'backend', port: 8000, allow: false },
  { from: 'prometheus', to: 'postgres-primary', port: 5432, allow: false },
];

/** Superuser slots PostgreSQL keeps free (superuser_reserved_connections default). */
const RESERVED_CONNECTIONS = 3;
/** Connections CloudNativePG itself opens per instance: its metrics exporter and the instance manager's status queries. */
const OPERATOR_CONNECTIONS = 3;

/** Rules from HealthMate's own requirements (issue 8 and later); none is a default check of kube-score, Polaris or kube-linter. */
export const HEALTHMATE_RULES: Rule[] = [
  {
    id: 'secret-keys-provided',
    origin: 'HealthMate',
    encodes: 'issue 8 (a pod referencing a missing key never starts; the operators wait forever for a missing Secret)',
    description: `Every Secret reference (pods, the CloudNativePG bootstrap, the backup ObjectStore) names a Secret and key deploy-k8s.ts creates: ${[...providedSecretKeys().keys()].join(', ')}.`,
    check: (all) => {
      const provided = providedSecretKeys();
      const missing = (refs: { name: string; key: string }[]) =>
        refs
          .filter((r) => !(provided.get(r.name) ?? []).includes(r.key))
          .map((r) => `refers to key ${r.key} of Secret ${r.name}, which the deploy does not create.`);
      return [
        ...each(all.workloads(), (w) => {
          const pod = w.object.spec?.template?.spec ?? {};
          const refs: { name: string; key: string }[] = [];
          for (const c of containersOf(w.object))
            for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef) refs.push({ name: e.valueFrom.secretKeyRef.name, key: e.valueFrom.secretKeyRef.key });
          for (const v of pod.volumes ?? [])
            if (v.secret) for (const item of v.secret.items ?? [{ key: '(whole secret)' }]) refs.push({ name: v.secret.secretName, key: item.key });
          return missing(refs);
        }),
        ...each(all.clusters(), (c) => {
          const secret = c.object.spec?.bootstrap?.initdb?.secret?.name;
          return secret ? missing(['username', 'password'].map((key) => ({ name: secret, key }))) : undefined;
        }),
        ...each(all.ofKind('ObjectStore'), (o) => {
          const creds = o.object.spec?.configuration?.s3Credentials ?? {};
          return missing(Object.values(creds).filter((r: Any) => r && typeof r === 'object') as { name: string; key: string }[]);
        }),
      ];
    },
  },
  {
    id: 'config-refs-exist',
    origin: 'HealthMate',
    encodes: 'kube-linter non-existent-service-account (same idea for ConfigMaps)',
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
    id: 'graceful-termination',
    origin: 'HealthMate',
    encodes: 'issue 8 (draining)',
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
    id: 'pdb-keeps-one-pod',
    origin: 'HealthMate',
    encodes: 'issue 8 (PDB compatible with the HPA minimum)',
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
    id: 'default-deny-network-policy',
    origin: 'HealthMate',
    encodes: 'issue 8, kube-score pod-networkpolicy',
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
    id: 'network-flows',
    origin: 'HealthMate',
    encodes: 'issue 8 (ingress controller to backend, apps to PostgreSQL and Redis, DNS, Prometheus, the operators; nothing else)',
    description: 'NetworkPolicies, evaluated with networking.k8s.io/v1 semantics, allow every needed connection and block the listed unwanted ones.',
    check: (all, ctx) => {
      const endpoints: Record<string, Endpoint> = {
        ingress: { namespace: ctx.ingressNamespace, labels: { 'app.kubernetes.io/name': 'ingress-nginx' }, ip: '10.244.7.10' },
        prometheus: { namespace: ctx.monitoringNamespace, labels: { 'app.kubernetes.io/name': 'prometheus' }, ip: '10.244.7.11' },
        'cnpg-operator': { namespace: ctx.cnpgNamespace, labels: { 'app.kubernetes.io/name': 'cloudnative-pg' }, ip: '10.244.7.12' },
        dns: { namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' }, ip: '10.244.7.13' },
        elsewhere: { namespace: 'some-other-namespace', labels: { app: 'anything' }, ip: '10.244.7.14' },
        // Outside the cluster: only an address, so only an ipBlock can match them.
        'api-server': { ip: '172.18.0.2' },
        'object-store': { ip: '198.51.100.20' },
        internet: { ip: '203.0.113.50' },
      };
      all.pods().forEach((pod, index) => {
        endpoints[pod.name] = { namespace: ctx.namespace, labels: pod.labels, ip: `10.244.1.${index + 2}` };
      });
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
    id: 'hpa-slow-scale-down',
    origin: 'HealthMate',
    encodes: 'issue 8 (HPA v2 default behavior)',
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
    origin: 'HealthMate',
    encodes: 'issue 8 (utilisation is measured against requests)',
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
    origin: 'HealthMate',
    encodes: 'issue 8',
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
    origin: 'HealthMate',
    encodes: 'Kubernetes autoscaler docs (VPA and HPA must not both act on CPU or memory)',
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
    id: 'ingress-tls',
    origin: 'HealthMate',
    encodes: 'issue 8',
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
  {
    id: 'postgres-cluster-shape',
    origin: 'HealthMate',
    encodes: 'issue 14 (a primary and two replicas with automatic failover, updates without downtime, query statistics)',
    description:
      'A CloudNativePG Cluster has at least 3 instances, updates the primary unsupervised by switchover, has its PodMonitor enabled and loads pg_stat_statements.',
    check: (all) =>
      each(all.clusters(), (c) => {
        const spec = c.object.spec ?? {};
        const found: string[] = [];
        if (Number(spec.instances) < 3) found.push(`instances is ${spec.instances}: with fewer than 3, a failover leaves no replica.`);
        if (spec.primaryUpdateStrategy !== 'unsupervised') found.push('primaryUpdateStrategy is not unsupervised (an update would wait for a human).');
        if (spec.primaryUpdateMethod !== 'switchover') found.push('primaryUpdateMethod is not switchover (a restart takes writes down).');
        if (spec.monitoring?.enablePodMonitor !== true) found.push('monitoring.enablePodMonitor is not true.');
        const params = spec.postgresql?.parameters ?? {};
        const preloaded = (spec.postgresql?.shared_preload_libraries ?? []).includes('pg_stat_statements');
        if (!preloaded && !Object.keys(params).some((k) => k.startsWith('pg_stat_statements.'))) found.push('pg_stat_statements is not loaded.');
        return found;
      }),
  },
  {
    id: 'postgres-backups',
    origin: 'HealthMate',
    encodes: 'issue 14 (continuous WAL archiving and a base backup schedule, through the Barman Cloud Plugin)',
    description:
      'A CloudNativePG Cluster archives WAL through the Barman Cloud Plugin to an ObjectStore in the manifests (not the in-tree backup.barmanObjectStore, deprecated since 1.26), and a plugin ScheduledBackup backs it up.',
    check: (all) =>
      each(all.clusters(), (c) => {
        const name = c.object.metadata?.name;
        // The operator's CRD still carries it, so only this rule keeps it out.
        if (c.object.spec?.backup?.barmanObjectStore)
          return 'uses the in-tree backup.barmanObjectStore, deprecated since CloudNativePG 1.26: archive through the Barman Cloud Plugin (spec.plugins) instead.';
        const archiver = (c.object.spec?.plugins ?? []).find((p: Any) => p.name === 'barman-cloud.cloudnative-pg.io' && p.isWALArchiver === true);
        if (!archiver) return 'has no barman-cloud.cloudnative-pg.io plugin with isWALArchiver: true, so no WAL is archived.';
        const store = archiver.parameters?.barmanObjectName;
        if (!all.find('ObjectStore', store ?? '')) return `its WAL archiver names ObjectStore ${store}, which no manifest defines.`;
        const scheduled = all
          .ofKind('ScheduledBackup')
          .some((b) => b.object.spec?.cluster?.name === name && b.object.spec?.method === 'plugin' && b.object.spec?.suspend !== true);
        return scheduled ? undefined : 'no active ScheduledBackup with method plugin backs it up.';
      }),
  },
  {
    id: 'postgres-connection-capacity',
    origin: 'HealthMate',
    encodes: 'issue 14 (the compose capacity check carried over: pools and workers fit max_connections)',
    description:
      'max_connections of the CloudNativePG Cluster covers the backend pools (DB_POOL_SIZE + DB_MAX_OVERFLOW) and WORKER_DB_CONNECTIONS at the HPA maxima plus rollout surge, the operator and the reserved slots.',
    check: (all, ctx) =>
      each(all.clusters(), (c) => {
        const max = Number(c.object.spec?.postgresql?.parameters?.max_connections ?? 100);
        const pods = (name: string) => {
          const w = all.find('Deployment', name);
          return w ? maxPods(all, w) : 0;
        };
        const backend = pods('backend') * (ctx.capacity.poolSize + ctx.capacity.maxOverflow);
        const workers = pods('worker') * ctx.capacity.workerConnections;
        const needed = backend + workers + OPERATOR_CONNECTIONS + RESERVED_CONNECTIONS;
        if (needed <= max) return undefined;
        return (
          `max_connections ${max} is below the ${needed} connections HealthMate may open ` +
          `(backend ${pods('backend')} pods × ${ctx.capacity.poolSize + ctx.capacity.maxOverflow}, worker ${pods('worker')} pods × ${ctx.capacity.workerConnections}, ` +
          `${OPERATOR_CONNECTIONS} for the operator, ${RESERVED_CONNECTIONS} reserved); raise K8S_POSTGRES_MAX_CONNECTIONS or lower the HPA maxima or pool sizes.`
        );
      }),
  },
  {
    id: 'ingress-certificate',
    origin: 'HealthMate',
    encodes: 'issue 14 (cert-manager issues the certificate the Ingress serves)',
    description: "Every Ingress TLS Secret is issued by a Certificate in the manifests that covers the section's hosts, from a ClusterIssuer in the manifests.",
    check: (all) =>
      each(all.ofKind('Ingress'), (ing) =>
        (ing.object.spec?.tls ?? []).flatMap((tls: Any) => {
          const cert = all.ofKind('Certificate').find((c) => c.object.spec?.secretName === tls.secretName);
          if (!cert) return [`TLS Secret ${tls.secretName} is issued by no Certificate in the manifests.`];
          const uncovered = (tls.hosts ?? []).filter((h: string) => !(cert.object.spec?.dnsNames ?? []).includes(h));
          const issuer = cert.object.spec?.issuerRef ?? {};
          const issuerOk = issuer.kind === 'ClusterIssuer' ? Boolean(all.find('ClusterIssuer', issuer.name)) : Boolean(all.find('Issuer', issuer.name));
          return [
            ...uncovered.map((h: string) => `host ${h} is not in the dnsNames of Certificate ${cert.object.metadata?.name}.`),
            ...(issuerOk ? [] : [`Certificate ${cert.object.metadata?.name} names ${issuer.kind ?? 'Issuer'} ${issuer.name}, which no manifest defines.`]),
          ];
        }),
      ),
  },
];
