import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type LoadedObject, loadManifests } from '../../scripts/lib/k8s/manifests.js';
import { flowAllowed } from '../../scripts/lib/k8s/netpol.js';
import { checkPolicy, type PolicyContext, RULES } from '../../scripts/lib/k8s/policy.js';
import { KUBERNETES_SCHEMA_VERSION, validateSchemas } from '../../scripts/lib/k8s/schema.js';
import { SECRET_KEYS } from '../../scripts/lib/k8s/secret.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';
import { find, renderBundle, renderedObjects } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: tests poke at untyped manifest objects.
type Any = any;

const PROD: PolicyContext = { namespace: 'healthmate', ingressNamespace: 'ingress-nginx', monitoringNamespace: 'monitoring' };

function spec(o: LoadedObject): Any {
  return o.object.spec;
}

function podSpec(o: LoadedObject): Any {
  return o.object.spec.template.spec;
}

describe('rendered Kubernetes manifests', () => {
  for (const env of ['prod', 'dev'] as const) {
    it(`${env}: every object passes the Kubernetes ${KUBERNETES_SCHEMA_VERSION} / VPA CRD schemas and every policy rule`, () => {
      const objects = renderedObjects(tempDir(), env);
      const ns = env === 'prod' ? 'healthmate' : 'healthmate-dev';
      expect(validateSchemas(objects)).toEqual([]);
      expect(checkPolicy(objects, { ...PROD, namespace: ns })).toEqual([]);
      const kinds = objects.map((o) => `${o.object.kind}/${o.object.metadata?.name}`);
      for (const expected of [
        `Namespace/${ns}`,
        'ConfigMap/healthmate-config',
        'Deployment/backend',
        'Service/backend',
        'PodDisruptionBudget/backend',
        'Deployment/worker',
        'Deployment/beat',
        'StatefulSet/redis',
        'StatefulSet/postgres-primary',
        'StatefulSet/postgres-replica',
        'Service/postgres-read',
        'HorizontalPodAutoscaler/backend',
        'HorizontalPodAutoscaler/worker',
        'HorizontalPodAutoscaler/postgres-replica',
        'VerticalPodAutoscaler/postgres-primary',
        'VerticalPodAutoscaler/redis',
        'NetworkPolicy/default-deny-all',
        'Ingress/backend',
      ])
        expect(kinds).toContain(expected);
      expect(kinds.some((k) => k.startsWith('Secret/'))).toBe(false);
    });
  }

  it('the backend Deployment meets the issue: no replicas, zero-downtime rollout, three different probes, hardened pods, draining', () => {
    const objects = renderedObjects(tempDir(), 'prod');
    const backend = find(objects, 'Deployment', 'backend');
    expect(spec(backend).replicas).toBeUndefined();
    expect(spec(backend).strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: '25%' } });
    const pod = podSpec(backend);
    const [container] = pod.containers;
    expect(container.image).toBe('healthmate/backend:1.0.0');
    const probes = [container.startupProbe, container.readinessProbe, container.livenessProbe].map((p) => JSON.stringify(p));
    expect(new Set(probes).size).toBe(3);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, fsGroup: expect.any(Number), seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.securityContext.runAsUser).toBeGreaterThanOrEqual(10000);
    expect(pod.securityContext.runAsGroup).toBeGreaterThanOrEqual(10000);
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(container.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
    expect(pod.volumes.find((v: Any) => v.name === 'tmp').emptyDir).toBeDefined();
    expect(container.resources.requests.cpu && container.resources.limits.memory).toBeTruthy();
    const pause = Number(container.lifecycle.preStop.exec.command[1]);
    expect(pause).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(pause);
    expect(pod.topologySpreadConstraints[0].topologyKey).toBe('kubernetes.io/hostname');
    expect(backend.object.spec.template.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8000' });
    // Secrets reach the pod only by reference, every one a key the deploy creates.
    const refs = container.env.filter((e: Any) => e.valueFrom?.secretKeyRef).map((e: Any) => e.valueFrom.secretKeyRef.key);
    expect(refs.length).toBeGreaterThan(0);
    for (const key of refs) expect(Object.keys(SECRET_KEYS)).toContain(key);
    expect(container.env.every((e: Any) => e.value === undefined)).toBe(true);
  });

  it('autoscaling: HPAs scale up fast and down by at most 10%/min after 300 s; VPAs only recommend and avoid HPA resources', () => {
    const objects = renderedObjects(tempDir(), 'prod');
    const hpa = spec(find(objects, 'HorizontalPodAutoscaler', 'backend'));
    expect(hpa.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'backend' });
    expect(hpa.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.metrics.map((m: Any) => m.resource.name).sort()).toEqual(['cpu', 'memory']);
    expect(hpa.behavior.scaleUp.stabilizationWindowSeconds).toBe(0);
    expect(hpa.behavior.scaleDown.stabilizationWindowSeconds).toBe(300);
    expect(hpa.behavior.scaleDown.policies).toEqual([{ type: 'Percent', value: 10, periodSeconds: 60 }]);
    // The PDB lets one pod go and still leaves pods serving at the HPA minimum.
    const pdb = spec(find(objects, 'PodDisruptionBudget', 'backend'));
    expect(hpa.minReplicas - pdb.maxUnavailable).toBeGreaterThanOrEqual(1);
    for (const name of ['postgres-primary', 'postgres-replica', 'redis']) {
      const vpa = spec(find(objects, 'VerticalPodAutoscaler', name));
      expect(vpa.updatePolicy.updateMode).toBe('Off');
    }
    // postgres-replica scales horizontally on CPU: its VPA must leave CPU alone.
    expect(spec(find(objects, 'VerticalPodAutoscaler', 'postgres-replica')).resourcePolicy.containerPolicies[0].controlledResources).toEqual(['memory']);
  });

  it('network policies allow exactly the needed flows (evaluated with NetworkPolicy semantics)', () => {
    const objects = renderedObjects(tempDir(), 'prod');
    const policies = objects.filter((o) => o.object.kind === 'NetworkPolicy').map((o) => o.object);
    const pod = (name: string) => ({
      namespace: 'healthmate',
      labels: find(objects, name === 'backend' ? 'Deployment' : 'StatefulSet', name).object.spec.template.metadata.labels,
    });
    const ingress = { namespace: 'ingress-nginx', labels: { 'app.kubernetes.io/name': 'ingress-nginx' } };
    expect(flowAllowed(policies, { from: ingress, to: pod('backend'), port: 8000 })).toBe(true);
    expect(flowAllowed(policies, { from: ingress, to: pod('postgres-primary'), port: 5432 })).toBe(false);
    expect(flowAllowed(policies, { from: pod('backend'), to: pod('postgres-primary'), port: 5432 })).toBe(true);
    expect(flowAllowed(policies, { from: pod('backend'), to: pod('redis'), port: 6379 })).toBe(true);
    expect(flowAllowed(policies, { from: pod('redis'), to: pod('backend'), port: 8000 })).toBe(false);
    // The same evaluator without the default deny: the database would be open to everyone.
    const open = policies.filter((p) => p.metadata?.name !== 'default-deny-all' && p.metadata?.name !== 'postgres-ingress');
    expect(flowAllowed(open, { from: ingress, to: pod('postgres-primary'), port: 5432 })).toBe(true);
  });

  it('the shell scripts in the PostgreSQL ConfigMap pass shellcheck', () => {
    const shellcheck = needTool('shellcheck');
    const dir = tempDir();
    const scripts = find(renderedObjects(dir, 'prod'), 'ConfigMap', 'postgres-scripts').object.data as Record<string, string>;
    expect(Object.keys(scripts).length).toBe(2);
    for (const [name, text] of Object.entries(scripts)) {
      const path = join(dir, name);
      writeFileSync(path, text);
      const result = spawnSync(shellcheck, ['--shell=sh', path], { encoding: 'utf8' });
      expect(result.status, `${name}: ${result.stdout}`).toBe(0);
    }
  });
});

let prodCache: LoadedObject[] | undefined;

/** A fresh copy of the prod objects (rendered once per file) with one change applied. */
function mutated(change: (objects: LoadedObject[]) => void): LoadedObject[] {
  if (!prodCache) {
    const dir = mkdtempSync(join(tmpdir(), 'healthmate-k8s-'));
    try {
      prodCache = renderedObjects(dir, 'prod');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const objects = structuredClone(prodCache);
  change(objects);
  return objects;
}

describe('schema validation', () => {
  it('reports the file, line and field of an object that breaks the schema', () => {
    const objects = mutated((all) => {
      podSpec(find(all, 'Deployment', 'backend')).terminationGracePeriodSeconds = 'soon';
      spec(find(all, 'VerticalPodAutoscaler', 'redis')).updatePolicy.updateMode = 'Sometimes';
    });
    const problems = validateSchemas(objects);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatchObject({ file: 'k8s/deployment.yaml', severity: 'error' });
    expect(problems[0]?.line).toBeGreaterThan(1);
    expect(problems[0]?.message).toContain('spec.template.spec.terminationGracePeriodSeconds must be integer');
    expect(problems[1]?.message).toContain('VerticalPodAutoscaler/redis');
    expect(problems[1]?.message).toContain('Off, Initial, Recreate, Auto');
  });

  it('refuses Secrets, unserved API versions and unnamed objects', () => {
    const objects = mutated(() => {});
    const extra: LoadedObject[] = [
      { file: 'k8s/x.yaml', line: 1, object: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' } } },
      { file: 'k8s/x.yaml', line: 5, object: { apiVersion: 'extensions/v1beta1', kind: 'Ingress', metadata: { name: 'old' } } },
      { file: 'k8s/x.yaml', line: 9, object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: {} } },
    ];
    const messages = validateSchemas([...objects, ...extra]).map((p) => p.message);
    expect(messages).toHaveLength(3);
    expect(messages[0]).toMatch(/never go in manifests/);
    expect(messages[1]).toMatch(/Ingress in extensions\/v1beta1 has no schema/);
    expect(messages[2]).toMatch(/no metadata.name/);
  });
});

describe('policy rules', () => {
  const cases: [string, (all: LoadedObject[]) => void][] = [
    ['image-tag-pinned', (all) => (podSpec(find(all, 'Deployment', 'backend')).containers[0].image = 'healthmate/backend:latest')],
    ['image-pull-policy-always', (all) => (podSpec(find(all, 'StatefulSet', 'redis')).containers[0].imagePullPolicy = 'IfNotPresent')],
    ['resources', (all) => delete podSpec(find(all, 'StatefulSet', 'redis')).containers[0].resources.limits],
    ['probes', (all) => delete podSpec(find(all, 'Deployment', 'worker')).containers[0].livenessProbe],
    [
      'probes',
      (all) =>
        (podSpec(find(all, 'Deployment', 'backend')).containers[0].livenessProbe = podSpec(find(all, 'Deployment', 'backend')).containers[0].readinessProbe),
    ],
    ['probe-ports-exist', (all) => (podSpec(find(all, 'Deployment', 'backend')).containers[0].readinessProbe.httpGet.port = 'web')],
    [
      'run-as-non-root',
      (all) => {
        delete podSpec(find(all, 'Deployment', 'beat')).securityContext.runAsNonRoot;
        delete podSpec(find(all, 'Deployment', 'beat')).containers[0].securityContext.runAsNonRoot;
      },
    ],
    ['run-as-non-root', (all) => (podSpec(find(all, 'Deployment', 'backend')).containers[0].securityContext.runAsNonRoot = false)],
    ['high-uid-gid', (all) => (podSpec(find(all, 'StatefulSet', 'postgres-primary')).securityContext.runAsUser = 999)],
    ['read-only-root-filesystem', (all) => (podSpec(find(all, 'Deployment', 'beat')).containers[0].securityContext.readOnlyRootFilesystem = false)],
    [
      'no-privilege-escalation',
      (all) => delete podSpec(find(all, 'StatefulSet', 'postgres-replica')).initContainers[0].securityContext.allowPrivilegeEscalation,
    ],
    ['drop-all-capabilities', (all) => (podSpec(find(all, 'Deployment', 'backend')).containers[0].securityContext.capabilities = { drop: ['NET_RAW'] })],
    ['seccomp-runtime-default', (all) => delete podSpec(find(all, 'Deployment', 'backend')).securityContext.seccompProfile],
    ['no-host-access', (all) => (podSpec(find(all, 'Deployment', 'backend')).hostNetwork = true)],
    ['no-service-account-token', (all) => delete podSpec(find(all, 'Deployment', 'backend')).automountServiceAccountToken],
    ['no-secrets-in-manifests', (all) => podSpec(find(all, 'Deployment', 'backend')).containers[0].env.push({ name: 'DB_PASSWORD', value: 'hunter2' })],
    ['secret-keys-provided', (all) => (podSpec(find(all, 'Deployment', 'backend')).containers[0].env[0].valueFrom.secretKeyRef.key = 'postgres-uri')],
    ['no-duplicate-env', (all) => podSpec(find(all, 'Deployment', 'backend')).containers[0].env.push({ name: 'DATABASE_URL', value: 'x' })],
    ['config-refs-exist', (all) => (podSpec(find(all, 'Deployment', 'backend')).containers[0].envFrom[0].configMapRef.name = 'nope')],
    ['selector-matches-template', (all) => (spec(find(all, 'Deployment', 'worker')).selector.matchLabels['app.kubernetes.io/name'] = 'workers')],
    ['replicas-at-least-2', (all) => (spec(find(all, 'HorizontalPodAutoscaler', 'worker')).minReplicas = 1)],
    ['no-replicas-with-hpa', (all) => (spec(find(all, 'Deployment', 'backend')).replicas = 3)],
    ['rolling-update', (all) => (spec(find(all, 'Deployment', 'backend')).strategy.rollingUpdate.maxUnavailable = 1)],
    ['rolling-update', (all) => (spec(find(all, 'StatefulSet', 'redis')).updateStrategy.type = 'OnDelete')],
    [
      'host-anti-affinity',
      (all) => {
        delete podSpec(find(all, 'Deployment', 'backend')).affinity;
        delete podSpec(find(all, 'Deployment', 'backend')).topologySpreadConstraints;
      },
    ],
    ['graceful-termination', (all) => (podSpec(find(all, 'Deployment', 'backend')).terminationGracePeriodSeconds = 10)],
    ['pod-disruption-budget', (all) => all.splice(all.indexOf(find(all, 'PodDisruptionBudget', 'backend')), 1)],
    ['pdb-allows-disruption', (all) => (spec(find(all, 'PodDisruptionBudget', 'worker')).maxUnavailable = 0)],
    [
      'pdb-allows-disruption',
      (all) => {
        const pdb = spec(find(all, 'PodDisruptionBudget', 'backend'));
        delete pdb.maxUnavailable;
        pdb.minAvailable = 3;
      },
    ],
    ['pdb-keeps-one-pod', (all) => (spec(find(all, 'PodDisruptionBudget', 'backend')).maxUnavailable = '100%')],
    ['pdb-unhealthy-eviction', (all) => delete spec(find(all, 'PodDisruptionBudget', 'redis')).unhealthyPodEvictionPolicy],
    ['pdb-targets-pods', (all) => (spec(find(all, 'PodDisruptionBudget', 'worker')).selector.matchLabels['app.kubernetes.io/name'] = 'workers')],
    ['statefulset-headless-service', (all) => delete spec(find(all, 'Service', 'redis')).clusterIP],
    ['service-targets-pod', (all) => (spec(find(all, 'Service', 'postgres-read')).selector['app.kubernetes.io/component'] = 'reader')],
    ['default-deny-network-policy', (all) => all.splice(all.indexOf(find(all, 'NetworkPolicy', 'default-deny-all')), 1)],
    ['network-policy-covers-pod', (all) => all.splice(all.indexOf(find(all, 'NetworkPolicy', 'default-deny-all')), 1)],
    ['network-policy-targets-pod', (all) => (spec(find(all, 'NetworkPolicy', 'redis-ingress')).podSelector.matchLabels['app.kubernetes.io/name'] = 'valkey')],
    ['network-flows', (all) => all.splice(all.indexOf(find(all, 'NetworkPolicy', 'allow-dns-egress')), 1)],
    ['network-flows', (all) => (spec(find(all, 'NetworkPolicy', 'redis-ingress')).ingress[0].from = [])],
    ['hpa-target-exists', (all) => (spec(find(all, 'HorizontalPodAutoscaler', 'worker')).scaleTargetRef.name = 'workers')],
    ['hpa-replica-range', (all) => (spec(find(all, 'HorizontalPodAutoscaler', 'backend')).maxReplicas = 3)],
    ['hpa-slow-scale-down', (all) => (spec(find(all, 'HorizontalPodAutoscaler', 'backend')).behavior.scaleDown.stabilizationWindowSeconds = 60)],
    ['hpa-slow-scale-down', (all) => (spec(find(all, 'HorizontalPodAutoscaler', 'backend')).behavior.scaleDown.policies[0].value = 50)],
    ['hpa-metrics-have-requests', (all) => delete podSpec(find(all, 'Deployment', 'backend')).containers[0].resources.requests.memory],
    ['vpa-recommendation-only', (all) => (spec(find(all, 'VerticalPodAutoscaler', 'redis')).updatePolicy.updateMode = 'Auto')],
    ['vpa-not-on-hpa-resource', (all) => delete spec(find(all, 'VerticalPodAutoscaler', 'postgres-replica')).resourcePolicy],
    ['ingress-targets-service', (all) => (spec(find(all, 'Ingress', 'backend')).rules[0].http.paths[0].backend.service.port.name = 'https')],
    ['ingress-tls', (all) => (spec(find(all, 'Ingress', 'backend')).tls = [])],
    ['explicit-namespace', (all) => delete find(all, 'ConfigMap', 'healthmate-config').object.metadata?.namespace],
  ];

  it.each(cases)('%s fails on a manifest that breaks it', (rule, change) => {
    const problems = checkPolicy(mutated(change), PROD);
    expect(problems.map((p) => p.message).join('\n')).toContain(`[${rule}]`);
  });

  it('every rule has a failing case above, and docs/kubernetes.md lists every rule', () => {
    const docs = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'kubernetes.md'), 'utf8');
    for (const rule of RULES) {
      expect(cases.map(([id]) => id)).toContain(rule.id);
      expect(docs).toContain(`\`${rule.id}\``);
    }
  });

  it('an exemption needs the rule named and a reason; unknown rule names are errors', () => {
    const noReason = mutated((all) => delete find(all, 'Deployment', 'beat').object.metadata?.annotations?.['healthmate.io/policy-exempt-reason']);
    const messages = checkPolicy(noReason, PROD).map((p) => p.message);
    expect(messages.some((m) => m.includes('without healthmate.io/policy-exempt-reason'))).toBe(true);
    expect(messages.some((m) => m.includes('[replicas-at-least-2] Deployment/beat'))).toBe(true);
    const unknown = mutated((all) => {
      const annotations = find(all, 'Deployment', 'beat').object.metadata?.annotations as Record<string, string>;
      annotations['healthmate.io/policy-exempt'] += ',be-nice';
    });
    expect(checkPolicy(unknown, PROD).map((p) => p.message)).toContain('Deployment/beat exempts unknown policy rule "be-nice".');
  });

  it('a manifest file outside APPLY_ORDER is an error, so nothing is silently left unapplied', () => {
    const dir = tempDir();
    const bundle = renderBundle(dir, 'prod');
    writeFileSync(join(bundle, 'k8s', 'extra.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n');
    const { problems } = loadManifests(bundle);
    expect(problems.map((p) => `${p.file}: ${p.message}`)).toEqual([expect.stringMatching(/^k8s\/extra\.yaml: is not in APPLY_ORDER/)]);
  });
});
