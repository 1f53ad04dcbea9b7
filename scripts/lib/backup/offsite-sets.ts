import { join } from 'node:path';
import { configArchives, readConfigManifest } from './config-archive.js';
import { isVerified, listArtifacts } from './manifest.js';
import { parseDumpName, parseStamp } from './naming.js';
import type { OffsiteSet } from './offsite.js';
import { planRetention } from './retention.js';
import type { BackupSettings } from './settings.js';

/** The dumps of the env's database: same names and GFS retention as in BACKUP_DIR. */
export function dumpSet(settings: BackupSettings): OffsiteSet {
  const db = settings.connection.database;
  return {
    label: db,
    subdir: '',
    localDir: settings.dir,
    artifacts: listArtifacts(settings.dir, db)
      .filter(isVerified)
      .map((e) => ({ name: e.name, path: e.path, time: e.time, sha256: e.manifest?.sha256 ?? '', size: e.manifest?.size ?? 0 })),
    parse(name) {
      const parsed = parseDumpName(name);
      return parsed?.database === db ? parsed.time : undefined;
    },
    retain(entries, now) {
      return new Set(planRetention(entries, settings.retention, now).keep.map((e) => e.name));
    },
  };
}

/** The config tarballs of the env, in <remote>/config: the BACKUP_CONFIG_KEEP newest are kept. */
export function configSet(settings: BackupSettings): OffsiteSet {
  const re = new RegExp(`^config-${settings.envName}-(\\d{8}T\\d{6}Z)\\.tar\\.gz(\\.age)?$`);
  const parse = (name: string) => {
    const stamp = re.exec(name)?.[1];
    return stamp ? parseStamp(stamp) : undefined;
  };
  return {
    label: 'config',
    subdir: 'config',
    localDir: settings.configDir,
    artifacts: configArchives(settings).map((name) => {
      const path = join(settings.configDir, name);
      const manifest = readConfigManifest(path);
      return { name, path, time: parse(name) as Date, sha256: manifest.sha256, size: manifest.size };
    }),
    parse,
    retain(entries) {
      const newest = [...entries].sort((a, b) => b.time.getTime() - a.time.getTime() || b.name.localeCompare(a.name));
      return new Set(newest.slice(0, settings.configKeep).map((e) => e.name));
    },
  };
}
