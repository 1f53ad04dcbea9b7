import { spawnSync } from 'node:child_process';

/**
 * The e2e hosts' network. One bridge in the root namespace is the switch; each host is a
 * network namespace plugged into it by a veth pair (`eth0` inside). Addresses come from one
 * free /24 of 198.19.0.0/16: the other half of RFC 2544's benchmark block, whose first half
 * (198.18.0.0/16) holds the private daemons' container networks, so neither can be taken for
 * a real network nor for a Docker pool. The root namespace (the operator: the test process)
 * owns `.1`; host i owns `.(11 + i)`.
 */
export interface Switch {
  bridge: string;
  /** e.g. 198.19.42 (the /24 without its last byte). */
  prefix: string;
}

export interface Plug {
  netns: string;
  /** The veth end in the root namespace, on the bridge: taking it down cuts the host off. */
  link: string;
  address: string;
}

function ip(args: string[], what = `ip ${args.join(' ')}`): void {
  const result = spawnSync('ip', args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${what} failed: ${(result.stderr ?? '').trim()}`);
}

/** A /24 of 198.19.0.0/16 that no route or address here uses. */
function freeSubnet(): string {
  const routes = spawnSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' }).stdout ?? '';
  const used = new Set([...routes.matchAll(/198\.19\.(\d+)\./g)].map((m) => Number(m[1])));
  const free = [...Array(256).keys()].filter((third) => !used.has(third));
  if (free.length === 0) throw new Error('every /24 of 198.19.0.0/16 is routed on this machine: remove the leftovers of earlier e2e runs.');
  return `198.19.${free[Math.floor(Math.random() * free.length)]}`;
}

export function createSwitch(bridge: string): Switch {
  const prefix = freeSubnet();
  ip(['link', 'add', bridge, 'type', 'bridge']);
  ip(['addr', 'add', `${prefix}.1/24`, 'dev', bridge]);
  ip(['link', 'set', bridge, 'up']);
  return { bridge, prefix };
}

/**
 * A fresh namespace (as a machine after boot: lo and eth0, nothing else) plugged into the switch.
 * eth0 keeps one MAC address across boots, as a machine's NIC does (a locally administered one
 * made of the IPv4 address): the other hosts' neighbour entries stay right after a reboot.
 */
export function plug(sw: Switch, plugged: Plug): void {
  const mac = ['02', '00', ...plugged.address.split('.').map((byte) => Number(byte).toString(16).padStart(2, '0'))].join(':');
  ip(['netns', 'add', plugged.netns]);
  ip(['link', 'add', plugged.link, 'type', 'veth', 'peer', 'name', 'eth0', 'address', mac, 'netns', plugged.netns]);
  ip(['link', 'set', plugged.link, 'master', sw.bridge, 'up']);
  ip(['-n', plugged.netns, 'addr', 'add', `${plugged.address}/24`, 'dev', 'eth0']);
  ip(['-n', plugged.netns, 'link', 'set', 'eth0', 'up']);
  ip(['-n', plugged.netns, 'link', 'set', 'lo', 'up']);
}

/** The namespace and its veth pair gone (deleting one end deletes both, at once). Missing parts are fine. */
export function unplug(plugged: Plug): void {
  spawnSync('ip', ['link', 'delete', plugged.link]);
  spawnSync('ip', ['netns', 'delete', plugged.netns]);
}

/** Link down: the host runs on, cut off from the switch (both directions). */
export function setLink(plugged: Plug, up: boolean): void {
  ip(['link', 'set', plugged.link, up ? 'up' : 'down']);
}

/**
 * Routes a host's container pool to it from the root namespace. Nothing here sends there;
 * the route is how addressPools() of any other private daemon on this machine sees the
 * slice as taken. It goes with the bridge.
 */
export function routePool(sw: Switch, pool: string, via: string): void {
  ip(['route', 'add', pool, 'via', via, 'dev', sw.bridge]);
}

export function removeSwitch(sw: Switch): void {
  spawnSync('ip', ['link', 'delete', sw.bridge]);
}
