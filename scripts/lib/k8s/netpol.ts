import { BlockList, isIP } from 'node:net';
import type { K8sObject } from './manifests.js';
import { selects } from './policy-selectors.js';

/**
 * One end of a connection as NetworkPolicies see it: a pod (namespace and
 * labels, plus its pod IP) or an address outside the pod network (only an
 * IP: the API server, an object store, the internet).
 */
export interface Endpoint {
  namespace?: string;
  labels?: Record<string, string>;
  ip?: string;
}

export interface Flow {
  from: Endpoint;
  to: Endpoint;
  port: number;
  protocol?: 'TCP' | 'UDP';
}

// biome-ignore lint/suspicious/noExplicitAny: NetworkPolicy rules are checked structurally after the schema pass.
type Any = any;

/** Namespaces carry kubernetes.io/metadata.name = their name (set by the API server since 1.22). */
function namespaceLabels(namespace: string): Record<string, string> {
  return { 'kubernetes.io/metadata.name': namespace };
}

function family(address: string): 'ipv4' | 'ipv6' | undefined {
  const version = isIP(address);
  return version === 4 ? 'ipv4' : version === 6 ? 'ipv6' : undefined;
}

/** Whether `ip` is inside `cidr`; false when either is malformed or they are of different families. */
export function inCidr(ip: string, cidr: string): boolean {
  const [network = '', bits = ''] = cidr.split('/');
  const type = family(network);
  if (!type || type !== family(ip) || !/^\d+$/.test(bits)) return false;
  const list = new BlockList();
  list.addSubnet(network, Number(bits), type);
  return list.check(ip, type);
}

/**
 * An ipBlock peer matches an endpoint whose IP is inside `cidr` and in none
 * of the `except` ranges. Kubernetes leaves it to the network plugin whether
 * an ipBlock also matches pod IPs; giving pods IPs here treats it as if it
 * does, which is the cautious reading for the flows that must stay blocked.
 */
function ipBlockMatches(block: Any, other: Endpoint): boolean {
  if (!other.ip || typeof block?.cidr !== 'string') return false;
  return inCidr(other.ip, block.cidr) && !(block.except ?? []).some((range: string) => inCidr(other.ip as string, range));
}

function peerMatches(peer: Any, policyNamespace: string, other: Endpoint): boolean {
  if (peer.ipBlock) return ipBlockMatches(peer.ipBlock, other);
  // Selectors match pods only; an address outside the pod network has no labels.
  if (other.namespace === undefined) return false;
  const namespaceOk = peer.namespaceSelector ? selects(peer.namespaceSelector, namespaceLabels(other.namespace)) : other.namespace === policyNamespace;
  const podOk = peer.podSelector ? selects(peer.podSelector, other.labels ?? {}) : true;
  return namespaceOk && podOk;
}

function portMatches(ports: Any[] | undefined, port: number, protocol: string): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some(
    (p) => (p.protocol ?? 'TCP') === protocol && (p.port === undefined || p.port === port || (p.endPort !== undefined && port >= p.port && port <= p.endPort)),
  );
}

function typesOf(policy: K8sObject): string[] {
  const spec = policy.spec ?? {};
  return spec.policyTypes ?? (spec.egress ? ['Ingress', 'Egress'] : ['Ingress']);
}

/** One direction: isolated pods accept only what a rule of a selecting policy allows; addresses outside the pod network are never isolated. */
function directionAllows(policies: K8sObject[], direction: 'Ingress' | 'Egress', self: Endpoint, other: Endpoint, port: number, protocol: string): boolean {
  if (self.namespace === undefined) return true;
  const selecting = policies.filter(
    (p) => (p.metadata?.namespace ?? '') === self.namespace && typesOf(p).includes(direction) && selects(p.spec?.podSelector ?? {}, self.labels ?? {}),
  );
  if (selecting.length === 0) return true;
  const key = direction === 'Ingress' ? 'ingress' : 'egress';
  const peersKey = direction === 'Ingress' ? 'from' : 'to';
  return selecting.some((p) =>
    (p.spec?.[key] ?? []).some((rule: Any) => {
      const peers: Any[] | undefined = rule[peersKey];
      const peerOk = !peers || peers.length === 0 || peers.some((peer) => peerMatches(peer, self.namespace as string, other));
      return peerOk && portMatches(rule.ports, port, protocol);
    }),
  );
}

/**
 * Whether NetworkPolicies let a connection through, following the
 * networking.k8s.io/v1 semantics: the source's egress and the destination's
 * ingress must both allow it.
 */
export function flowAllowed(policies: K8sObject[], flow: Flow): boolean {
  const protocol = flow.protocol ?? 'TCP';
  return (
    directionAllows(policies, 'Egress', flow.from, flow.to, flow.port, protocol) &&
    directionAllows(policies, 'Ingress', flow.to, flow.from, flow.port, protocol)
  );
}
