import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type LoadedObject, loadManifests, loadRecipes } from '../../scripts/lib/k8s/manifests.js';
import { flowAllowed, inCidr } from '../../scripts/lib/k8s/netpol.js';
import { checkPolicy, type PolicyContext, policyRulesMarkdown, RULES } from '../../scripts/lib/k8s/policy/index.js';
import { KUBERNETES_SCHEMA_VERSION, validateSchemas } from '../../scripts/lib/k8s/schema.js';
import { SECRET_KEYS } from '../../scripts/lib/k8s/secret.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';
import { find, renderBundle, renderedObjects } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: tests poke at untyped manifest objects.
type Any = any;

const PROD: PolicyContext = {
  namespace: 'healthmate',
  ingressNamespace: 'ingress-nginx',
  monitoringNamespace: 'monitoring',
  cnpgNamespace: 'cnpg-system',
  capacity: { poolSize: 20, maxOverflow: 30, workerConnections: 10 },
};

function spec(o: LoadedObject): Any {
  return o.object.spec;
}

function podSpec(o: LoadedObject): Any {
  return o.object.spec.template.spec;
}

describe('rendered Kubernetes manifests', () => {
  for (const env of ['prod', 'dev'] as const) {
    it(`${env}: every object passes the Kubernetes ${KUBERNETES_SCHEMA_VERSION} / operator CRD schemas and every policy rule`, async () => {
      const objects = renderedObjects(tempDir(), env);
      const ns = env === 'prod' ? 'healthmate' : 'healthmate-dev';
      expect(await validateSchemas(objects)).toEqual([]);
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
        'Cluster/postgres',
        'ObjectStore/postgres-backups',
        'ScheduledBackup/postgres-daily',
        'HorizontalPodAutoscaler/backend',
        'HorizontalPodAutoscaler/worker',
        'VerticalPodAutoscaler/redis',
        'NetworkPolicy/default-deny-all',
        'ServiceMonitor/backend',
        'PodMonitor/redis',
        'PrometheusRule/healthmate',
        'ClusterIssuer/letsencrypt-prod',
        'Certificate/healthmate-tls',
        'Ingress/backend',
      ])
        expect(kinds).toContain(expected);
      expect(kinds.some((k) => k.startsWith('Secret/'))).toBe(false);
      // PostgreSQL is the operator's: no StatefulSet, Service or autoscaler of ours for it.
      expect(kinds.filter((k) => /postgres/.test(k) && !/^(Cluster|ObjectStore|ScheduledBackup|NetworkPolicy)\//.test(k))).toEqual([]);
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

  it('autoscaling: HPAs scale up fast and down by at most 10%/min after 300 s; the Redis VPA only recommends', () => {
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
    expect(spec(find(objects, 'VerticalPodAutoscaler', 'redis')).updatePolicy.updateMode).toBe('Off');
  });

  it('network policies allow exactly the needed flows (evaluated with NetworkPolicy semantics, ipBlock included)', () => {
    const objects = renderedObjects(tempDir(), 'prod');
    const policies = objects.filter((o) => o.object.kind === 'NetworkPolicy').map((o) => o.object);
    const app = (name: string) => ({
      namespace: 'healthmate',
      labels: find(objects, 'Deployment', name).object.spec.template.metadata.labels,
      ip: '10.244.1.5',
    });
    const redis = { namespace: 'healthmate', labels: find(objects, 'StatefulSet', 'redis').object.spec.template.metadata.labels, ip: '10.244.1.6' };
    const postgres = {
      namespace: 'healthmate',
      labels: { 'app.kubernetes.io/name': 'postgres', 'app.kubernetes.io/part-of': 'healthmate', 'cnpg.io/cluster': 'postgres' },
      ip: '10.244.1.7',
    };
    const ingress = { namespace: 'ingress-nginx', labels: { 'app.kubernetes.io/name': 'ingress-nginx' }, ip: '10.244.2.1' };
    const objectStore = { ip: '198.51.100.20' };
    expect(flowAllowed(policies, { from: ingress, to: app('backend'), port: 8000 })).toBe(true);
    expect(flowAllowed(policies, { from: ingress, to: postgres, port: 5432 })).toBe(false);
    expect(flowAllowed(policies, { from: app('backend'), to: postgres, port: 5432 })).toBe(true);
    expect(flowAllowed(policies, { from: app('backend'), to: redis, port: 6379 })).toBe(true);
    expect(flowAllowed(policies, { from: redis, to: app('backend'), port: 8000 })).toBe(false);
    // The ipBlock 0.0.0.0/0 of postgres-egress: PostgreSQL reaches the object store on 443, nothing else does.
    expect(flowAllowed(policies, { from: postgres, to: objectStore, port: 443 })).toBe(true);
    expect(flowAllowed(policies, { from: postgres, to: objectStore, port: 22 })).toBe(false);
    expect(flowAllowed(policies, { from: app('backend'), to: objectStore, port: 443 })).toBe(false);
    // An address outside the pod network never matches a pod selector.
    expect(flowAllowed(policies, { from: objectStore, to: app('backend'), port: 8000 })).toBe(false);
    // The same evaluator without the default deny: the database would be open to everyone.
    const open = policies.filter((p) => p.metadata?.name !== 'default-deny-all' && p.metadata?.name !== 'postgres-ingress');
    expect(flowAllowed(open, { from: ingress, to: postgres, port: 5432 })).toBe(true);
  });

  it('ipBlock peers: cidr and except are evaluated, IPv4 and IPv6 apart', () => {
    const pod = { namespace: 'healthmate', labels: { app: 'a' }, ip: '10.244.1.9' };
    const egress = (block: object) => [
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'p', namespace: 'healthmate' },
        spec: { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: block }], ports: [{ protocol: 'TCP', port: 443 }] }] },
      },
    ];
    const to = (ip: string) => ({ from: pod, to: { ip }, port: 443 });
    // Before the fix every ipBlock was "no match": 0.0.0.0/0 was reported as blocked.
    expect(flowAllowed(egress({ cidr: '0.0.0.0/0' }), to('203.0.113.50'))).toBe(true);
    const privateExcluded = egress({ cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] });
    expect(flowAllowed(privateExcluded, to('203.0.113.50'))).toBe(true);
    expect(flowAllowed(privateExcluded, to('10.96.0.1'))).toBe(false);
    expect(flowAllowed(egress({ cidr: '198.51.100.0/24' }), to('198.51.100.20'))).toBe(true);
    expect(flowAllowed(egress({ cidr: '198.51.100.0/24' }), to('198.51.101.20'))).toBe(false);
    expect(flowAllowed(egress({ cidr: '::/0' }), to('203.0.113.50'))).toBe(false);
    expect(flowAllowed(egress({ cidr: '2001:db8::/32' }), to('2001:db8::1'))).toBe(true);
    expect(inCidr('10.1.2.3', 'not-a-cidr')).toBe(false);
    // A pod selector rule never matches a bare address, and an ipBlock never matches a pod without an IP.
    expect(flowAllowed(egress({ cidr: '0.0.0.0/0' }), { from: pod, to: { namespace: 'x', labels: {} }, port: 443 })).toBe(false);
  });

  it('PostgreSQL is a CloudNativePG Cluster: 3 instances on different nodes, sized, unsupervised switchover updates, statistics, monitored, backed up', () => {
    const objects = renderedObjects(tempDir(), 'prod');
    const cluster = spec(find(objects, 'Cluster', 'postgres'));
    expect(cluster.instances).toBe(3);
    expect(cluster.affinity).toEqual({ enablePodAntiAffinity: true, podAntiAffinityType: 'required', topologyKey: 'kubernetes.io/hostname' });
    expect(cluster.resources.requests.memory).toBe(cluster.resources.limits.memory);
    expect(cluster.primaryUpdateStrategy).toBe('unsupervised');
    expect(cluster.primaryUpdateMethod).toBe('switchover');
    expect(cluster.postgresql.parameters).toMatchObject({ max_connections: '1000', 'pg_stat_statements.track': 'top' });
    expect(cluster.bootstrap.initdb).toMatchObject({ database: 'healthmate', owner: 'healthmate_user', secret: { name: 'postgres-app-credentials' } });
    expect(cluster.bootstrap.initdb.postInitApplicationSQL).toContain('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    expect(cluster.monitoring.enablePodMonitor).toBe(true);
    expect(cluster.backup).toBeUndefined();
    expect(cluster.plugins).toEqual([{ name: 'barman-cloud.cloudnative-pg.io', isWALArchiver: true, parameters: { barmanObjectName: 'postgres-backups' } }]);
    const store = spec(find(objects, 'ObjectStore', 'postgres-backups'));
    expect(store.configuration.destinationPath).toBe('s3://healthmate-backups/postgres');
    expect(store.configuration.s3Credentials.secretAccessKey).toEqual({ name: 'healthmate-secrets', key: 'backup-s3-secret-access-key' });
    expect(store.retentionPolicy).toBe('30d');
    const scheduled = spec(find(objects, 'ScheduledBackup', 'postgres-daily'));
    expect(scheduled).toMatchObject({ method: 'plugin', cluster: { name: 'postgres' }, pluginConfiguration: { name: 'barman-cloud.cloudnative-pg.io' } });
  });

  it("the recipes render and pass their schemas: PITR from the object store and the ExternalSecret with the deploy's keys", async () => {
    const { objects, problems } = loadRecipes(renderBundle(tempDir(), 'prod'));
    expect(problems).toEqual([]);
    expect(await validateSchemas(objects)).toEqual([]);
    const pitr = spec(find(objects, 'Cluster', 'postgres-pitr'));
    expect(pitr.bootstrap).toEqual({ recovery: { source: 'postgres-backups', recoveryTarget: { targetTime: expect.any(String) } } });
    expect(pitr.externalClusters).toEqual([
      {
        name: 'postgres-backups',
        plugin: { name: 'barman-cloud.cloudnative-pg.io', parameters: { barmanObjectName: 'postgres-backups', serverName: 'postgres' } },
      },
    ]);
    // The recovered cluster archives beside, never into, the backups it reads.
    expect(pitr.plugins[0].parameters.serverName).toBe('postgres-pitr');
    // The recovered cluster's pods carry the same inherited labels, so the NetworkPolicies let it work.
    const policies = renderedObjects(tempDir(), 'prod')
      .filter((o) => o.object.kind === 'NetworkPolicy')
      .map((o) => o.object);
    const recovered = { namespace: 'healthmate', labels: { ...pitr.inheritedMetadata.labels, 'cnpg.io/cluster': 'postgres-pitr' }, ip: '10.244.1.8' };
    const operator = { namespace: 'cnpg-system', labels: { 'app.kubernetes.io/name': 'cloudnative-pg' }, ip: '10.244.3.1' };
    expect(flowAllowed(policies, { from: recovered, to: { ip: '198.51.100.20' }, port: 443 })).toBe(true);
    expect(flowAllowed(policies, { from: operator, to: recovered, port: 8000 })).toBe(true);
    expect(flowAllowed(policies, { from: recovered, to: recovered, port: 5432 })).toBe(true);
    const external = spec(find(objects, 'ExternalSecret', 'healthmate-secrets'));
    expect(external.target.name).toBe('healthmate-secrets');
    expect(external.data.map((d: Any) => d.secretKey).sort()).toEqual(Object.keys(SECRET_KEYS).sort());
  });

  it('the PrometheusRule is generated from monitoring/rules/*.yml and cannot drift from what promtool tests', () => {
    const promtool = needTool('promtool');
    const dir = tempDir();
    const bundle = renderBundle(dir, 'prod');
    const rule = find(loadManifests(bundle).objects, 'PrometheusRule', 'healthmate');
    const rulesDir = join(bundle, 'monitoring', 'rules');
    const files = readdirSync(rulesDir)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort((a, b) => `monitoring/rules/${a}`.localeCompare(`monitoring/rules/${b}`))
      .map((f) => parse(readFileSync(join(rulesDir, f), 'utf8')));
    expect(spec(rule).groups).toEqual(files.flatMap((f) => f.groups));
    expect(spec(rule).groups.length).toBeGreaterThan(3);
    // promtool accepts the groups exactly as the operator will load them.
    const extracted = join(dir, 'from-prometheusrule.yml');
    writeFileSync(extracted, JSON.stringify({ groups: spec(rule).groups }));
    const result = spawnSync(promtool, ['check', 'rules', extracted], { encoding: 'utf8' });
    expect(result.status, result.stdout + result.stderr).toBe(0);
  });

  it('monitoring and TLS: the ServiceMonitor and PodMonitor keep the compose job names; the Ingress serves the Certificate cert-manager issues', () => {
    const objects = renderedObjects(tempDir(), 'prod');
    expect(spec(find(objects, 'ServiceMonitor', 'backend')).endpoints[0]).toMatchObject({ port: 'http', path: '/metrics' });
    expect(spec(find(objects, 'PodMonitor', 'redis')).jobLabel).toBe('app.kubernetes.io/name');
    const certificate = spec(find(objects, 'Certificate', 'healthmate-tls'));
    const ingress = find(objects, 'Ingress', 'backend');
    expect(spec(ingress).tls[0].secretName).toBe(certificate.secretName);
    expect(certificate.dnsNames).toEqual(spec(ingress).tls[0].hosts);
    expect(certificate.issuerRef).toEqual({ group: 'cert-manager.io', kind: 'ClusterIssuer', name: 'letsencrypt-prod' });
    // No ingress-shim annotation: it would make a second Certificate for the same Secret.
    expect(Object.keys(ingress.object.metadata?.annotations ?? {}).filter((k) => k.startsWith('cert-manager.io/'))).toEqual([]);
    const issuer = find(objects, 'ClusterIssuer', 'letsencrypt-prod');
    expect(issuer.object.metadata?.namespace).toBeUndefined();
    expect(spec(issuer).acme.solvers).toEqual([{ http01: { ingress: { ingressClassName: 'nginx' } } }]);
    expect(spec(issuer).acme.server).toBe('https://acme-v02.api.letsencrypt.org/directory');
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
  it('reports the file, line and field of an object that breaks the schema', async () => {
    const objects = mutated((all) => {
      podSpec(find(all, 'Deployment', 'backend')).terminationGracePeriodSeconds = 'soon';
      spec(find(all, 'VerticalPodAutoscaler', 'redis')).updatePolicy.updateMode = 'Sometimes';
    });
    const problems = await validateSchemas(objects);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatchObject({ file: 'k8s/deployment.yaml', severity: 'error' });
    expect(problems[0]?.line).toBeGreaterThan(1);
    expect(problems[0]?.message).toContain('spec.template.spec.terminationGracePeriodSeconds must be integer');
    expect(problems[1]?.message).toContain('VerticalPodAutoscaler/redis');
    expect(problems[1]?.message).toContain('Off, Initial, Recreate, Auto');
  });

  it('refuses Secrets, unserved API versions and unnamed objects', async () => {
    const objects = mutated(() => {});
    const extra: LoadedObject[] = [
      { file: 'k8s/x.yaml', line: 1, object: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' } } },
      { file: 'k8s/x.yaml', line: 5, object: { apiVersion: 'extensions/v1beta1', kind: 'Ingress', metadata: { name: 'old' } } },
      { file: 'k8s/x.yaml', line: 9, object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: {} } },
    ];
    const messages = (await validateSchemas([...objects, ...extra])).map((p) => p.message);
    expect(messages).toHaveLength(3);
    expect(messages[0]).toMatch(/never go in manifests/);
    expect(messages[1]).toMatch(/Ingress in extensions\/v1beta1 has no schema/);
    expect(messages[2]).toMatch(/no metadata.name/);
  });
});

describe('operator CRD schemas (CloudNativePG and the Barman Cloud Plugin: their own CRDs; the others from @kubernetes-models)', () => {
  const cluster = (all: LoadedObject[]) => spec(find(all, 'Cluster', 'postgres'));
  const store = (all: LoadedObject[]) => spec(find(all, 'ObjectStore', 'postgres-backups'));
  const scheduled = (all: LoadedObject[]) => spec(find(all, 'ScheduledBackup', 'postgres-daily'));
  const cases: [string, string, (all: LoadedObject[]) => void, RegExp][] = [
    ['Cluster', 'instances as a string', (all) => (cluster(all).instances = '3'), /spec\.instances must be integer/],
    ['Cluster', 'no instances', (all) => delete cluster(all).instances, /spec must have required property 'instances'/],
    [
      'Cluster',
      'a misspelt field, named with the file and version of the CRD',
      (all) => (cluster(all).instance = 3),
      /Cluster\/postgres does not match the upstream CRD postgresql\.cnpg\.io_clusters\.v1\.27\.1\.yaml schema: unknown field "spec\.instance"/,
    ],
    ['Cluster', 'a misspelt nested field', (all) => (cluster(all).storage.sise = '10Gi'), /unknown field "spec\.storage\.sise"/],
    ['Cluster', 'a misspelt top-level field', (all) => ((find(all, 'Cluster', 'postgres').object as Any).spec_ = {}), /unknown field "spec_"/],
    [
      'Cluster',
      'an unknown primaryUpdateStrategy',
      (all) => (cluster(all).primaryUpdateStrategy = 'auto'),
      /must be equal to one of the allowed values \(unsupervised, supervised\)/,
    ],
    ['Cluster', 'a plugin without a name', (all) => delete cluster(all).plugins[0].name, /spec\.plugins\.0 must have required property 'name'/],
    [
      'Cluster',
      'a number as a PostgreSQL parameter',
      (all) => (cluster(all).postgresql.parameters.work_mem = 64),
      /spec\.postgresql\.parameters\.work_mem must be string/,
    ],
    // Quantities are int-or-string: a boolean is neither, a string must read as a quantity.
    ['Cluster', 'a boolean quantity', (all) => (cluster(all).resources.requests.cpu = true), /spec\.resources\.requests\.cpu must be integer,string/],
    ['Cluster', 'a quantity in words', (all) => (cluster(all).resources.limits.memory = 'four gigs'), /spec\.resources\.limits\.memory must match pattern/],
    // metadata is ObjectMeta, as for every other kind.
    [
      'Cluster',
      'a label that is no string',
      (all) => ((find(all, 'Cluster', 'postgres').object.metadata?.labels as Any).tier = 1),
      /metadata\.labels\.tier must be string/,
    ],
    [
      'ScheduledBackup',
      'an unknown method',
      (all) => (scheduled(all).method = 'barman'),
      /spec\.method must be equal to one of the allowed values \(barmanObjectStore, volumeSnapshot, plugin\)/,
    ],
    [
      'ScheduledBackup',
      'a misspelt field',
      (all) => (scheduled(all).pluginConfiguration.paramters = {}),
      /unknown field "spec\.pluginConfiguration\.paramters"/,
    ],
    ['ScheduledBackup', 'immediate as a string', (all) => (scheduled(all).immediate = 'yes'), /spec\.immediate must be boolean/],
    [
      'ObjectStore',
      'a WAL compression the plugin does not know',
      (all) => (store(all).configuration.wal.compression = 'brotli'),
      /wal\.compression must be equal to one of the allowed values \(bzip2, gzip, lz4, snappy, xz, zstd\)/,
    ],
    // The data (base backup) compressions are fewer than the WAL ones.
    [
      'ObjectStore',
      'zstd for base backups',
      (all) => (store(all).configuration.data.compression = 'zstd'),
      /data\.compression must be equal to one of the allowed values \(bzip2, gzip, snappy\)/,
    ],
    ['ObjectStore', 'a retention in words', (all) => (store(all).retentionPolicy = '30 days'), /spec\.retentionPolicy must match pattern/],
    [
      'ObjectStore',
      'a misspelt credentials field',
      (all) => (store(all).configuration.s3Credentials.accessKey = store(all).configuration.s3Credentials.accessKeyId),
      /unknown field "spec\.configuration\.s3Credentials\.accessKey"/,
    ],
    [
      'ObjectStore',
      'no destinationPath',
      (all) => delete store(all).configuration.destinationPath,
      /spec\.configuration must have required property 'destinationPath'/,
    ],
    [
      'ServiceMonitor',
      'a numeric interval',
      (all) => (spec(find(all, 'ServiceMonitor', 'backend')).endpoints[0].interval = 15),
      /endpoints\.0\.interval must be string/,
    ],
    [
      'Certificate',
      'no issuerRef',
      (all) => delete spec(find(all, 'Certificate', 'healthmate-tls')).issuerRef,
      /cert-manager CRD .*spec must have required property issuerRef/,
    ],
    [
      'PrometheusRule',
      'a group without a name',
      (all) => delete spec(find(all, 'PrometheusRule', 'healthmate')).groups[0].name,
      /Prometheus Operator CRD .*spec\.groups\.0 must have required property name/,
    ],
  ];

  it.each(cases)('%s: %s fails', async (kind, _what, change, message) => {
    const problems = await validateSchemas(mutated(change));
    expect(problems.length, JSON.stringify(problems)).toBeGreaterThanOrEqual(1);
    expect(problems[0]?.message).toContain(`${kind}/`);
    expect(problems.map((p) => p.message).join('\n')).toMatch(message);
  });

  it('takes what the CRD allows: an integer quantity, and the deprecated in-tree backup.barmanObjectStore (policy rule postgres-backups refuses it)', async () => {
    const objects = mutated((all) => {
      cluster(all).resources.requests.cpu = 1;
      cluster(all).backup = { barmanObjectStore: { destinationPath: 's3://healthmate-backups/postgres' } };
    });
    expect(await validateSchemas(objects)).toEqual([]);
  });

  it('the recipes go through the same schemas: a misspelt recovery target and an ExternalSecret without its store fail', async () => {
    const recipes = loadRecipes(renderBundle(tempDir(), 'prod')).objects;
    spec(find(recipes, 'Cluster', 'postgres-pitr')).bootstrap.recovery.recoveryTarget.targetTim = '2026-01-01T00:00:00Z';
    delete spec(find(recipes, 'ExternalSecret', 'healthmate-secrets')).secretStoreRef.name;
    const messages = (await validateSchemas(recipes)).map((p) => p.message);
    expect(messages).toEqual([
      expect.stringMatching(/^ExternalSecret\/healthmate-secrets .*External Secrets CRD .*spec\.secretStoreRef must have required property name/),
      expect.stringMatching(/^Cluster\/postgres-pitr .*unknown field "spec\.bootstrap\.recovery\.recoveryTarget\.targetTim"\.$/),
    ]);
  });
});

describe('policy rules', () => {
  const cases: [string, (all: LoadedObject[]) => void][] = [
    ['image-tag-pinned', (all) => (podSpec(find(all, 'Deployment', 'backend')).containers[0].image = 'healthmate/backend:latest')],
    ['image-tag-pinned', (all) => (spec(find(all, 'Cluster', 'postgres')).imageName = 'ghcr.io/cloudnative-pg/postgresql')],
    ['image-pull-policy-always', (all) => (podSpec(find(all, 'StatefulSet', 'redis')).containers[0].imagePullPolicy = 'IfNotPresent')],
    ['image-pull-policy-always', (all) => (spec(find(all, 'Cluster', 'postgres')).imagePullPolicy = 'IfNotPresent')],
    ['resources', (all) => delete podSpec(find(all, 'StatefulSet', 'redis')).containers[0].resources.limits],
    ['resources', (all) => delete spec(find(all, 'Cluster', 'postgres')).resources.limits],
    ['resources', (all) => delete spec(find(all, 'Cluster', 'postgres')).ephemeralVolumesSizeLimit],
    ['resources', (all) => delete spec(find(all, 'ObjectStore', 'postgres-backups')).instanceSidecarConfiguration],
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
    ['high-uid-gid', (all) => (podSpec(find(all, 'StatefulSet', 'redis')).securityContext.runAsUser = 999)],
    ['high-uid-gid', (all) => delete find(all, 'Cluster', 'postgres').object.metadata?.annotations],
    ['read-only-root-filesystem', (all) => (podSpec(find(all, 'Deployment', 'beat')).containers[0].securityContext.readOnlyRootFilesystem = false)],
    ['no-privilege-escalation', (all) => delete podSpec(find(all, 'StatefulSet', 'redis')).containers[1].securityContext.allowPrivilegeEscalation],
    ['drop-all-capabilities', (all) => (podSpec(find(all, 'Deployment', 'backend')).containers[0].securityContext.capabilities = { drop: ['NET_RAW'] })],
    ['seccomp-runtime-default', (all) => delete podSpec(find(all, 'Deployment', 'backend')).securityContext.seccompProfile],
    ['no-host-access', (all) => (podSpec(find(all, 'Deployment', 'backend')).hostNetwork = true)],
    ['no-service-account-token', (all) => delete podSpec(find(all, 'Deployment', 'backend')).automountServiceAccountToken],
    ['no-secrets-in-manifests', (all) => podSpec(find(all, 'Deployment', 'backend')).containers[0].env.push({ name: 'DB_PASSWORD', value: 'hunter2' })],
    ['secret-keys-provided', (all) => (podSpec(find(all, 'Deployment', 'backend')).containers[0].env[0].valueFrom.secretKeyRef.key = 'postgres-uri')],
    ['secret-keys-provided', (all) => (spec(find(all, 'ObjectStore', 'postgres-backups')).configuration.s3Credentials.accessKeyId.key = 'ACCESS_KEY_ID')],
    ['secret-keys-provided', (all) => (spec(find(all, 'Cluster', 'postgres')).bootstrap.initdb.secret.name = 'postgres-app')],
    ['no-duplicate-env', (all) => podSpec(find(all, 'Deployment', 'backend')).containers[0].env.push({ name: 'DATABASE_URL', value: 'x' })],
    ['config-refs-exist', (all) => (podSpec(find(all, 'Deployment', 'backend')).containers[0].envFrom[0].configMapRef.name = 'nope')],
    ['selector-matches-template', (all) => (spec(find(all, 'Deployment', 'worker')).selector.matchLabels['app.kubernetes.io/name'] = 'workers')],
    ['replicas-at-least-2', (all) => (spec(find(all, 'HorizontalPodAutoscaler', 'worker')).minReplicas = 1)],
    ['replicas-at-least-2', (all) => (spec(find(all, 'Cluster', 'postgres')).instances = 1)],
    ['no-replicas-with-hpa', (all) => (spec(find(all, 'Deployment', 'backend')).replicas = 3)],
    ['rolling-update', (all) => (spec(find(all, 'Deployment', 'backend')).strategy.rollingUpdate.maxUnavailable = 1)],
    ['rolling-update', (all) => (spec(find(all, 'StatefulSet', 'redis')).updateStrategy.type = 'OnDelete')],
    ['host-anti-affinity', (all) => (spec(find(all, 'Cluster', 'postgres')).affinity.enablePodAntiAffinity = false)],
    ['host-anti-affinity', (all) => (spec(find(all, 'Cluster', 'postgres')).affinity.topologyKey = 'topology.kubernetes.io/zone')],
    [
      'host-anti-affinity',
      (all) => {
        delete podSpec(find(all, 'Deployment', 'backend')).affinity;
        delete podSpec(find(all, 'Deployment', 'backend')).topologySpreadConstraints;
      },
    ],
    ['graceful-termination', (all) => (podSpec(find(all, 'Deployment', 'backend')).terminationGracePeriodSeconds = 10)],
    ['pod-disruption-budget', (all) => all.splice(all.indexOf(find(all, 'PodDisruptionBudget', 'backend')), 1)],
    ['pod-disruption-budget', (all) => (spec(find(all, 'Cluster', 'postgres')).enablePDB = false)],
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
    ['service-targets-pod', (all) => (spec(find(all, 'Service', 'backend')).selector['app.kubernetes.io/name'] = 'api')],
    ['default-deny-network-policy', (all) => all.splice(all.indexOf(find(all, 'NetworkPolicy', 'default-deny-all')), 1)],
    ['network-policy-covers-pod', (all) => all.splice(all.indexOf(find(all, 'NetworkPolicy', 'default-deny-all')), 1)],
    ['network-policy-targets-pod', (all) => (spec(find(all, 'NetworkPolicy', 'redis-ingress')).podSelector.matchLabels['app.kubernetes.io/name'] = 'valkey')],
    ['network-flows', (all) => all.splice(all.indexOf(find(all, 'NetworkPolicy', 'allow-dns-egress')), 1)],
    ['network-flows', (all) => (spec(find(all, 'NetworkPolicy', 'redis-ingress')).ingress[0].from = [])],
    ['network-flows', (all) => all.splice(all.indexOf(find(all, 'NetworkPolicy', 'postgres-egress')), 1)],
    ['network-flows', (all) => spec(find(all, 'NetworkPolicy', 'postgres-egress')).egress[1].ports.push({ protocol: 'TCP', port: 5432 })],
    ['network-flows', (all) => all.splice(all.indexOf(find(all, 'NetworkPolicy', 'acme-solver-ingress')), 1)],
    ['hpa-target-exists', (all) => (spec(find(all, 'HorizontalPodAutoscaler', 'worker')).scaleTargetRef.name = 'workers')],
    ['hpa-replica-range', (all) => (spec(find(all, 'HorizontalPodAutoscaler', 'backend')).maxReplicas = 3)],
    ['hpa-slow-scale-down', (all) => (spec(find(all, 'HorizontalPodAutoscaler', 'backend')).behavior.scaleDown.stabilizationWindowSeconds = 60)],
    ['hpa-slow-scale-down', (all) => (spec(find(all, 'HorizontalPodAutoscaler', 'backend')).behavior.scaleDown.policies[0].value = 50)],
    ['hpa-metrics-have-requests', (all) => delete podSpec(find(all, 'Deployment', 'backend')).containers[0].resources.requests.memory],
    ['vpa-recommendation-only', (all) => (spec(find(all, 'VerticalPodAutoscaler', 'redis')).updatePolicy.updateMode = 'Auto')],
    [
      'vpa-not-on-hpa-resource',
      (all) => {
        const vpa = structuredClone(find(all, 'VerticalPodAutoscaler', 'redis'));
        spec(vpa).targetRef = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'backend' };
        delete spec(vpa).resourcePolicy;
        all.push(vpa);
      },
    ],
    ['ingress-targets-service', (all) => (spec(find(all, 'Ingress', 'backend')).rules[0].http.paths[0].backend.service.port.name = 'https')],
    ['ingress-tls', (all) => (spec(find(all, 'Ingress', 'backend')).tls = [])],
    ['explicit-namespace', (all) => delete find(all, 'ConfigMap', 'healthmate-config').object.metadata?.namespace],
    ['explicit-namespace', (all) => delete find(all, 'Certificate', 'healthmate-tls').object.metadata?.namespace],
    ['monitor-targets-exist', (all) => (spec(find(all, 'ServiceMonitor', 'backend')).endpoints[0].port = 'metrics')],
    ['monitor-targets-exist', (all) => (spec(find(all, 'PodMonitor', 'redis')).selector.matchLabels['app.kubernetes.io/name'] = 'valkey')],
    ['postgres-cluster-shape', (all) => (spec(find(all, 'Cluster', 'postgres')).instances = 2)],
    ['postgres-cluster-shape', (all) => (spec(find(all, 'Cluster', 'postgres')).primaryUpdateStrategy = 'supervised')],
    ['postgres-cluster-shape', (all) => (spec(find(all, 'Cluster', 'postgres')).monitoring.enablePodMonitor = false)],
    [
      'postgres-cluster-shape',
      (all) => {
        const params = spec(find(all, 'Cluster', 'postgres')).postgresql.parameters;
        delete params['pg_stat_statements.max'];
        delete params['pg_stat_statements.track'];
      },
    ],
    ['postgres-backups', (all) => (spec(find(all, 'Cluster', 'postgres')).plugins = [])],
    [
      'postgres-backups',
      (all) => (spec(find(all, 'Cluster', 'postgres')).backup = { barmanObjectStore: { destinationPath: 's3://healthmate-backups/postgres' } }),
    ],
    ['postgres-backups', (all) => all.splice(all.indexOf(find(all, 'ObjectStore', 'postgres-backups')), 1)],
    ['postgres-backups', (all) => all.splice(all.indexOf(find(all, 'ScheduledBackup', 'postgres-daily')), 1)],
    ['postgres-backups', (all) => (spec(find(all, 'ScheduledBackup', 'postgres-daily')).suspend = true)],
    ['postgres-connection-capacity', (all) => (spec(find(all, 'Cluster', 'postgres')).postgresql.parameters.max_connections = '400')],
    ['postgres-connection-capacity', (all) => (spec(find(all, 'HorizontalPodAutoscaler', 'backend')).maxReplicas = 20)],
    ['ingress-certificate', (all) => (spec(find(all, 'Certificate', 'healthmate-tls')).dnsNames = ['www.healthmate.example'])],
    ['ingress-certificate', (all) => (spec(find(all, 'Certificate', 'healthmate-tls')).secretName = 'other-tls')],
    ['ingress-certificate', (all) => all.splice(all.indexOf(find(all, 'ClusterIssuer', 'letsencrypt-prod')), 1)],
  ];

  it.each(cases)('%s fails on a manifest that breaks it', (rule, change) => {
    expect(
      checkPolicy(
        mutated(() => {}),
        PROD,
      ),
    ).toEqual([]);
    const problems = checkPolicy(mutated(change), PROD);
    expect(problems.map((p) => p.message).join('\n')).toContain(`[${rule}]`);
  });

  it('every rule has a failing case above', () => {
    for (const rule of RULES) expect(cases.map(([id]) => id)).toContain(rule.id);
  });

  it('docs/kubernetes.md holds the table generated from the rule list (npm run docs:k8s-policy rewrites it)', () => {
    const docs = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'kubernetes.md'), 'utf8');
    const between = /<!-- policy-rules:start -->\n([\s\S]*?)\n<!-- policy-rules:end -->/.exec(docs)?.[1];
    expect(between, 'docs/kubernetes.md is stale: run npm run docs:k8s-policy').toBe(policyRulesMarkdown());
    // The count in the README is the list's.
    const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    expect(readme).toContain(`${RULES.length} policy rules`);
    expect(new Set(RULES.map((r) => r.id)).size).toBe(RULES.length);
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

  it('a manifest file outside APPLY_PHASES is an error, so nothing is silently left unapplied', () => {
    const dir = tempDir();
    const bundle = renderBundle(dir, 'prod');
    writeFileSync(join(bundle, 'k8s', 'extra.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n');
    const { problems } = loadManifests(bundle);
    expect(problems.map((p) => `${p.file}: ${p.message}`)).toEqual([expect.stringMatching(/^k8s\/extra\.yaml: is not in APPLY_PHASES/)]);
  });
});

describe('import cost', () => {
  it('no module under scripts/ imports a Kubernetes model package statically (they load inside validateSchemas)', () => {
    const found: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith('.ts') && /^import [^;]*from '(@kubernetes-models\/|kubernetes-models)/m.test(readFileSync(path, 'utf8')))
          found.push(path);
      }
    };
    walk(join(import.meta.dirname, '..', '..', 'scripts'));
    expect(found).toEqual([]);
  });
});
