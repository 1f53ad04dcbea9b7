import type { EnvName } from './names.js';

/**
 * The hosts a deployment spans, as data (like Kamal's roles). Each host is one
 * line of the env file:
 *
 *   HOST_DB1=engine=ssh://deploy@db1.internal roles=db,app address=10.0.0.11
 *
 * - engine: how to reach the host's Docker engine: ssh://[user@]host[:port],
 *   or `local` (the engine DOCKER_HOST or the local socket names, as a
 *   single-host deploy always did);
 * - roles: db (a Patroni member and an etcd member) and/or app (nginx, backend,
 *   workers, HAProxy, Redis, monitoring);
 * - address: where the other hosts reach this one's published cluster ports
 *   (etcd, Patroni's REST API, PostgreSQL, pgBackRest): a private IP or DNS name.
 *   Required when there is more than one host.
 *
 * Without any HOST_ line the inventory is one host, `main`, with both roles on
 * the local engine: a one-host deployment is a one-member cluster.
 */
export const HOST_PREFIX = 'HOST_';
export const HOST_ROLES = ['db', 'app'] as const;
export type HostRole = (typeof HOST_ROLES)[number];

export type Engine = { kind: 'local' } | { kind: 'ssh'; url: string; user?: string; hostname: string; port?: number };

export interface InventoryHost {
  /** Lower-case name from the variable: HOST_DB_1 → db-1. Member name in etcd and Patroni, bundle folder name. */
  name: string;
  /** The env variable that defined it (for messages), or undefined for the implicit host. */
  variable?: string;
  engine: Engine;
  roles: HostRole[];
  address?: string;
}

export interface Inventory {
  hosts: InventoryHost[];
  /** No HOST_ line: the one-host default. */
  implicit: boolean;
}

/** Where a line came from, for messages (file:line, or --set). */
export interface HostLine {
  variable: string;
  value: string;
  where: { file?: string; line?: number; source?: string };
}

export interface InventoryProblem {
  variable?: string;
  file?: string;
  line?: number;
  source?: string;
  message: string;
}

export const IMPLICIT_HOST: InventoryHost = { name: 'main', engine: { kind: 'local' }, roles: ['db', 'app'] };

const NAME = /^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9a-f:]+$/i;
const DNS = /^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$/;
const SSH_USER = /^[a-z_][a-z0-9_.-]{0,31}$/i;
const KEYS = ['engine', 'roles', 'address'] as const;

export function isHostVariable(name: string): boolean {
  return name.startsWith(HOST_PREFIX) && name.length > HOST_PREFIX.length;
}

export function hostName(variable: string): string {
  return variable.slice(HOST_PREFIX.length).toLowerCase().replace(/_/g, '-');
}

/** An IPv4 address, an IPv6 address without zone id, or a DNS name. */
export function isHostAddress(value: string): boolean {
  if (IPV4.test(value)) return true;
  if (value.includes(':')) return IPV6.test(value) && value.split('::').length <= 2;
  return DNS.test(value) && !/(^|\.)\d+$/.test(value);
}

type Parsed = { host: InventoryHost } | { problem: string };

function parseEngine(raw: string): Engine | string {
  if (raw === 'local') return { kind: 'local' };
  if (!raw.startsWith('ssh://')) return `engine=${raw} is neither local nor ssh://[user@]host[:port]`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `engine=${raw.replace(/\/\/[^@/]*@/, '//…@')} is not a valid ssh:// URL`;
  }
  if (url.password) return 'engine= holds a password; ssh authenticates with keys (ssh-agent or ~/.ssh/config)';
  if (url.pathname !== '' && url.pathname !== '/') return `engine=${raw} has a path; write ssh://[user@]host[:port]`;
  if (url.search || url.hash) return `engine=${raw} has a query or fragment; write ssh://[user@]host[:port]`;
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  if (!hostname || hostname.startsWith('-') || !isHostAddress(hostname)) return `engine=${raw} names no valid host`;
  const user = decodeURIComponent(url.username);
  if (user && !SSH_USER.test(user)) return `engine=${raw} has an invalid user name "${user}"`;
  return { kind: 'ssh', url: raw.replace(/\/$/, ''), hostname, ...(user ? { user } : {}), ...(url.port ? { port: Number(url.port) } : {}) };
}

/** One HOST_ line: `engine=… roles=… [address=…]`, keys in any order, each once. */
export function parseHostLine(variable: string, value: string): Parsed {
  const name = hostName(variable);
  if (!NAME.test(name)) return { problem: `names host "${name}": a host name is a lower-case DNS label of at most 32 characters (letters, digits, -)` };
  const fields = new Map<string, string>();
  for (const token of value.trim().split(/\s+/).filter(Boolean)) {
    const eq = token.indexOf('=');
    const key = eq > 0 ? token.slice(0, eq) : token;
    if (!(KEYS as readonly string[]).includes(key)) return { problem: `has "${token}"; write engine=… roles=… [address=…]` };
    if (fields.has(key)) return { problem: `sets ${key}= twice` };
    fields.set(key, token.slice(eq + 1));
  }
  const engineText = fields.get('engine');
  if (!engineText) return { problem: 'has no engine=; write engine=ssh://user@host or engine=local' };
  const engine = parseEngine(engineText);
  if (typeof engine === 'string') return { problem: engine };
  const roleText = fields.get('roles');
  if (!roleText) return { problem: `has no roles=; write roles=db, roles=app or roles=db,app` };
  const roles = roleText.split(',');
  const unknown = roles.find((r) => !(HOST_ROLES as readonly string[]).includes(r));
  if (unknown !== undefined) return { problem: `has role "${unknown}"; the roles are db and app` };
  if (new Set(roles).size !== roles.length) return { problem: `names a role twice in roles=${roleText}` };
  const address = fields.get('address');
  if (address !== undefined && !isHostAddress(address)) return { problem: `has address=${address}, which is not an IP address (no zone id) or DNS name` };
  return {
    host: {
      name,
      variable,
      engine,
      roles: HOST_ROLES.filter((r) => roles.includes(r)),
      ...(address !== undefined ? { address } : {}),
    },
  };
}

/**
 * The inventory from the HOST_ lines, with every problem at once. Quorum rules:
 * etcd needs a majority of its members, one per db host, so two db hosts
 * tolerate no loss (worse than one: twice the machines that can stop it), and
 * an even count tolerates no more losses than the odd count below it.
 */
export function buildInventory(lines: HostLine[], env: EnvName): { inventory: Inventory; problems: InventoryProblem[]; warnings: InventoryProblem[] } {
  const problems: InventoryProblem[] = [];
  const warnings: InventoryProblem[] = [];
  if (lines.length === 0) return { inventory: { hosts: [IMPLICIT_HOST], implicit: true }, problems, warnings };
  const at = (line: HostLine, message: string): InventoryProblem => ({ variable: line.variable, ...line.where, message });
  if (env !== 'prod') {
    for (const line of lines) problems.push(at(line, `(host ${hostName(line.variable)}) is for production: ${env} runs on one machine; remove the line.`));
    return { inventory: { hosts: [IMPLICIT_HOST], implicit: true }, problems, warnings };
  }
  const hosts: InventoryHost[] = [];
  const byName = new Map<string, HostLine>();
  for (const line of lines) {
    const name = hostName(line.variable);
    const twin = byName.get(name);
    if (twin) {
      problems.push(at(line, `(host ${name}) names the same host as ${twin.variable}; give each host one line.`));
      continue;
    }
    byName.set(name, line);
    const parsed = parseHostLine(line.variable, line.value);
    if ('problem' in parsed) problems.push(at(line, `(host ${name}) ${parsed.problem}.`));
    else hosts.push(parsed.host);
  }
  const lineOf = (host: InventoryHost): HostLine => byName.get(host.name) as HostLine;
  const multi = lines.length > 1;
  const seenEngine = new Map<string, string>();
  const seenAddress = new Map<string, string>();
  for (const host of hosts) {
    const engineKey = host.engine.kind === 'local' ? 'local' : `${host.engine.hostname}:${host.engine.port ?? 22}`;
    const other = seenEngine.get(engineKey);
    if (other) problems.push(at(lineOf(host), `(host ${host.name}) reaches the same engine as host ${other} (${engineKey}); a host is named once.`));
    seenEngine.set(engineKey, host.name);
    if (multi && !host.address)
      problems.push(at(lineOf(host), `(host ${host.name}) has no address=: with several hosts the others reach its cluster ports there; add its private IP.`));
    if (host.address) {
      const same = seenAddress.get(host.address);
      if (same) problems.push(at(lineOf(host), `(host ${host.name}) has the address of host ${same} (${host.address}); each host has its own.`));
      seenAddress.set(host.address, host.name);
    }
  }
  const first = lines[0] as HostLine;
  const db = hosts.filter((h) => h.roles.includes('db')).length;
  const app = hosts.filter((h) => h.roles.includes('app')).length;
  if (problems.length === 0) {
    if (db === 0) problems.push(at(first, 'and the other HOST_ lines give no host the db role; one (or three) must run PostgreSQL.'));
    if (app === 0) problems.push(at(first, 'and the other HOST_ lines give no host the app role; at least one must run the application.'));
    if (db === 2)
      problems.push(
        at(first, 'and the other HOST_ lines give two hosts the db role: etcd needs a majority, so two members survive no loss; use one db host, or three.'),
      );
    if (db > 2 && db % 2 === 0)
      warnings.push(
        at(first, `and the other HOST_ lines give ${db} hosts the db role: etcd survives no more losses than with ${db - 1}; an odd count uses each host.`),
      );
    if (db > 7)
      warnings.push(at(first, `and the other HOST_ lines give ${db} hosts the db role: etcd advises at most 7 members (each write waits for a majority).`));
  }
  return { inventory: { hosts, implicit: false }, problems, warnings };
}

export function dbHosts(inventory: Inventory): InventoryHost[] {
  return inventory.hosts.filter((h) => h.roles.includes('db'));
}

export function appHosts(inventory: Inventory): InventoryHost[] {
  return inventory.hosts.filter((h) => h.roles.includes('app'));
}

/** DOCKER_HOST for a host's engine; undefined keeps the caller's (local). */
export function dockerHostOf(host: InventoryHost): string | undefined {
  return host.engine.kind === 'ssh' ? host.engine.url : undefined;
}
