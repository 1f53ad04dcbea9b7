import { engineVersion } from '../containers.js';
import { askEngine, engineName, lastLine } from '../docker-engine.js';
import { lastAudit } from './audit.js';
import { describeHost, type HostTarget, onEngine } from './hosts.js';
import { deployLockHolder, describeOwner } from './lock.js';
import type { ReleaseRef } from './state.js';
import { readState } from './state.js';
import type { DeployStore } from './store.js';

export const AUDIT_LINES = 5;

function describeRelease(ref: ReleaseRef | undefined): string {
  return ref ? `${ref.tag} (release ${ref.release}, since ${ref.at})` : '(none)';
}

/** Containers of the stack per service: "2 running (2 healthy)", "1 exited". */
async function replicaHealth(project: string): Promise<string[]> {
  const format = '{{.Label "com.docker.compose.service"}}\t{{.State}}\t{{.Status}}';
  const result = await askEngine(['docker', 'ps', '-a', '--filter', `label=com.docker.compose.project=${project}`, '--format', format]);
  if (result.code !== 0) return [`  cannot list containers: ${lastLine(result.stderr)}`];
  const byService = new Map<string, string[]>();
  for (const line of result.stdout.split('\n').filter(Boolean)) {
    const [service = '?', state = '', status = ''] = line.split('\t');
    const health = /\((healthy|unhealthy|health: starting)\)/.exec(status)?.[1];
    byService.set(service, [...(byService.get(service) ?? []), health && state === 'running' ? `running ${health}` : state]);
  }
  if (byService.size === 0) return [`  no containers of project ${project}`];
  return [...byService.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([service, states]) => {
      const counts = new Map<string, number>();
      for (const s of states) counts.set(s, (counts.get(s) ?? 0) + 1);
      return `  ${service}: ${[...counts.entries()].map(([s, n]) => `${n} ${s}`).join(', ')}`;
    });
}

/**
 * What an operator asks first: what runs, what ran before (the rollback
 * target), who holds the lock, the last audit entries, and on every host how
 * the containers are. Read only; the same for local and remote engines.
 */
export async function deployStatus(store: DeployStore, project: string, hosts: HostTarget[]): Promise<string> {
  const state = readState(store);
  const holder = deployLockHolder(store);
  const lock = !holder
    ? 'free'
    : `held by ${holder.owner ? describeOwner(holder.owner) : 'an unreadable owner'}${holder.verdict === 'dead' ? ' (that process is gone: the next deploy takes it over)' : ''}`;
  const audit = lastAudit(store, AUDIT_LINES).map(
    (e) => `  ${e.time} ${e.user}@${e.host} ${e.action} ${e.tag} ${e.result}${e.reason ? ` reason: ${e.reason}` : ''}${e.error ? ` (${e.error})` : ''}`,
  );
  const lines = [
    `deploy state: ${store.where}${hosts.length > 1 ? ` (on ${hosts[0]?.host.name}, the inventory's first host)` : ''}`,
    `current:  ${describeRelease(state.current)}`,
    `previous: ${describeRelease(state.previous)}`,
    `lock:     ${lock}`,
    `last ${AUDIT_LINES} audit entries (oldest first):`,
    ...(audit.length > 0 ? audit : ['  (none)']),
  ];
  for (const target of hosts) {
    // One host's engine at a time; one that cannot be reached is said, the others still shown.
    const replicas = await onEngine(target, async () => {
      const version = await engineVersion();
      return version ? replicaHealth(project) : [`  the Docker engine at ${engineName()} cannot be reached`];
    });
    lines.push(`${hosts.length > 1 ? `host ${describeHost(target)}, ` : ''}replicas (project ${project}):`, ...replicas);
  }
  return `${lines.join('\n')}\n`;
}
