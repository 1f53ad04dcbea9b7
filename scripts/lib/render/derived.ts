import type { HostRole, InventoryHost } from '../env/inventory.js';
import type { LoadedEnv } from '../env/load.js';
import type { BundleFile } from './bundle.js';
import type { RenderValue } from './template.js';

/**
 * Values computed from the env for templates, and secret files built from
 * several secrets (a connection URL, a PGPASSFILE). Names are upper case like
 * env variables.
 */
export interface Derived {
  values?: Record<string, string | number | boolean>;
  /** secrets/<name> → content; never rendered into a config. */
  secretFiles?: Record<string, string>;
}

export type Deriver = (env: LoadedEnv) => Derived;

const general: Deriver = (env) => ({
  values: { ENV_NAME: env.name },
});

/**
 * Render knows no area: each area hands its deriver over here, the way
 * validators register with check/ (scripts/lib/derivers.ts registers them all).
 */
const registry: { area: string; derive: Deriver }[] = [];

export function registerDeriver(area: string, derive: Deriver): void {
  if (!registry.some((r) => r.area === area)) registry.push({ area, derive });
}

/** The general deriver, then every registered area's, in registration order. */
export function derivers(): Deriver[] {
  if (registry.length === 0) throw new Error('no area has registered its template derivers: import scripts/lib/derivers.ts before rendering.');
  return [general, ...registry.map((r) => r.derive)];
}

/** Values one host's configs differ by (its member name, endpoints, TLS folders): each area's, registered like the derivers. */
export type HostDeriver = (env: LoadedEnv, host: InventoryHost) => Record<string, RenderValue>;

const hostDerivers: { area: string; derive: HostDeriver }[] = [];

export function registerHostDeriver(area: string, derive: HostDeriver): void {
  if (!hostDerivers.some((r) => r.area === area)) hostDerivers.push({ area, derive });
}

/** Every registered area's per-host values for `host`, merged in registration order. */
export function hostValues(env: LoadedEnv, host: InventoryHost): Record<string, RenderValue> {
  return Object.assign({}, ...hostDerivers.map((r) => r.derive(env, host)));
}

/**
 * What a host's bundle keeps of the rendered files: an area drops the files of
 * services the host does not run (the compose services of other roles, the
 * folders and secrets only they use). Runs before the extras, which are made
 * from what is kept.
 */
export type HostFilter = (env: LoadedEnv, roles: readonly HostRole[], files: BundleFile[], host: InventoryHost) => BundleFile[];

const hostFilters: { area: string; filter: HostFilter }[] = [];

export function registerHostFilter(area: string, filter: HostFilter): void {
  if (!hostFilters.some((f) => f.area === area)) hostFilters.push({ area, filter });
}

export function hostFiltersInOrder(): HostFilter[] {
  return hostFilters.map((f) => f.filter);
}

/**
 * Files an area adds to every bundle, made from the rendered ones (e.g. up.sh's
 * host-setup lists). `wanted` says which paths the command ships, so an extra
 * nobody ships need not be built; `host` is the host whose values the bundle carries.
 */
export type BundleExtra = (env: LoadedEnv, files: BundleFile[], wanted: (path: string) => boolean, host: InventoryHost) => BundleFile[];

const extras: { area: string; make: BundleExtra }[] = [];

export function registerBundleFiles(area: string, make: BundleExtra): void {
  if (!extras.some((e) => e.area === area)) extras.push({ area, make });
}

/** Every registered area's extra files, in registration order. */
export function bundleExtras(): BundleExtra[] {
  return extras.map((e) => e.make);
}
