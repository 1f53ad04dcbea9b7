import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { $ } from 'zx/core';
import { privateTempDir } from '../../cleanup.js';
import { PATRONI_CONFIG } from '../../cluster/config-test.js';
import { requireTool } from '../../tools.js';
import { readYaml } from '../../yaml-data.js';
import { type CheckContext, error, type Problem, type Validator, warning } from '../types.js';

export const PGBACKREST_CONFIGS = { db: 'postgres/pgbackrest/pgbackrest.conf', repo: 'repo-host/pgbackrest/pgbackrest.conf' } as const;
const REPO_COMPOSE = 'repo-host/docker-compose.yml';

/** section → key → value (later keys win, as in pgBackRest). */
export type Ini = Map<string, Map<string, string>>;

export function parseIni(text: string): Ini {
  const sections: Ini = new Map();
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const section = /^\[([^\]]+)\]$/.exec(line);
    if (section) {
      current = section[1] as string;
      continue;
    }
    const kv = /^([^=]+?)\s*=\s*(.*)$/.exec(line);
    if (!kv) continue;
    if (!sections.has(current)) sections.set(current, new Map());
    sections.get(current)?.set(kv[1] as string, kv[2] as string);
  }
  return sections;
}

const REQUIRED: Record<'db' | 'repo', { global: Record<string, string | null>; stanza: Record<string, string | null> }> = {
  db: {
    global: {
      'repo1-host': null,
      'repo1-host-type': 'tls',
      'repo1-host-ca-file': null,
      'repo1-host-cert-file': null,
      'repo1-host-key-file': null,
      'repo1-path': null,
      'repo1-cipher-type': 'aes-256-cbc',
      'archive-async': 'y',
      'spool-path': null,
      'tls-server-ca-file': null,
      'tls-server-cert-file': null,
      'tls-server-key-file': null,
      'tls-server-auth': null,
    },
    stanza: { 'pg1-path': null },
  },
  repo: {
    global: {
      'repo1-path': null,
      'repo1-cipher-type': 'aes-256-cbc',
      'repo1-retention-full': null,
      'tls-server-ca-file': null,
      'tls-server-cert-file': null,
      'tls-server-key-file': null,
      'tls-server-auth': null,
    },
    stanza: { 'pg1-host': null, 'pg1-host-type': 'tls', 'pg1-host-ca-file': null, 'pg1-host-cert-file': null, 'pg1-host-key-file': null, 'pg1-path': null },
  },
};

/** Required keys and values, host names instead of IPs, no passphrase, each side admitting the other's CN. */
export function checkPgbackrestConfigs(texts: Record<'db' | 'repo', string>, stanza: string): Problem[] {
  const problems: Problem[] = [];
  const parsed = { db: parseIni(texts.db), repo: parseIni(texts.repo) };
  for (const side of ['db', 'repo'] as const) {
    const file = PGBACKREST_CONFIGS[side];
    const ini = parsed[side];
    for (const [section, required] of [
      ['global', REQUIRED[side].global],
      [stanza, REQUIRED[side].stanza],
    ] as const) {
      const values = ini.get(section);
      if (!values) {
        problems.push(error(`the [${section}] section is missing.`, file));
        continue;
      }
      for (const [key, want] of Object.entries(required)) {
        const have = values.get(key);
        if (have === undefined || have === '') problems.push(error(`${key} is required in [${section}].`, file));
        else if (want !== null && have !== want) problems.push(error(`${key} must be ${want}, not ${have}.`, file));
      }
    }
    for (const [section, values] of ini) {
      if (values.has('repo1-cipher-pass'))
        problems.push(error(`repo1-cipher-pass in [${section}]: the passphrase belongs in secrets/pgbackrest_cipher.conf only.`, file));
      for (const key of [...values.keys()].filter((k) => k === 'repo1-host' || /^pg\d+-host$/.test(k)))
        if (isIP(values.get(key) as string))
          problems.push(error(`${key}=${values.get(key)} is an IP address: pgBackRest matches DNS names against the certificate, so use a host name.`, file));
    }
  }
  // Every db host's server name: the database certificate's CN, or (several db hosts) <host>.<CN>.
  const dbHosts = [...(parsed.repo.get(stanza) ?? new Map<string, string>())].filter(([key]) => /^pg\d+-host$/.test(key)).map(([, value]) => value);
  const repoHost = parsed.db.get('global')?.get('repo1-host');
  const dbAuth = parsed.db.get('global')?.get('tls-server-auth') ?? '';
  const repoAuth = parsed.repo.get('global')?.get('tls-server-auth') ?? '';
  if (repoHost && !dbAuth.startsWith(`${repoHost}=`))
    problems.push(error(`tls-server-auth must admit the repository host's CN ${repoHost} (tls-server-auth=${repoHost}=${stanza}).`, PGBACKREST_CONFIGS.db));
  const dbCn = repoAuth.split('=')[0] ?? '';
  for (const dbHost of dbHosts.filter((host) => host !== dbCn && !host.endsWith(`.${dbCn}`)))
    problems.push(
      error(
        `tls-server-auth must admit the database host's CN ${dbHost} (tls-server-auth=${dbHost}=${stanza}); with several db hosts their names are <host>.<CN>.`,
        PGBACKREST_CONFIGS.repo,
      ),
    );
  const cipher = (side: 'db' | 'repo') => parsed[side].get('global')?.get('repo1-cipher-type');
  if (cipher('db') !== cipher('repo'))
    problems.push(error('repo1-cipher-type differs between the two hosts: encryption happens on the database host, both must agree.', PGBACKREST_CONFIGS.repo));
  return problems;
}

/**
 * The real pgbackrest parses each config (`check`, with an include folder
 * holding a throwaway passphrase): option errors ([031]-[037]) and unknown
 * options are problems; the connection failure that follows is expected here.
 */
export async function pgbackrestParse(tool: string, configPath: string, file: string, stanza: string): Promise<Problem[]> {
  const include = privateTempDir('healthmate-pgbackrest-check-');
  try {
    writeFileSync(join(include.path, 'check.conf'), `[global]\nrepo1-cipher-pass=${randomBytes(16).toString('hex')}\n`, { mode: 0o600 });
    const args = [
      `--config=${configPath}`,
      `--config-include-path=${include.path}`,
      `--stanza=${stanza}`,
      '--io-timeout=1',
      '--log-level-file=off',
      `--log-path=${include.path}`,
      'check',
    ];
    const result = await $({ quiet: true, nothrow: true, timeout: '30s' })`${tool} ${args}`;
    const output = `${result.stdout}${result.stderr}`;
    const problems: Problem[] = [];
    for (const m of output.matchAll(/WARN: configuration file contains invalid option '([^']+)'/g))
      problems.push(error(`pgbackrest does not know the option ${m[1]}.`, file));
    const optionError = /ERROR: \[03[0-7]\]: ([^\n]+)/.exec(output);
    if (optionError) problems.push(error(`pgbackrest refuses the config: ${optionError[1]}`, file));
    return problems;
  } finally {
    include.remove();
  }
}

interface ComposeService {
  image?: string;
  user?: string;
  build?: { args?: Record<string, string> };
  command?: string[] | string;
  environment?: Record<string, string>;
  secrets?: (string | { source: string })[];
  volumes?: string[];
}

function services(ctx: CheckContext, file: string): Record<string, ComposeService> {
  return ((readYaml(readFileSync(join(ctx.bundleDir, file), 'utf8')) as { services?: Record<string, ComposeService> }).services ?? {}) as Record<
    string,
    ComposeService
  >;
}

function secretNames(service: ComposeService): string[] {
  return (service.secrets ?? []).map((s) => (typeof s === 'string' ? s : s.source));
}

function patroniParameters(ctx: CheckContext): Record<string, unknown> | undefined {
  if (!existsSync(join(ctx.bundleDir, PATRONI_CONFIG))) return undefined;
  const config = readYaml(readFileSync(join(ctx.bundleDir, PATRONI_CONFIG), 'utf8')) as { postgresql?: { parameters?: Record<string, unknown> } } | null;
  return config?.postgresql?.parameters;
}

/** The compose wiring pgBackRest depends on, on both hosts, and the archive settings of every member. */
export function checkPgbackrestCompose(ctx: CheckContext, stanza: string): Problem[] {
  const problems: Problem[] = [];
  const stack = services(ctx, 'docker-compose.yml');
  const repo = services(ctx, REPO_COMPOSE);
  const postgres = stack.postgres;
  if (!postgres) return [error('the stack has no postgres service.', 'docker-compose.yml')];
  // PostgreSQL runs under Patroni: every member's archive settings are its local postgresql.parameters.
  const settings = patroniParameters(ctx);
  if (!settings) return [error(`the bundle has no ${PATRONI_CONFIG} with postgresql.parameters.`, PATRONI_CONFIG)];
  const setting = (name: string) => (settings[name] === undefined ? undefined : String(settings[name]));
  if (setting('archive_mode') !== 'on') problems.push(error('postgresql.parameters.archive_mode must be on.', PATRONI_CONFIG));
  if (setting('archive_command') !== `pgbackrest --stanza=${stanza} archive-push %p`)
    problems.push(error(`archive_command must be "pgbackrest --stanza=${stanza} archive-push %p", not "${setting('archive_command') ?? ''}".`, PATRONI_CONFIG));
  const timeout = Number(setting('archive_timeout'));
  if (!(timeout > 0 && timeout <= 60))
    problems.push(error('archive_timeout must be 1-60 seconds: it bounds the data a lost host takes with it.', PATRONI_CONFIG));

  const sides: [string, string, ComposeService | undefined][] = [
    ['docker-compose.yml', 'postgres', postgres],
    ['docker-compose.yml', 'pgbackrest', stack.pgbackrest],
    [REPO_COMPOSE, 'pgbackrest-repo', repo['pgbackrest-repo']],
  ];
  for (const [file, name, service] of sides) {
    if (!service) {
      problems.push(error(`the ${name} service is missing.`, file));
      continue;
    }
    const volumes = service.volumes ?? [];
    const tls = volumes.find((v) => /:\/etc\/pgbackrest\/tls(:|$)/.test(v));
    if (!tls?.endsWith(':ro')) problems.push(error(`${name}: the TLS folder must be mounted read-only at /etc/pgbackrest/tls.`, file));
    if (!volumes.some((v) => /:\/etc\/pgbackrest\/conf:ro$/.test(v)))
      problems.push(error(`${name}: the pgBackRest config must be mounted read-only at /etc/pgbackrest/conf.`, file));
    const confSecrets = secretNames(service).filter((s) => s.endsWith('.conf'));
    if (confSecrets.join() !== 'pgbackrest_cipher.conf')
      problems.push(
        error(
          `${name}: pgBackRest reads every *.conf in /run/secrets; it must get exactly pgbackrest_cipher.conf (has ${confSecrets.join(', ') || 'none'}).`,
          file,
        ),
      );
    if (service.environment?.PGBACKREST_CONFIG_INCLUDE_PATH !== '/run/secrets')
      problems.push(error(`${name}: PGBACKREST_CONFIG_INCLUDE_PATH must be /run/secrets.`, file));
    if (Object.keys(service.environment ?? {}).some((k) => /CIPHER_PASS/.test(k)))
      problems.push(error(`${name}: the passphrase must not be an environment variable.`, file));
    if (name !== 'postgres' && service.user !== '999:999')
      problems.push(error(`${name}: must run as 999:999, the uid its TLS key and the repository belong to.`, file));
  }
  if (!(postgres.volumes ?? []).some((v) => v.endsWith(':/var/spool/pgbackrest')))
    problems.push(error('postgres: the archive-async spool needs its own volume at /var/spool/pgbackrest.', 'docker-compose.yml'));
  const version = (s?: ComposeService) => s?.build?.args?.PGBACKREST_DEB_VERSION;
  if (version(postgres) !== version(repo['pgbackrest-repo']))
    problems.push(
      error(
        `pgbackrest ${version(postgres)} on the database host but ${version(repo['pgbackrest-repo'])} on the repository host: both must run the same version.`,
        REPO_COMPOSE,
      ),
    );
  return problems;
}

/** No repository passphrase anywhere outside secrets/. */
export function checkPassphraseConfined(ctx: CheckContext): Problem[] {
  return ctx.files
    .filter((f) => !f.startsWith('secrets/'))
    .flatMap((file) => {
      const text = readFileSync(join(ctx.bundleDir, file), 'utf8');
      const line = text.split('\n').findIndex((l) => /^\s*repo1-cipher-pass\s*=|PGBACKREST_REPO1_CIPHER_PASS/.test(l));
      return line >= 0 ? [error('the pgBackRest passphrase appears outside secrets/.', file, line + 1)] : [];
    });
}

export const pgbackrestValidators: Validator[] = [
  {
    name: 'pgBackRest configs and compose wiring',
    run(ctx) {
      if (!ctx.files.includes(PGBACKREST_CONFIGS.db) || !ctx.files.includes(PGBACKREST_CONFIGS.repo) || !ctx.files.includes(REPO_COMPOSE)) return [];
      const stanza = ctx.env.values.PGBACKREST_STANZA;
      const read = (f: string) => readFileSync(join(ctx.bundleDir, f), 'utf8');
      const problems = [
        ...checkPgbackrestConfigs({ db: read(PGBACKREST_CONFIGS.db), repo: read(PGBACKREST_CONFIGS.repo) }, stanza),
        ...checkPassphraseConfined(ctx),
        ...(ctx.files.includes('docker-compose.yml') && ctx.env.name === 'prod' ? checkPgbackrestCompose(ctx, stanza) : []),
      ];
      // dev is single-host by design; production says it plainly.
      if (ctx.env.name === 'prod' && ctx.env.values.PGBACKREST_TOPOLOGY === 'single-host')
        problems.push(
          warning(
            'PGBACKREST_TOPOLOGY=single-host: the pgBackRest repository is on the database host, NOT offsite; losing the host loses the backups too. Use a repository host for production.',
          ),
        );
      return problems;
    },
  },
  {
    name: 'pgBackRest configs (real pgbackrest option parsing)',
    async run(ctx) {
      const present = Object.values(PGBACKREST_CONFIGS).filter((f) => ctx.files.includes(f));
      if (present.length === 0) return [];
      const tool = requireTool('pgbackrest');
      const problems: Problem[] = [];
      for (const file of present) problems.push(...(await pgbackrestParse(tool, join(ctx.bundleDir, file), file, ctx.env.values.PGBACKREST_STANZA)));
      return problems;
    },
  },
];
