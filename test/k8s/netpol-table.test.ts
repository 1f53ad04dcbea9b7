import { describe, expect, it } from 'vitest';
import type { K8sObject, LoadedObject } from '../../scripts/lib/k8s/manifests.js';
import { type Endpoint, flowAllowed } from '../../scripts/lib/k8s/netpol.js';
import { tempDir } from '../helpers/tmp.js';
import { find, renderedObjects } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: the test reads untyped policy objects.
type Any = any;

/**
 * The NetworkPolicies of k8s/network-policies.yaml judged against a table
 * written by hand: which connections must get through and which must not,
 * grouped by the policy that decides them (every flow also passes the
 * default deny of both ends). The table is the truth; it is checked against
 * the product's evaluator (scripts/lib/k8s/netpol.ts) and against a second,
 * deliberately plain reading of the policy objects below, so a bug in either
 * the policies or the evaluator shows up as a row that disagrees.
 */
interface Row {
  from: string;
  to: string;
  port: number;
  protocol?: 'TCP' | 'UDP';
  allow: boolean;
}

const allow = (from: string, to: string, port: number, protocol: 'TCP' | 'UDP' = 'TCP'): Row => ({ from, to, port, protocol, allow: true });
const deny = (from: string, to: string, port: number, protocol: 'TCP' | 'UDP' = 'TCP'): Row => ({ from, to, port, protocol, allow: false });

const APP_PODS = ['backend', 'worker', 'beat', 'redis', 'postgres-primary', 'postgres-replica', 'acme-solver'];

const TABLE: Record<string, Row[]> = {
  // Nothing that no other policy opens: into, out of and between our pods.
  'default-deny-all': [
    deny('elsewhere', 'backend', 8000),
    deny('elsewhere', 'redis', 6379),
    deny('internet', 'backend', 8000),
    deny('worker', 'backend', 8000),
    deny('backend', 'worker', 8000),
    deny('beat', 'backend', 8000),
    deny('backend', 'internet', 443),
    deny('backend', 'elsewhere', 443),
    deny('worker', 'object-store', 443),
    deny('redis', 'internet', 443),
    deny('redis', 'postgres-primary', 5432),
    deny('acme-solver', 'backend', 8000),
    deny('acme-solver', 'internet', 443),
  ],
  // Every pod of ours resolves names through kube-dns, on port 53 only.
  'allow-dns-egress': [
    ...APP_PODS.flatMap((pod) => [allow(pod, 'dns', 53, 'UDP'), allow(pod, 'dns', 53, 'TCP')]),
    deny('backend', 'dns', 5353, 'UDP'),
    deny('backend', 'kube-system-other', 53, 'UDP'),
    deny('backend', 'dns-elsewhere', 53, 'UDP'),
    deny('backend', 'internet', 53, 'UDP'),
  ],
  // The ingress controller and Prometheus reach the backend on 8000, nobody else.
  'backend-ingress': [
    allow('ingress', 'backend', 8000),
    allow('prometheus', 'backend', 8000),
    deny('ingress', 'backend', 9000),
    deny('ingress', 'backend', 8000, 'UDP'),
    deny('ingress-elsewhere', 'backend', 8000),
    deny('prometheus-elsewhere', 'backend', 8000),
  ],
  // backend, worker and beat reach PostgreSQL (both roles) on 5432 and Redis on 6379.
  'app-egress-to-data': [
    ...['backend', 'worker', 'beat'].flatMap((app) => [allow(app, 'postgres-primary', 5432), allow(app, 'postgres-replica', 5432), allow(app, 'redis', 6379)]),
    deny('backend', 'postgres-primary', 8000),
    deny('backend', 'postgres-primary', 6379),
    deny('worker', 'redis', 6380),
    deny('backend', 'redis', 9121),
  ],
  // PostgreSQL: the apps on 5432, the instances and the operator on 5432 and 8000, Prometheus on 9187.
  'postgres-ingress': [
    allow('postgres-replica', 'postgres-primary', 5432),
    allow('postgres-replica', 'postgres-primary', 8000),
    allow('postgres-primary', 'postgres-replica', 8000),
    allow('cnpg-operator', 'postgres-primary', 8000),
    allow('cnpg-operator', 'postgres-replica', 5432),
    allow('prometheus', 'postgres-primary', 9187),
    allow('prometheus', 'postgres-replica', 9187),
    deny('prometheus', 'postgres-primary', 5432),
    deny('cnpg-operator', 'postgres-primary', 9187),
    deny('cnpg-operator-elsewhere', 'postgres-primary', 8000),
    deny('ingress', 'postgres-primary', 5432),
    deny('elsewhere', 'postgres-primary', 5432),
  ],
  // The instances leave only to each other, to the API server and the object store on 443/6443.
  'postgres-egress': [
    allow('postgres-primary', 'api-server', 6443),
    allow('postgres-replica', 'api-server', 443),
    allow('postgres-primary', 'object-store', 443),
    deny('postgres-primary', 'internet', 22),
    deny('postgres-primary', 'internet', 5432),
    deny('postgres-primary', 'object-store', 80),
    deny('postgres-primary', 'redis', 6379),
    deny('postgres-primary', 'backend', 8000),
    deny('postgres-primary', 'elsewhere', 5432),
    // Whether an ipBlock covers pod addresses is the network plugin's choice
    // (Calico: yes, Cilium: no); read the cautious way, 0.0.0.0/0 takes them in.
    allow('postgres-primary', 'elsewhere', 443),
  ],
  // cert-manager's HTTP-01 solver answers the ingress controller on 8089 only.
  'acme-solver-ingress': [
    allow('ingress', 'acme-solver', 8089),
    deny('ingress', 'acme-solver', 80),
    deny('ingress-elsewhere', 'acme-solver', 8089),
    deny('backend', 'acme-solver', 8089),
  ],
  // Redis: the apps on 6379, Prometheus on the exporter's 9121.
  'redis-ingress': [
    allow('prometheus', 'redis', 9121),
    deny('prometheus', 'redis', 6379),
    deny('ingress', 'redis', 6379),
    deny('postgres-primary', 'redis', 9121),
  ],
};

/** Every endpoint of the table: our pods with their rendered labels, pods elsewhere, and bare addresses. */
function endpoints(objects: LoadedObject[], namespace: string): Record<string, Endpoint> {
  const template = (kind: string, name: string) => find(objects, kind, name).object.spec.template.metadata.labels;
  const cluster = find(objects, 'Cluster', 'postgres').object.spec;
  const instance = (role: string) => ({ ...cluster.inheritedMetadata.labels, 'cnpg.io/cluster': 'postgres', 'cnpg.io/instanceRole': role });
  const pod = (ns: string, labels: Record<string, string>, ip: string): Endpoint => ({ namespace: ns, labels, ip });
  return {
    backend: pod(namespace, template('Deployment', 'backend'), '10.244.1.2'),
    worker: pod(namespace, template('Deployment', 'worker'), '10.244.1.3'),
    beat: pod(namespace, template('Deployment', 'beat'), '10.244.1.4'),
    redis: pod(namespace, template('StatefulSet', 'redis'), '10.244.1.5'),
    'postgres-primary': pod(namespace, instance('primary'), '10.244.1.6'),
    'postgres-replica': pod(namespace, instance('replica'), '10.244.1.7'),
    'acme-solver': pod(namespace, { 'acme.cert-manager.io/http01-solver': 'true' }, '10.244.1.8'),
    ingress: pod('ingress-nginx', { 'app.kubernetes.io/name': 'ingress-nginx' }, '10.244.2.2'),
    prometheus: pod('monitoring', { 'app.kubernetes.io/name': 'prometheus' }, '10.244.2.3'),
    'cnpg-operator': pod('cnpg-system', { 'app.kubernetes.io/name': 'cloudnative-pg' }, '10.244.2.4'),
    dns: pod('kube-system', { 'k8s-app': 'kube-dns' }, '10.244.2.5'),
    'kube-system-other': pod('kube-system', { 'k8s-app': 'metrics-server' }, '10.244.2.6'),
    // The right labels in the wrong namespace.
    'ingress-elsewhere': pod('elsewhere', { 'app.kubernetes.io/name': 'ingress-nginx' }, '10.244.3.2'),
    'prometheus-elsewhere': pod('elsewhere', { 'app.kubernetes.io/name': 'prometheus' }, '10.244.3.3'),
    'cnpg-operator-elsewhere': pod('elsewhere', { 'app.kubernetes.io/name': 'cloudnative-pg' }, '10.244.3.4'),
    'dns-elsewhere': pod('elsewhere', { 'k8s-app': 'kube-dns' }, '10.244.3.5'),
    elsewhere: pod('elsewhere', { app: 'anything' }, '10.244.3.6'),
    // Outside the pod network: an address only.
    'api-server': { ip: '172.18.0.2' },
    'object-store': { ip: '198.51.100.20' },
    internet: { ip: '203.0.113.50' },
  };
}

/** matchLabels and matchExpressions with In: all these policies use. */
function labelsMatch(selector: Any, labels: Record<string, string> = {}): boolean {
  const expressions: Any[] = selector.matchExpressions ?? [];
  for (const e of expressions) if (e.operator !== 'In') throw new Error(`the plain reading knows only In, not ${e.operator}: extend it`);
  return (
    Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value) && expressions.every((e) => e.values.includes(labels[e.key]))
  );
}

function ipv4(address: string): number {
  return address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

function inIpv4Block(address: string | undefined, cidr: string): boolean {
  const [network = '', bits = '32'] = cidr.split('/');
  if (!address || network.includes(':')) return false;
  const size = 2 ** (32 - Number(bits));
  return Math.floor(ipv4(address) / size) === Math.floor(ipv4(network) / size);
}

/**
 * The plain reading: each policy turned into the grants it makes over the
 * table's endpoints ("egress backend redis TCP/6379") and the pods it
 * isolates ("egress backend"). A flow passes when each end is either not
 * isolated in its direction or holds a matching grant.
 */
function plainReading(policies: K8sObject[], all: Record<string, Endpoint>) {
  const grants = new Set<string>();
  const isolated = new Set<string>();
  const names = Object.keys(all);
  for (const policy of policies) {
    const spec = policy.spec as Any;
    const own = names.filter((n) => all[n]?.namespace === policy.metadata?.namespace && labelsMatch(spec.podSelector, all[n]?.labels));
    for (const type of spec.policyTypes as string[]) {
      const direction = type.toLowerCase();
      for (const self of own) isolated.add(`${direction} ${self}`);
      for (const rule of spec[direction] ?? []) {
        const peers: Any[] = rule[direction === 'ingress' ? 'from' : 'to'] ?? [];
        const matching = names.filter(
          (n) =>
            peers.length === 0 ||
            peers.some((peer) => {
              const e = all[n] as Endpoint;
              if (peer.ipBlock) return inIpv4Block(e.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((c: string) => inIpv4Block(e.ip, c));
              if (e.namespace === undefined) return false;
              const namespaceOk = peer.namespaceSelector
                ? labelsMatch(peer.namespaceSelector, { 'kubernetes.io/metadata.name': e.namespace })
                : e.namespace === policy.metadata?.namespace;
              return namespaceOk && (!peer.podSelector || labelsMatch(peer.podSelector, e.labels));
            }),
        );
        const ports: string[] = (rule.ports ?? [{ protocol: 'any', port: 'any' }]).map((p: Any) => `${p.protocol ?? 'TCP'}/${p.port}`);
        for (const self of own) for (const peer of matching) for (const port of ports) grants.add(`${direction} ${self} ${peer} ${port}`);
      }
    }
  }
  const passes = (direction: string, self: string, peer: string, port: string) =>
    !isolated.has(`${direction} ${self}`) || grants.has(`${direction} ${self} ${peer} ${port}`) || grants.has(`${direction} ${self} ${peer} any/any`);
  return (row: Row) => {
    const port = `${row.protocol ?? 'TCP'}/${row.port}`;
    return passes('egress', row.from, row.to, port) && passes('ingress', row.to, row.from, port);
  };
}

describe('NetworkPolicies against the hand-written flow table', () => {
  for (const [env, namespace] of [
    ['prod', 'healthmate'],
    ['dev', 'healthmate-dev'],
  ] as const) {
    it(`${env}: every policy has its rows, and both readings give every row's verdict`, () => {
      const objects = renderedObjects(tempDir(), env);
      const policies = objects.filter((o) => o.object.kind === 'NetworkPolicy').map((o) => o.object);
      expect(policies.map((p) => p.metadata?.name).sort()).toEqual(Object.keys(TABLE).sort());
      const all = endpoints(objects, namespace);
      const plain = plainReading(policies, all);
      const wrong = Object.entries(TABLE).flatMap(([policy, rows]) =>
        rows.flatMap((row) => {
          const from = all[row.from];
          const to = all[row.to];
          if (!from || !to) throw new Error(`no endpoint named ${from ? row.to : row.from}`);
          const product = flowAllowed(policies, { from, to, port: row.port, protocol: row.protocol ?? 'TCP' });
          const what = `[${policy}] ${row.from} -> ${row.to} ${row.port}/${row.protocol ?? 'TCP'} should be ${row.allow ? 'allowed' : 'denied'}`;
          return [
            product === row.allow ? [] : [`${what}; the evaluator says otherwise`],
            plain(row) === row.allow ? [] : [`${what}; the plain reading says otherwise`],
          ].flat();
        }),
      );
      expect(wrong).toEqual([]);
    });
  }
});
