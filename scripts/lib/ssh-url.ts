/**
 * ssh://[user@]host[:port]: how the inventory's engine= and DOCKER_HOST name a
 * Docker engine reached over ssh. One reading for both, so a host the inventory
 * accepts is one the deploy can reach. ssh reads a user or host starting with
 * "-" as an option (-oProxyCommand=… runs a command), so both must be plain
 * names; ssh never takes a password from a URL.
 */
export interface SshUrl {
  /** Without the brackets of an IPv6 address. */
  hostname: string;
  user?: string;
  port?: number;
}

export interface SshUrlProblem {
  /** Follows the URL in a message: `DOCKER_HOST <url> <problem>.` */
  problem: string;
  hint: string;
}

const PLAIN_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const PLAIN_RULE = '(letters, digits, . _ -, not starting with -)';
const SSH_URL_FORM = 'write it as ssh://user@host or ssh://user@host:port';

export function parseSshUrl(raw: string): SshUrl | SshUrlProblem {
  const form = { hint: SSH_URL_FORM };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { problem: 'is not a valid ssh:// URL', ...form };
  }
  if (url.protocol !== 'ssh:') return { problem: 'is not an ssh:// URL', ...form };
  if (url.password)
    return { problem: 'holds a password, which ssh never takes from a URL', hint: 'remove it and let ssh use a key (ssh-agent, ~/.ssh/config)' };
  if ((url.pathname !== '' && url.pathname !== '/') || url.search || url.hash) return { problem: 'has a path, query or fragment after the host', ...form };
  const ipv6 = url.hostname.startsWith('[');
  const hostname = ipv6 ? url.hostname.slice(1, -1) : url.hostname;
  if (!hostname) return { problem: 'names no host', ...form };
  const user = decodeURIComponent(url.username);
  if (user !== '' && !PLAIN_NAME.test(user)) return { problem: `names a user that is not a plain name ${PLAIN_RULE}`, ...form };
  if (!(ipv6 || PLAIN_NAME.test(hostname))) return { problem: `names a host that is not a plain name ${PLAIN_RULE}`, ...form };
  return { hostname, ...(user ? { user } : {}), ...(url.port ? { port: Number(url.port) } : {}) };
}

/** A URL for a message: the password of user:password@ never shown (up to the last @, so a / or @ in it stays hidden too). */
export function withoutPassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*):.*@/i, '$1:***@');
}
