import { readFileSync } from 'node:fs';
import { BadInputError, errorMessage } from '../errors.js';
import { readYaml } from '../yaml-data.js';

/** The parts of a compose file the policy checks and the deploy read. */
export interface ComposeService {
  name: string;
  image?: string;
  /** The service has a `build:` section: its image is built on the engine, not pulled. */
  built?: boolean;
  user?: string;
  restart?: string;
  /** `init: true`: Docker's tini is PID 1 and reaps orphaned processes. */
  init?: boolean;
  /** The command as a list (a string command is split on spaces). */
  command: string[];
  profiles?: string[];
  healthcheck?: { test?: unknown; disable?: boolean };
  logging?: { driver?: string; options?: Record<string, unknown> };
  ports: PortMapping[];
  environment: Record<string, string>;
  labels: Record<string, string>;
  secrets: string[];
  volumes: VolumeMount[];
  /** The services it waits on with `depends_on: {<name>: {condition: service_healthy}}`. */
  waitsHealthyFor: string[];
}

export interface PortMapping {
  raw: string;
  hostIp?: string;
  /** The host side's port, when the mapping names one (not `ip::container`, not a range). */
  hostPort?: number;
  containerPort?: number;
}

export interface VolumeMount {
  source: string;
  target: string;
  readOnly: boolean;
  /** bind: a host path (relative to the compose file or absolute); volume: a named volume. */
  kind: 'bind' | 'volume';
}

export interface ComposeModel {
  services: ComposeService[];
  /** Top-level secrets: name → file (as written, relative to the compose file). */
  secretFiles: Record<string, string>;
}

/** Label naming the uid that reads a service's secret files when its image drops root itself. */
export const SECRETS_UID_LABEL = 'io.healthmate.secrets-uid';
/** Label that excuses a service without a healthcheck; its value must say why. */
export const HEALTHCHECK_EXEMPT_LABEL = 'io.healthmate.healthcheck-exempt';

type Raw = Record<string, unknown>;

function asRecord(value: unknown): Raw {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Raw) : {};
}

function keyValues(value: unknown): Record<string, string> {
  if (Array.isArray(value)) {
    return Object.fromEntries(
      value.map((entry) => {
        const text = String(entry);
        const eq = text.indexOf('=');
        return eq < 0 ? [text, ''] : [text.slice(0, eq), text.slice(eq + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(asRecord(value)).map(([k, v]) => [k, v === null || v === undefined ? '' : String(v)]));
}

const PORT = /^\d+$/;

function numbers(host: unknown, container: unknown): Pick<PortMapping, 'hostPort' | 'containerPort'> {
  const h = String(host ?? '');
  const c = String(container ?? '').replace(/\/(tcp|udp)$/, '');
  return { ...(PORT.test(h) ? { hostPort: Number(h) } : {}), ...(PORT.test(c) ? { containerPort: Number(c) } : {}) };
}

function parsePort(entry: unknown): PortMapping {
  if (typeof entry === 'object' && entry !== null) {
    const long = entry as Raw;
    const raw = JSON.stringify(long);
    return { raw, ...(typeof long.host_ip === 'string' ? { hostIp: long.host_ip } : {}), ...numbers(long.published, long.target) };
  }
  const raw = String(entry);
  // ip:host:container, host:container or container; IPv6 addresses come in brackets.
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(raw);
  if (v6?.[1]) {
    const [host, container] = (v6[2] ?? '').split(':');
    return { raw, hostIp: v6[1], ...numbers(host, container) };
  }
  const parts = raw.split(':');
  if (parts.length === 3 && parts[0]) return { raw, hostIp: parts[0], ...numbers(parts[1], parts[2]) };
  return parts.length === 2 ? { raw, ...numbers(parts[0], parts[1]) } : { raw };
}

function parseVolume(entry: unknown): VolumeMount {
  if (typeof entry === 'object' && entry !== null) {
    const long = entry as Raw;
    return {
      source: String(long.source ?? ''),
      target: String(long.target ?? ''),
      readOnly: long.read_only === true,
      kind: long.type === 'bind' ? 'bind' : 'volume',
    };
  }
  const [source = '', target = '', options = ''] = String(entry).split(':');
  if (target === '') return { source: '', target: source, readOnly: false, kind: 'volume' };
  const isPath = source.startsWith('.') || source.startsWith('/') || source.startsWith('~');
  return { source, target, readOnly: options.split(',').includes('ro'), kind: isPath ? 'bind' : 'volume' };
}

/** Parses compose YAML (merge keys resolved) into the model. */
export function parseCompose(text: string, file = 'docker-compose.yml'): ComposeModel {
  let doc: Raw;
  try {
    doc = asRecord(readYaml(text));
  } catch (error) {
    throw new BadInputError(`${file} is not valid YAML: ${errorMessage(error)}`);
  }
  const services = Object.entries(asRecord(doc.services)).map(([name, value]): ComposeService => {
    const s = asRecord(value);
    const healthcheck = s.healthcheck === undefined ? undefined : (asRecord(s.healthcheck) as ComposeService['healthcheck']);
    const logging = s.logging === undefined ? undefined : (asRecord(s.logging) as ComposeService['logging']);
    return {
      name,
      ...(typeof s.image === 'string' ? { image: s.image } : {}),
      ...(s.build !== undefined ? { built: true } : {}),
      ...(s.user !== undefined ? { user: String(s.user) } : {}),
      ...(typeof s.restart === 'string' ? { restart: s.restart } : {}),
      ...(typeof s.init === 'boolean' ? { init: s.init } : {}),
      command: Array.isArray(s.command) ? s.command.map(String) : typeof s.command === 'string' ? s.command.split(/\s+/).filter(Boolean) : [],
      ...(Array.isArray(s.profiles) ? { profiles: s.profiles.map(String) } : {}),
      ...(healthcheck ? { healthcheck } : {}),
      ...(logging ? { logging } : {}),
      ports: (Array.isArray(s.ports) ? s.ports : []).map(parsePort),
      environment: keyValues(s.environment),
      labels: keyValues(s.labels),
      secrets: (Array.isArray(s.secrets) ? s.secrets : []).map((entry) => (typeof entry === 'string' ? entry : String(asRecord(entry).source ?? ''))),
      volumes: (Array.isArray(s.volumes) ? s.volumes : []).map(parseVolume),
      // The list form of depends_on means service_started.
      waitsHealthyFor: Object.entries(asRecord(s.depends_on))
        .filter(([, config]) => asRecord(config).condition === 'service_healthy')
        .map(([dependency]) => dependency),
    };
  });
  const secretFiles = Object.fromEntries(Object.entries(asRecord(doc.secrets)).map(([name, value]) => [name, String(asRecord(value).file ?? '')]));
  return { services, secretFiles };
}

export function readCompose(path: string): ComposeModel {
  return parseCompose(readFileSync(path, 'utf8'), path);
}

/**
 * The services another one waits on with `condition: service_healthy`, sorted: docker-compose
 * refuses to start a service while such a dependency of it is unhealthy.
 */
export function healthGates(model: ComposeModel): string[] {
  return [...new Set(model.services.flatMap((s) => s.waitsHealthyFor))].sort();
}

/** The uid that reads a service's secret files: the label, else `user:`, else root. */
export function secretReaderUid(service: ComposeService): number {
  const label = service.labels[SECRETS_UID_LABEL];
  if (label !== undefined && /^\d+$/.test(label)) return Number(label);
  const uid = service.user?.split(':')[0];
  return uid && /^\d+$/.test(uid) ? Number(uid) : 0;
}

export interface SecretOwner {
  /** Path relative to the compose file, e.g. ./secrets/database_url. */
  file: string;
  uid: number;
  services: string[];
}

/** Which uid must own each secret file; conflicts are reported by the policy check. */
export function secretOwners(model: ComposeModel): { owners: SecretOwner[]; conflicts: string[] } {
  const byName = new Map<string, SecretOwner>();
  const conflicts: string[] = [];
  for (const service of model.services) {
    const uid = secretReaderUid(service);
    for (const name of service.secrets) {
      const file = model.secretFiles[name] ?? '';
      const owner = byName.get(name);
      if (!owner) byName.set(name, { file, uid, services: [service.name] });
      else {
        owner.services.push(service.name);
        if (owner.uid !== uid)
          conflicts.push(
            `secret ${name} is read by ${owner.services.slice(0, -1).join(', ')} (uid ${owner.uid}) and ${service.name} (uid ${uid}); give each its own secret file.`,
          );
      }
    }
  }
  return { owners: [...byName.values()].sort((a, b) => a.file.localeCompare(b.file)), conflicts };
}
