import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../helpers/net.js';
import { REPO, repoCopy, runScript, type ScriptResult } from '../../helpers/run.js';
import { dockerProbe } from './docker.js';
import type { Dockerd } from './dockerd.js';
import type { StandInImages } from './images.js';

/**
 * One deployable copy of the repo under the daemon's temp root, with its own
 * STATE_DIR, env file (strong secrets from init-env.ts) and the overrides that
 * point it at the stand-in images and free loopback ports.
 */
export interface Stack {
  env: 'prod' | 'dev';
  repo: string;
  stateDir: string;
  envFile: string;
  project: string;
  domain: string;
  httpPort: number;
  httpsPort: number;
  /** CA certificate clients trust (written by generate-certs.ts). */
  caFile: string;
  /** Process environment for the repo's scripts: DOCKER_HOST of the private daemon (the overrides are in envFile). */
  scriptEnv: NodeJS.ProcessEnv;
  run(script: string, args?: string[], timeoutMs?: number): ScriptResult;
  /** `docker-compose -p <project> -f <STATE_DIR>/deploy/current/docker-compose.yml ...` against the private daemon. */
  compose(args: string[]): { code: number; stdout: string; stderr: string };
}

export const E2E_DOMAIN = 'api.healthmate-e2e.org';

/**
 * The monitoring subnet is pinned by the compose file (nginx trusts it for /metrics);
 * take it from the top of this daemon's address slice, which the daemon's own
 * allocations (from the bottom) do not reach in one run.
 */
function monitoringSubnet(daemon: StackEngine): string {
  const third = Number(daemon.pool.split('.')[2]) + 15;
  return `198.18.${third}.0/24`;
}

export interface StackOptions {
  env: 'prod' | 'dev';
  /** Extra variables (process env for the scripts). */
  vars?: Record<string, string>;
  /** Edits of the repo copy's templates before anything renders (test-only timings). */
  edit?: Record<string, (text: string) => string>;
}

/**
 * What a stack needs of where it runs: a folder for the operator's files, the address slice
 * whose top /24 becomes the monitoring subnet, and the scripts' environment (a private
 * daemon's DOCKER_HOST; for e2e hosts the operator's, the HOST_ lines naming the engines).
 */
export type StackEngine = Pick<Dockerd, 'root' | 'pool' | 'env'>;

export async function prepareStack(daemon: StackEngine, images: StandInImages, options: StackOptions): Promise<Stack> {
  const base = join(daemon.root, `stack-${options.env}`);
  const repo = join(base, 'repo');
  mkdirSync(repo, { recursive: true });
  repoCopy(repo);
  // Validators read the runbooks (alerts link to them); repoCopy leaves docs/ out.
  cpSync(join(REPO, 'docs'), join(repo, 'docs'), { recursive: true });
  for (const [file, edit] of Object.entries(options.edit ?? {})) {
    const path = join(repo, file);
    writeFileSync(path, edit(readFileSync(path, 'utf8')));
  }
  const stateDir = join(base, 'state');
  // init-env.ts writes .env.<env> in the working directory (the repo copy).
  const envFile = join(repo, `.env.${options.env}`);
  const project = `hm-e2e-${options.env}`;
  const httpPort = await freePort();
  const httpsPort = await freePort();
  // Overrides go into the env file, as an operator would write them; the process env
  // only says which Docker engine to use.
  const overrides: Record<string, string> = {
    ...images.vars,
    COMPOSE_PROJECT_NAME: project,
    STATE_DIR: stateDir,
    BACKEND_IMAGE: images.backendRepository,
    NGINX_HTTP_PORT: String(httpPort),
    NGINX_HTTPS_PORT: String(httpsPort),
    NGINX_MONITORING_CIDRS: monitoringSubnet(daemon),
    // Two cores for the whole stack: small memory settings, short waits.
    POSTGRES_SHARED_BUFFERS: '128MB',
    POSTGRES_EFFECTIVE_CACHE_SIZE: '512MB',
    POSTGRES_MAINTENANCE_WORK_MEM: '64MB',
    BACKEND_STOP_GRACE: '10s',
    ...options.vars,
  };
  const scriptEnv: NodeJS.ProcessEnv = { ...daemon.env };
  const run = (script: string, args: string[] = [], timeoutMs = 900_000): ScriptResult => runScript(script, args, { root: repo, env: scriptEnv, timeoutMs });
  const init = run('init-env.ts', ['--env', options.env, '--domain', options.env === 'prod' ? E2E_DOMAIN : 'localhost']);
  if (init.code !== 0) throw new Error(`init-env.ts failed: ${init.stderr}`);
  setEnvFileValues(envFile, overrides);
  const domain = options.env === 'prod' ? E2E_DOMAIN : 'localhost';
  const currentCompose = join(stateDir, 'deploy', 'current', 'docker-compose.yml');
  return {
    env: options.env,
    repo,
    stateDir,
    envFile,
    project,
    domain,
    httpPort,
    httpsPort,
    caFile: join(stateDir, 'certs', 'ca.pem'),
    scriptEnv,
    run,
    compose: (args) => {
      return composeProbe(daemon, ['-p', project, '-f', currentCompose, ...args]);
    },
  };
}

/** Sets NAME=value lines in an env file (replacing an existing assignment, else appending). */
function setEnvFileValues(file: string, values: Record<string, string>): void {
  let text = readFileSync(file, 'utf8');
  for (const [name, value] of Object.entries(values)) {
    const line = `${name}=${value}`;
    const assignment = new RegExp(`^${name}=.*$`, 'm');
    text = assignment.test(text) ? text.replace(assignment, line) : `${text.replace(/\n?$/, '\n')}${line}\n`;
  }
  writeFileSync(file, text, { mode: 0o600 });
}

export function composeProbe(daemon: Pick<Dockerd, 'env'>, args: string[]): { code: number; stdout: string; stderr: string } {
  const result = spawnSync('docker-compose', args, { env: daemon.env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { code: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

/** Removes every container, network and volume of a project (cleanup, also after a failed test). */
export function removeProject(daemon: Dockerd, project: string): void {
  const ids = dockerProbe(daemon, ['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`])
    .stdout.split('\n')
    .filter(Boolean);
  if (ids.length) dockerProbe(daemon, ['rm', '-f', '-v', ...ids]);
  const networks = dockerProbe(daemon, ['network', 'ls', '-q', '--filter', `label=com.docker.compose.project=${project}`])
    .stdout.split('\n')
    .filter(Boolean);
  if (networks.length) dockerProbe(daemon, ['network', 'rm', ...networks]);
  const volumes = dockerProbe(daemon, ['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${project}`])
    .stdout.split('\n')
    .filter(Boolean);
  if (volumes.length) dockerProbe(daemon, ['volume', 'rm', '-f', ...volumes]);
}
