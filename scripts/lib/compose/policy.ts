import { posix } from 'node:path';
import { type ComposeModel, type ComposeService, HEALTHCHECK_EXEMPT_LABEL, type PortMapping, secretOwners } from './model.js';

export interface PolicyFinding {
  service?: string;
  message: string;
  severity: 'error' | 'warning';
}

/** The one service allowed to publish ports on every interface. */
export const PUBLIC_SERVICE = 'nginx';
const RESTART_POLICIES = new Set(['always', 'unless-stopped', 'on-failure']);
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;
const SECRET_NAME = /(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY|CREDENTIALS)/i;
const FILE_SUFFIX = /_FILE$/i;
const URL_WITH_CREDENTIALS = /:\/\/[^/\s:@]*:[^/\s@]+@/;

/** Services that run until stopped (profile services such as certbot are one-shot). */
function isLongRunning(service: ComposeService): boolean {
  return !service.profiles?.length;
}

/** PostgreSQL itself (not `pgbackrest server`) with pgBackRest configured: archive-push or a restore's archive-get. */
function runsArchivingPostgres(service: ComposeService): boolean {
  return service.command[0] === 'postgres' && service.environment.PGBACKREST_CONFIG !== undefined;
}

function imageProblem(image: string | undefined): string | undefined {
  if (!image) return 'has no image (every service runs a pinned image; builds happen in CI, not on the host).';
  if (image.includes('@sha256:')) return undefined;
  const lastSegment = image.split('/').pop() ?? image;
  if (!lastSegment.includes(':')) return `image ${image} has no tag; pin a version.`;
  if (lastSegment.endsWith(':latest')) return `image ${image} uses latest; pin a version.`;
  return undefined;
}

/**
 * Ports a service may publish on one non-loopback address: a db host's cluster
 * ports (etcd, PostgreSQL, Patroni's REST API) on its private address, where
 * the other hosts dial them. Same port on both sides, nothing else.
 */
export interface AddressPorts {
  address: string;
  ports: Record<string, number[]>;
}

function publishedOnAddress(service: string, port: PortMapping, allowed: AddressPorts | undefined): boolean {
  if (!allowed || port.hostIp !== allowed.address || port.hostPort === undefined) return false;
  return port.hostPort === port.containerPort && (allowed.ports[service] ?? []).includes(port.hostPort);
}

/**
 * The stack's rules: health checks, restart policies and log limits on every
 * long-running service, pinned images, no public ports except nginx (and the
 * cluster ports on the host's private address), no secret
 * in an environment literal, every bundle file a service mounts present, and
 * one reader uid per secret file.
 */
export function checkPolicy(model: ComposeModel, options: { bundleFiles: string[]; secretValues: string[]; onAddress?: AddressPorts }): PolicyFinding[] {
  const findings: PolicyFinding[] = [];
  const error = (service: string | undefined, message: string): void => {
    findings.push({ ...(service ? { service } : {}), message, severity: 'error' });
  };
  const files = new Set(options.bundleFiles);
  const exists = (relative: string): boolean => {
    const path = posix.normalize(relative).replace(/\/$/, '');
    return files.has(path) || options.bundleFiles.some((f) => f.startsWith(`${path}/`));
  };
  const secrets = options.secretValues.filter((s) => s.length >= 4);

  for (const service of model.services) {
    const name = service.name;
    const imageIssue = imageProblem(service.image);
    if (imageIssue) error(name, imageIssue);
    if (isLongRunning(service)) {
      const hc = service.healthcheck;
      const exempt = service.labels[HEALTHCHECK_EXEMPT_LABEL]?.trim();
      if ((!hc || hc.disable === true || hc.test === undefined) && !exempt) {
        error(name, `has no healthcheck; add one, or the label ${HEALTHCHECK_EXEMPT_LABEL} saying why it cannot have one.`);
      }
      if (!service.restart || !RESTART_POLICIES.has(service.restart)) error(name, 'has no restart policy; set restart: unless-stopped.');
      const options = service.logging?.options ?? {};
      if (options['max-size'] === undefined || options['max-file'] === undefined) {
        error(name, 'has no log limits; use the x-logging anchor (json-file with max-size and max-file).');
      }
    }
    if (runsArchivingPostgres(service) && service.init !== true) {
      error(
        name,
        'runs PostgreSQL with pgBackRest, whose async archive-push/archive-get detaches a process: without init: true PostgreSQL is PID 1, reaps it, and takes its failure for a crashed server process (every connection dropped, crash recovery every few seconds); set init: true.',
      );
    }
    for (const port of service.ports) {
      if (name === PUBLIC_SERVICE || (port.hostIp && LOOPBACK.test(port.hostIp)) || publishedOnAddress(name, port, options.onAddress)) continue;
      const cluster =
        options.onAddress && (options.onAddress.ports[name] ?? []).length > 0 ? ` or to ${options.onAddress.address} with the same port on both sides` : '';
      error(name, `publishes ${port.raw} beyond loopback; only ${PUBLIC_SERVICE} may, bind it to 127.0.0.1${cluster} instead.`);
    }
    for (const [key, value] of Object.entries(service.environment)) {
      if (secrets.some((secret) => value.includes(secret))) error(name, `environment ${key} contains a secret value; use a secret file.`);
      else if (SECRET_NAME.test(key) && !FILE_SUFFIX.test(key) && value !== '') {
        error(name, `environment ${key} looks like a secret in a literal; pass it as a file (${key}_FILE or a compose secret).`);
      } else if (URL_WITH_CREDENTIALS.test(value)) error(name, `environment ${key} holds a URL with credentials; pass it as a secret file.`);
    }
    for (const volume of service.volumes) {
      if (volume.kind !== 'bind' || !volume.source.startsWith('.')) continue;
      if (!exists(volume.source)) error(name, `mounts ${volume.source}, which is not in the bundle.`);
      else if (files.has(posix.normalize(volume.source))) {
        findings.push({
          service: name,
          message: `mounts the single file ${volume.source}: a deploy replaces the file and the container keeps the old one; mount its folder.`,
          severity: 'warning',
        });
      }
    }
    for (const secret of service.secrets) {
      if (!(secret in model.secretFiles)) error(name, `uses secret ${secret}, which the top-level secrets: section does not define.`);
    }
  }
  for (const [secret, file] of Object.entries(model.secretFiles)) {
    if (!file) error(undefined, `secret ${secret} has no file:.`);
    else if (!exists(file)) error(undefined, `secret ${secret} reads ${file}, which the render did not produce (is its variable set?).`);
  }
  for (const conflict of secretOwners(model).conflicts) error(undefined, conflict);
  return findings;
}
