import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { OperationError } from '../errors.js';
import { writeFileAtomic } from '../fs-atomic.js';
import { log } from '../log.js';
import { readRecipients } from './age.js';
import { acquireLock } from './lock.js';
import { freeSecond, utcStamp } from './naming.js';
import { type Command, describeCommand } from './process.js';
import type { BackupSettings } from './settings.js';
import { streamToArtifact } from './stream.js';

/** Template folders of the repo that make up the configuration. */
export const CONFIG_SOURCES = ['compose', 'k8s', 'nginx', 'monitoring', 'backups'] as const;

export interface ConfigManifest {
  name: string;
  sha256: string;
  size: number;
  encrypted: boolean;
  /** The bundle's secrets/ folder is in the tarball only when it is encrypted. */
  includesSecrets: boolean;
  sources: string[];
  created: string;
}

export interface ConfigArchivePlan {
  tar: Command;
  name: string;
  encrypted: boolean;
  sources: string[];
}

const CONFIG_RE = (env: string) => new RegExp(`^config-${env}-\\d{8}T\\d{6}Z\\.tar\\.gz(\\.age)?$`);

export function planConfigArchive(settings: BackupSettings, repoDir: string, bundleDir: string, now: Date): ConfigArchivePlan {
  const encrypted = settings.recipientsFile !== '';
  const sources = CONFIG_SOURCES.filter((s) => existsSync(join(repoDir, s)));
  for (const missing of CONFIG_SOURCES.filter((s) => !sources.includes(s))) log.warn(`${join(repoDir, missing)} does not exist; not in the config backup`);
  const args = ['-czf', '-', '-C', repoDir, ...sources];
  const bundleName = basename(bundleDir);
  if (existsSync(bundleDir)) {
    // secrets/ holds plain passwords: only an encrypted tarball may carry it.
    args.push('-C', dirname(bundleDir), ...(encrypted ? [] : [`--exclude=${bundleName}/secrets`]), bundleName);
  } else {
    log.warn(`rendered bundle ${bundleDir} does not exist; run render.ts first to include it`);
  }
  return {
    tar: { file: 'tar', args },
    name: configArchiveName(settings.envName, now, encrypted),
    encrypted,
    sources: [...sources, ...(existsSync(bundleDir) ? [`${bundleName} (rendered bundle${encrypted ? ' with secrets' : ', without secrets/'})`] : [])],
  };
}

function configArchiveName(envName: string, time: Date, encrypted: boolean): string {
  return `config-${envName}-${utcStamp(time)}.tar.gz${encrypted ? '.age' : ''}`;
}

export function describeConfigPlan(settings: BackupSettings, plan: ConfigArchivePlan): string[] {
  const existing = configArchives(settings);
  const gone = existing.slice(0, Math.max(0, existing.length + 1 - settings.configKeep));
  return [
    `archive: ${describeCommand(plan.tar)}`,
    plan.encrypted ? `encrypt with age to the recipients in ${settings.recipientsFile}` : 'no encryption: the bundle secrets/ folder is left out',
    `write ${join(settings.configDir, plan.name)}, verify with tar -tz, manifest ${plan.name}.json`,
    ...gone.map((n) => `retention would delete ${n}`),
  ];
}

/** Config tarballs of this env, oldest first (the UTC stamp sorts). */
export function configArchives(settings: BackupSettings): string[] {
  if (!existsSync(settings.configDir)) return [];
  const re = CONFIG_RE(settings.envName);
  return readdirSync(settings.configDir)
    .filter((n) => re.test(n) && existsSync(join(settings.configDir, `${n}.json`)))
    .sort((a, b) => a.replace(/\.age$/, '').localeCompare(b.replace(/\.age$/, '')));
}

export async function runConfigBackup(settings: BackupSettings, plan: ConfigArchivePlan): Promise<{ manifest: ConfigManifest; deleted: string[] }> {
  const recipients = plan.encrypted ? readRecipients(settings.recipientsFile) : [];
  mkdirSync(settings.configDir, { recursive: true, mode: 0o700 });
  const release = acquireLock(join(settings.configDir, '.config.lock'), 'config backup');
  try {
    const nameAt = (time: Date) => configArchiveName(settings.envName, time, plan.encrypted);
    const taken = (time: Date) => existsSync(join(settings.configDir, nameAt(time)));
    const created = await freeSecond(new Date(), taken, () => new Date());
    if (!created) throw new OperationError(`${plan.name} already exists in ${settings.configDir} and the clock did not move on.`, 'check the system clock');
    const name = nameAt(created);
    const path = join(settings.configDir, name);
    const result = await streamToArtifact({
      dump: plan.tar,
      verify: { file: 'tar', args: ['-tzf', '-'] },
      verifierName: 'tar -tz',
      finalPath: path,
      recipients,
      dumpError: (stderr, exit) => new Error(`tar failed (${exit.signal ?? `exit ${exit.code}`}): ${stderr.split('\n').at(-1) ?? ''}`),
    });
    const manifest: ConfigManifest = {
      name,
      sha256: result.sha256,
      size: result.size,
      encrypted: plan.encrypted,
      includesSecrets: plan.encrypted,
      sources: plan.sources,
      created: created.toISOString(),
    };
    writeFileAtomic(`${path}.json`, `${JSON.stringify(manifest, null, 2)}\n`, 0o600);
    const all = configArchives(settings);
    const deleted = all.slice(0, Math.max(0, all.length - settings.configKeep));
    for (const old of deleted) {
      rmSync(join(settings.configDir, old), { force: true });
      rmSync(join(settings.configDir, `${old}.json`), { force: true });
      log.info(`retention: deleted ${old}`);
    }
    return { manifest, deleted };
  } finally {
    release();
  }
}

export function readConfigManifest(path: string): ConfigManifest {
  return JSON.parse(readFileSync(`${path}.json`, 'utf8')) as ConfigManifest;
}
