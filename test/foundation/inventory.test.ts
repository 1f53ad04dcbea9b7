import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXAMPLE_SECRET, envExampleText } from '../../scripts/lib/env/example.js';
import { dbHosts, dockerHostOf, isHostAddress } from '../../scripts/lib/env/inventory.js';
import { EnvError, formatProblem, type LoadedEnv, loadEnv } from '../../scripts/lib/env/load.js';
import { tempDir } from '../helpers/tmp.js';

const STRONG = 'Zq8v3LkP0sWn7YtR4bXe1HuC6mJa9FdG';

/** A prod env file a real run accepts, with `hosts` appended; returns its path and the first host line's number. */
function prodFile(hosts: string[]): { file: string; firstLine: number } {
  const lines = envExampleText()
    .split('\n')
    .map((line, i) => line.replace(EXAMPLE_SECRET, `${STRONG}${i}`).replace(/^DOMAIN=.*/, 'DOMAIN=api.healthmate.org'));
  const file = join(tempDir(), '.env.prod');
  writeFileSync(file, [...lines, ...hosts].join('\n'));
  return { file, firstLine: lines.length + 1 };
}

function load(hosts: string[], overrides: Record<string, string> = {}): LoadedEnv {
  return loadEnv({ env: 'prod', envFile: prodFile(hosts).file, purpose: 'apply', processEnv: {}, overrides });
}

function problems(hosts: string[]): string[] {
  const { file } = prodFile(hosts);
  try {
    loadEnv({ env: 'prod', envFile: file, purpose: 'apply', processEnv: {} });
  } catch (error) {
    if (error instanceof EnvError) return error.problems.map((p) => formatProblem(p).replace(file, 'FILE'));
    throw error;
  }
  throw new Error('expected the inventory to be refused');
}

const THREE = [
  'HOST_DB1=engine=ssh://deploy@db1.internal roles=db,app address=10.0.0.11',
  'HOST_DB2=engine=ssh://deploy@db2.internal:2222 roles=db,app address=10.0.0.12',
  'HOST_DB3=roles=db address=10.0.0.13 engine=ssh://db3.internal',
];

describe('inventory', () => {
  it('is one host with both roles on the local engine when the env file has no HOST_ line', () => {
    const env = load([]);
    expect(env.inventory).toEqual({ implicit: true, hosts: [{ name: 'main', engine: { kind: 'local' }, roles: ['db', 'app'] }] });
    expect(dockerHostOf(env.inventory.hosts[0] as never)).toBeUndefined();
  });

  it('reads each HOST_ line: name from the variable, engine, roles in a fixed order, address; keys in any order', () => {
    const env = load(THREE);
    expect(env.inventory.implicit).toBe(false);
    expect(env.inventory.hosts.map((h) => [h.name, h.roles.join(','), h.address, dockerHostOf(h)])).toEqual([
      ['db1', 'db,app', '10.0.0.11', 'ssh://deploy@db1.internal'],
      ['db2', 'db,app', '10.0.0.12', 'ssh://deploy@db2.internal:2222'],
      ['db3', 'db', '10.0.0.13', 'ssh://db3.internal'],
    ]);
    expect(env.inventory.hosts[1]?.engine).toMatchObject({ kind: 'ssh', user: 'deploy', hostname: 'db2.internal', port: 2222 });
    expect(dbHosts(env.inventory).map((h) => h.name)).toEqual(['db1', 'db2', 'db3']);
  });

  it('takes a HOST_ line from --set over the file, and refuses HOST_ lines outside prod', () => {
    const env = load(THREE, { HOST_DB3: 'engine=ssh://db3.internal roles=db,app address=10.0.0.23' });
    expect(env.inventory.hosts.find((h) => h.name === 'db3')).toMatchObject({ roles: ['db', 'app'], address: '10.0.0.23' });
    expect(() => loadEnv({ env: 'dev', purpose: 'plan', processEnv: {}, overrides: { HOST_A: 'engine=local roles=db,app' } })).toThrow(
      /HOST_A \(from --set\) \(host a\) is for production: dev runs on one machine/,
    );
  });

  it('warns of an even db count above two, with the reason', () => {
    const env = load([...THREE, 'HOST_DB4=engine=ssh://db4.internal roles=db address=10.0.0.14']);
    expect(env.warnings.map(formatProblem).join('\n')).toMatch(/give 4 hosts the db role: etcd survives no more losses than with 3/);
  });

  // Each row: the HOST_ lines, and the one problem they must give (file and line named).
  const BAD: [string, string[], RegExp][] = [
    [
      'two db hosts (no quorum after a loss)',
      THREE.slice(0, 2),
      /^FILE:L1: HOST_DB1 and the other HOST_ lines give two hosts the db role: etcd needs a majority/,
    ],
    ['no db host', ['HOST_A=engine=ssh://a roles=app address=10.0.0.1'], /^FILE:L1: HOST_A .*give no host the db role/],
    ['no app host', ['HOST_A=engine=ssh://a roles=db address=10.0.0.1'], /^FILE:L1: HOST_A .*give no host the app role/],
    ['an unknown role', ['HOST_A=engine=local roles=db,web'], /^FILE:L1: HOST_A \(host a\) has role "web"; the roles are db and app\.$/],
    ['a role twice', ['HOST_A=engine=local roles=db,db'], /names a role twice/],
    ['no engine', ['HOST_A=roles=db,app'], /\(host a\) has no engine=/],
    ['no roles', ['HOST_A=engine=local'], /\(host a\) has no roles=/],
    ['an unknown key', ['HOST_A=engine=local roles=db,app user=root'], /has "user=root"; write engine=… roles=… \[address=…\]/],
    ['a key twice', ['HOST_A=engine=local roles=db roles=app'], /sets roles= twice/],
    ['a tcp engine', ['HOST_A=engine=tcp://10.0.0.1:2375 roles=db,app'], /engine=tcp:\/\/10\.0\.0\.1:2375 is neither local nor ssh/],
    [
      'an ssh engine with a password (never echoed)',
      ['HOST_A=engine=ssh://root:hunter2@a roles=db,app'],
      /engine= holds a password; ssh authenticates with keys/,
    ],
    ['an ssh host starting with -', ['HOST_A=engine=ssh://-oProxyCommand=x roles=db,app'], /names no valid host|not a valid ssh/],
    [
      'an address with an IPv6 zone id',
      ['HOST_A=engine=local roles=db,app address=fe80::1%eth0'],
      /address=fe80::1%eth0, which is not an IP address \(no zone id\)/,
    ],
    [
      'a host name that is no DNS label',
      ['HOST_1DB=engine=local roles=db,app'],
      /^FILE:L1: HOST_1DB \(host 1db\) names host "1db": a host name is a lower-case DNS label/,
    ],
    [
      'several hosts without an address',
      ['HOST_A=engine=ssh://a roles=db,app address=10.0.0.1', 'HOST_B=engine=ssh://b roles=app'],
      /^FILE:L2: HOST_B \(host b\) has no address=: with several hosts/,
    ],
    [
      'the same engine twice',
      ['HOST_A=engine=ssh://x@h1 roles=db,app address=10.0.0.1', 'HOST_B=engine=ssh://y@h1:22 roles=app address=10.0.0.2'],
      /^FILE:L2: HOST_B \(host b\) reaches the same engine as host a \(h1:22\); a host is named once\.$/,
    ],
    [
      'the same address twice',
      ['HOST_A=engine=ssh://h1 roles=db,app address=10.0.0.1', 'HOST_B=engine=ssh://h2 roles=app address=10.0.0.1'],
      /has the address of host a \(10\.0\.0\.1\)/,
    ],
    [
      'two local engines',
      ['HOST_A=engine=local roles=db,app address=10.0.0.1', 'HOST_B=engine=local roles=app address=10.0.0.2'],
      /reaches the same engine as host a \(local\)/,
    ],
    ['a quote in a line', ['HOST_A=engine=local roles=db,app address="10.0.0.1"x'], /HOST_A holds a quote, backslash or \$/],
  ];

  it.each(BAD)('refuses %s, naming the file, line and host', (_name, hosts, expected) => {
    const { firstLine } = prodFile(hosts);
    const found = problems(hosts).map((p) => p.replace(/^FILE:(\d+)/, (_m, n) => `FILE:L${Number(n) - firstLine + 1}`));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(expected);
    expect(found.join('\n')).not.toContain('hunter2');
  });

  it('tells host addresses from other text', () => {
    expect(['10.0.0.1', '::1', '2001:db8::5', 'db1.internal', 'db-1'].filter(isHostAddress)).toHaveLength(5);
    expect(['256.1.1.1', 'fe80::1%eth0', '1::2::3', '-a', 'a..b', '10.0.0.999'].filter(isHostAddress)).toEqual([]);
  });
});
