import type { K8sObject } from './manifests.js';
import { selects } from './policy-selectors.js';

/** A pod as NetworkPolicies see it. */
export interface Endpoint {
  namespace: string;
  labels: Record<string, string>;
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

function peerMatches(peer: Any, policyNamespace: string, other: Endpoint): boolean {
  if (peer.ipBlock) return false; // the manifests never use ipBlock: a pod flow never matches one
  const namespaceOk = peer.namespaceSelector ? selects(peer.namespaceSelector, namespaceLabels(other.namespace)) : other.namespace === policyNamespace;
  const podOk = peer.podSelector ? selects(peer.podSelector, other.labels) : true;
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

/** One direction: isolated pods accept only what a rule of a selecting policy allows. */
function directionAllows(policies: K8sObject[], direction: 'Ingress' | 'Egress', self: Endpoint, other: Endpoint, port: number, protocol: string): boolean {
  const selecting = policies.filter(
    (p) => (p.metadata?.namespace ?? '') === self.namespace && typesOf(p).includes(direction) && selects(p.spec?.podSelector ?? {}, self.labels),
  );
  if (selecting.length === 0) return true;
  const key = direction === 'Ingress' ? 'ingress' : 'egress';
  const peersKey = direction === 'Ingress' ? 'from' : 'to';
  return selecting.some((p) =>
    (p.spec?.[key] ?? []).some((rule: Any) => {
      const peers: Any[] | undefined = rule[peersKey];
      const peerOk = !peers || peers.length === 0 || peers.some((peer) => peerMatches(peer, self.namespace, other));
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
