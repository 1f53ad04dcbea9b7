import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { HOST_ROLES, type HostRole } from '../env/inventory.js';
import { BadInputError } from '../errors.js';
import type { BundleFile } from '../render/bundle.js';
import type { HostFilter } from '../render/derived.js';
import { readYaml } from '../yaml-data.js';
import { type ComposeModel, type ComposeService, parseCompose } from './model.js';

/**
 * A host's bundle holds the compose services of its roles: each service names
 * its role with this label (db: etcd, postgres, pgbackrest; app: the rest).
 */
export const ROLE_LABEL = 'io.healthmate.role';
const COMPOSE_FILE = 'docker-compose.yml';
/** The top-level compose sections whose entries a host may not use. */
const SECTIONS = ['services', 'volumes', 'networks', 'secrets'] as const;
type Section = (typeof SECTIONS)[number];

type Raw = Record<string, unknown>;
const record = (value: unknown): Raw => (value && typeof value === 'object' && !Array.isArray(value) ? (value as Raw) : {});
const names = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : Object.keys(record(value)));

/** The role a service runs on; a service without the label runs only where a host holds every role (one host: dev, or the default). */
function roleOf(name: string, labels: Record<string, string>, roles: readonly HostRole[]): HostRole | 'every' {
  const role = labels[ROLE_LABEL];
  if (role === undefined) {
    if (HOST_ROLES.every((r) => roles.includes(r))) return 'every';
    throw new BadInputError(
      `service ${name} of ${COMPOSE_FILE} has no ${ROLE_LABEL} label, so no host of roles ${roles.join(',')} can tell whether it runs it; label it db or app.`,
    );
  }
  if (!(HOST_ROLES as readonly string[]).includes(role))
    throw new BadInputError(`service ${name} of ${COMPOSE_FILE} has ${ROLE_LABEL}: ${role}; the roles are db and app.`);
  return role as HostRole;
}

/** What the services of the given roles keep of a compose file, and what goes. */
export interface RoleSplit {
  kept: string[];
  dropped: Record<Section, string[]>;
  /** Bundle paths (folders or files) the kept and the dropped services read: bind mounts, build contexts, secret files. */
  keptSources: string[];
  droppedSources: string[];
}

/** What a service reads from its bundle: bind-mounted folders and files, its build context, its secret files (bundle paths). */
function serviceSources(model: ComposeModel, services: Raw, service: ComposeService): string[] {
  const build = record(services[service.name]).build;
  const context = typeof build === 'string' ? build : record(build).context;
  return [
    ...service.volumes.filter((v) => v.kind === 'bind' && v.source.startsWith('.')).map((v) => v.source),
    ...(typeof context === 'string' ? [context] : []),
    ...service.secrets.map((name) => model.secretFiles[name] ?? ''),
  ]
    .filter(Boolean)
    .map((path) => posix.normalize(path).replace(/\/$/, ''));
}

/**
 * What a service runs as, for telling whether it changed between two bundles:
 * its definition in the compose file (image, command, environment, mounts…)
 * and the content of everything it reads from the bundle (for PostgreSQL:
 * patroni/, postgres/ and its secret files). Undefined when the bundle has no such service.
 */
export function serviceFingerprint(bundleDir: string, name: string): string | undefined {
  const text = readFileSync(join(bundleDir, COMPOSE_FILE), 'utf8');
  const model = parseCompose(text, COMPOSE_FILE);
  const services = record(record(readYaml(text)).services);
  const service = model.services.find((s) => s.name === name);
  if (!service) return undefined;
  const hash = createHash('sha256').update(JSON.stringify(services[name]));
  for (const source of serviceSources(model, services, service).sort()) {
    for (const file of filesUnder(bundleDir, source)) hash.update(`\0${file}\0`).update(readFileSync(join(bundleDir, file)));
  }
  return hash.digest('hex');
}

function filesUnder(root: string, path: string): string[] {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(join(root, path));
  } catch {
    return [];
  }
  if (!stat.isDirectory()) return [path];
  return readdirSync(join(root, path))
    .sort()
    .flatMap((name) => filesUnder(root, posix.join(path, name)));
}

export function splitByRoles(composeText: string, roles: readonly HostRole[]): RoleSplit {
  const model = parseCompose(composeText, COMPOSE_FILE);
  const raw = record(readYaml(composeText));
  const services = record(raw.services);
  const kept = model.services.filter((s) => {
    const role = roleOf(s.name, s.labels, roles);
    return role === 'every' || roles.includes(role);
  });
  const keptNames = new Set(kept.map((s) => s.name));
  const dropped = model.services.filter((s) => !keptNames.has(s.name));
  for (const service of kept) {
    const across = names(record(services[service.name]).depends_on).filter((dep) => !keptNames.has(dep));
    if (across.length > 0)
      throw new BadInputError(
        `service ${service.name} of ${COMPOSE_FILE} depends on ${across.join(', ')}, which runs on the hosts of another role; a service depends only on services of its own role.`,
      );
  }
  const sources = (list: typeof kept): string[] => list.flatMap((s) => serviceSources(model, services, s));
  const used = (pick: (s: (typeof kept)[number]) => string[]): Set<string> => new Set(kept.flatMap(pick));
  const volumes = used((s) => s.volumes.filter((v) => v.kind === 'volume' && v.source).map((v) => v.source));
  const networks = used((s) => {
    const listed = names(record(services[s.name]).networks);
    return listed.length > 0 ? listed : ['default'];
  });
  const secrets = used((s) => s.secrets);
  const unused = (section: Section, inUse: Set<string>): string[] => Object.keys(record(raw[section])).filter((name) => !inUse.has(name));
  return {
    kept: [...keptNames],
    dropped: {
      services: dropped.map((s) => s.name),
      volumes: unused('volumes', volumes),
      networks: unused('networks', networks),
      secrets: unused('secrets', secrets),
    },
    keptSources: sources(kept),
    droppedSources: sources(dropped),
  };
}

const TOP_LEVEL = /^([A-Za-z_][\w.-]*):/;
const ENTRY = /^ {2}(["']?)([^\s"'#][^:"']*)\1:(\s|$)/;

/**
 * Removes whole entries (a service, a volume…) from a compose file's text, so
 * everything kept stays byte for byte, comments included: an entry runs from
 * its key (with the comment lines right above it) to the next entry or
 * top-level key. A section left empty becomes `name: {}`.
 */
export function removeEntries(text: string, remove: Record<Section, string[]>): string {
  const lines = text.split('\n');
  const owner: (string | undefined)[] = [];
  let section: string | undefined;
  let entry: string | undefined;
  lines.forEach((line, i) => {
    const top = TOP_LEVEL.exec(line);
    const key = ENTRY.exec(line);
    if (top) {
      section = top[1];
      entry = undefined;
      // The blank lines before a top-level key separate sections: no entry owns them.
      for (let j = i - 1; j >= 0 && lines[j] === ''; j--) owner[j] = undefined;
    } else if (key && section) {
      entry = `${section}/${key[2]}`;
      // The comment lines right above a key describe it.
      for (let j = i - 1; j >= 0 && /^ {2}#/.test(lines[j] as string); j--) owner[j] = entry;
    } else if (/^\S/.test(line)) {
      entry = undefined;
    }
    owner[i] = entry;
  });
  // Nor the blank lines that end the file.
  for (let j = lines.length - 1; j >= 0 && lines[j] === ''; j--) owner[j] = undefined;
  const removed = new Set(SECTIONS.flatMap((s) => remove[s].map((name) => `${s}/${name}`)));
  const kept = lines.filter((_, i) => !removed.has(owner[i] as string));
  const out: string[] = [];
  for (const [i, line] of kept.entries()) {
    if (line === '' && out.at(-1) === '') continue;
    const top = TOP_LEVEL.exec(line);
    const next = kept.slice(i + 1).find((l) => l.trim() !== '' && !/^\s*#/.test(l));
    // A section whose every entry went.
    if (top && line.trimEnd() === `${top[1]}:` && (next === undefined || !/^\s/.test(next))) out.push(`${top[1]}: {}`);
    else out.push(line);
  }
  return out.join('\n');
}

const under = (path: string, source: string): boolean => path === source || path.startsWith(`${source}/`);

/**
 * The host filter of the stack: a host's bundle holds only the compose services
 * of its roles, the volumes, networks and secrets they use, and no file only
 * the others read (their bind mounts, build contexts, secret files). A host with
 * every role keeps everything. Files no service reads (k8s/, backups/, up.sh)
 * stay in every bundle.
 */
export const composeForRoles: HostFilter = (_env, roles, files, host) => {
  const compose = files.find((f) => f.path === COMPOSE_FILE);
  if (!compose) return files;
  const split = splitByRoles(compose.content, roles);
  if (SECTIONS.every((s) => split.dropped[s].length === 0)) return files;
  const header = `# Host ${host.name} (roles ${roles.join(', ')}): only the services of its roles (label ${ROLE_LABEL}); the others run on the other hosts.\n`;
  const filtered: BundleFile = { ...compose, content: header + removeEntries(compose.content, split.dropped) };
  const droppedOnly = (path: string): boolean => split.droppedSources.some((s) => under(path, s)) && !split.keptSources.some((s) => under(path, s));
  return files.filter((f) => !droppedOnly(f.path)).map((f) => (f === compose ? filtered : f));
};
