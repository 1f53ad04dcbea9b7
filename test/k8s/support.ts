import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { loadEnv } from '../../scripts/lib/env/load.js';
import type { EnvName } from '../../scripts/lib/env/spec.js';
import { type LoadedObject, loadManifests } from '../../scripts/lib/k8s/manifests.js';
import { planBundle, writeBundle } from '../../scripts/lib/render/bundle.js';
import { REPO } from '../helpers/run.js';
// Every area's template derivers, registered with render.
import '../../scripts/lib/derivers.js';
export const EXAMPLE = join(REPO, '.env.example');
export const FAKE_KUBECTL_DIR = join(REPO, 'test', 'k8s', 'fake-kubectl');
export const CONTEXT = 'test-cluster';

/** Renders the env's bundle into dir (prod from .env.example) and returns the bundle folder. */
export function renderBundle(dir: string, env: EnvName): string {
  const loaded = loadEnv({
    env,
    ...(env === 'prod' ? { envFile: EXAMPLE } : {}),
    overrides: { STATE_DIR: join(dir, 'state') },
    purpose: 'plan',
    processEnv: {},
  });
  return writeBundle(planBundle(loaded), join(dir, 'out'));
}

export function renderedObjects(dir: string, env: EnvName): LoadedObject[] {
  const { objects, problems } = loadManifests(renderBundle(dir, env));
  if (problems.length > 0) throw new Error(JSON.stringify(problems));
  return objects;
}

export function find(objects: LoadedObject[], kind: string, name: string): LoadedObject {
  const found = objects.find((o) => o.object.kind === kind && o.object.metadata?.name === name);
  if (!found) throw new Error(`${kind}/${name} is not in the manifests`);
  return found;
}

/** A kubeconfig holding the given contexts (kubectl itself is the fake). */
export function writeKubeconfig(dir: string, contexts: string[] = [CONTEXT]): string {
  const path = join(dir, 'kubeconfig');
  const body = contexts.map((name) => `  - name: ${name}\n    context:\n      cluster: ${name}\n      user: ${name}`).join('\n');
  writeFileSync(path, `apiVersion: v1\nkind: Config\ncurrent-context: ${contexts[0] ?? ''}\ncontexts:\n${body}\n`);
  return path;
}

export interface FakeRule {
  match: string;
  exit?: number;
  stdout?: string;
  stderr?: string;
  /** Apply only to the first this-many matching calls. */
  times?: number;
  /** Seconds the fake waits before answering (a slow rollout). */
  sleep?: number;
}

/** Environment for runScript: the fake kubectl first on PATH, its log and scripted outcomes. */
export function fakeKubectlEnv(dir: string, rules: FakeRule[] = [], backendVersion = 'dev'): NodeJS.ProcessEnv {
  const rulesFile = join(dir, 'rules.tsv');
  // The fake reads tab-separated fields, so an empty one is written as '-'.
  const b64 = (text = '') => (text === '' ? '-' : Buffer.from(text).toString('base64'));
  writeFileSync(rulesFile, rules.map((r) => `${[r.match, r.times ?? '-', r.exit ?? 0, b64(r.stdout), b64(r.stderr), r.sleep ?? 0].join('\t')}\n`).join(''));
  return {
    PATH: `${FAKE_KUBECTL_DIR}${delimiter}${process.env.PATH ?? ''}`,
    KUBECONFIG: writeKubeconfig(dir),
    FAKE_KUBECTL_LOG: join(dir, 'kubectl.log'),
    FAKE_KUBECTL_RULES: rulesFile,
    FAKE_BACKEND_VERSION: backendVersion,
    K8S_CONTEXT: '',
  };
}

export interface Call {
  argv: string[];
  stdin?: string;
}

/** Every recorded kubectl call; none when kubectl was never run. */
export function calls(dir: string): Call[] {
  const log = join(dir, 'kubectl.log');
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [argv = '', stdin = '-'] = line.split(' ');
      const args = Buffer.from(argv, 'base64').toString('utf8').split('\0').slice(0, -1);
      return stdin === '-' ? { argv: args } : { argv: args, stdin: Buffer.from(stdin, 'base64').toString('utf8') };
    });
}

/** A call's argv without the context/namespace flags, temp bundle paths shown as <bundle>. */
export function shortArgv(call: Call): string {
  return call.argv
    .join(' ')
    .replace(/^--context \S+ --namespace \S+ /, '')
    .replace(/\/\S*?\/(dev|prod)\/(k8s|secrets)\//g, '<bundle>/$2/');
}

/** A prod env file with strong random secrets and a public-looking domain (apply mode accepts it). */
export function prodEnvFile(dir: string, omit: string[] = []): { path: string; secrets: string[] } {
  const secrets: string[] = [];
  const lines = readFileSync(EXAMPLE, 'utf8')
    .split('\n')
    .filter((line) => !omit.some((name) => line.startsWith(`${name}=`)))
    .map((line) => {
      if (line.startsWith('DOMAIN=')) return 'DOMAIN=api.healthmate-k8s.org';
      if (!line.includes('=changeme-generate-with-init-env')) return line;
      // Characters that need URL and pgpass escaping, so the derived files are exercised.
      const value = `${randomBytes(18).toString('base64url')}:@/%`;
      secrets.push(value);
      return line.replace('changeme-generate-with-init-env', value);
    });
  const path = join(dir, '.env.prod');
  writeFileSync(path, lines.join('\n'));
  return { path, secrets };
}
