import { hostname, userInfo } from 'node:os';
import { $, type ProcessOutput } from 'zx/core';
import { addCleanup } from '../cleanup.js';
import type { LoadedEnv } from '../env/load.js';
import { BadInputError, OperationError } from '../errors.js';
import { log } from '../log.js';
import { findTool, requireTool } from '../tools.js';
import { kubeconfigContexts } from './kubeconfig.js';
import { loadManifests } from './manifests.js';
import { missingOperator, OPERATORS } from './operators.js';
import { buildPlan, type Command, diffCommands, formatPlan, type K8sPlan, LOCK_LEASE, rollbackCommands, type Step, UNLOCK } from './plan.js';
import { checkPolicy, policyContext } from './policy/index.js';
import { validateSchemas } from './schema.js';
import { assertSecretFiles } from './secret.js';

export interface K8sDeployOptions {
  env: LoadedEnv;
  /** Rendered bundle of that env (dist/<env>). */
  bundleDir: string;
  /** --context; falls back to K8S_CONTEXT. */
  context?: string;
  dryRun: boolean;
}

/** The context to use: named explicitly and present in the kubeconfig, or a BadInputError. */
export function resolveContext(named: string | undefined): string {
  const context = named ?? '';
  if (context === '') {
    throw new BadInputError(
      'no Kubernetes context is named: pass --context <name> or set K8S_CONTEXT, because deploy-k8s.ts never deploys to whatever context is current.',
    );
  }
  const known = kubeconfigContexts();
  if (!known.includes(context)) {
    const list = known.length > 0 ? `it has ${known.join(', ')}` : 'it defines no contexts';
    throw new BadInputError(`Kubernetes context "${context}" is not in the kubeconfig (${list}); fix --context or K8S_CONTEXT.`);
  }
  return context;
}

/** Schema and policy problems of the bundle's manifests, as one BadInputError. */
export async function assertManifestsValid(bundleDir: string, env: LoadedEnv): Promise<ReturnType<typeof loadManifests>['objects']> {
  const { objects, problems } = loadManifests(bundleDir);
  problems.push(...(await validateSchemas(objects)), ...checkPolicy(objects, policyContext(env)));
  if (problems.length > 0) {
    const lines = problems.map((p) => `${p.file ? `${p.file}${p.line ? `:${p.line}` : ''}: ` : ''}${p.message}`);
    throw new BadInputError(lines.join('\n'), 'fix the manifests in k8s/ (scripts/check.ts shows the same problems)');
  }
  return objects;
}

async function kubectl(plan: K8sPlan, command: Command, input?: string): Promise<ProcessOutput> {
  const bin = requireTool('kubectl');
  const options = { quiet: true, verbose: false, nothrow: true, ...(input !== undefined ? { input } : {}) };
  log.debug(`kubectl ${[...plan.base, ...command.args].join(' ')}`);
  return $(options)`${bin} ${[...plan.base, ...command.args]}`;
}

function lastLines(out: ProcessOutput): string {
  return (out.stderr.trim() || out.stdout.trim()).split('\n').slice(-3).join(' ');
}

class StepFailed extends Error {
  constructor(
    readonly step: Step,
    readonly detail: string,
  ) {
    super(`${step.title} failed: ${detail}`);
  }
}

/** Runs one step; the secret step pipes the first command's stdout into the second. */
async function runStep(plan: K8sPlan, step: Step): Promise<ProcessOutput> {
  let previous: ProcessOutput | undefined;
  for (const command of step.commands) {
    const out = await kubectl(plan, command, command.stdinFromPrevious ? previous?.stdout : command.stdin?.text);
    if (out.exitCode !== 0) throw new StepFailed(step, `kubectl exited with ${out.exitCode}: ${lastLines(out)}`);
    // The client-side Secret manifest holds the values: it is only ever piped, never shown.
    const secretManifest = step.id === 'secret' && command === step.commands[0];
    if (!secretManifest && step.id !== 'preflight' && step.id !== 'snapshot' && step.id !== 'lock') log.passthrough(out.stdout);
    previous = out;
  }
  return previous as ProcessOutput;
}

function revisionsFrom(out: ProcessOutput): Map<string, string> {
  const revisions = new Map<string, string>();
  let parsed: { items?: { metadata?: { name?: string; annotations?: Record<string, string> } }[] };
  try {
    parsed = JSON.parse(out.stdout || '{}');
  } catch {
    throw new OperationError('kubectl get deployments did not return JSON; check the kubectl version.');
  }
  for (const item of parsed.items ?? []) {
    const name = item.metadata?.name;
    const revision = item.metadata?.annotations?.['deployment.kubernetes.io/revision'];
    if (name && revision) revisions.set(name, revision);
  }
  return revisions;
}

function checkSmoke(out: ProcessOutput, step: Step, tag: string): void {
  const line = out.stdout.trim().split('\n').at(-1) ?? '';
  let result: { health?: unknown; version?: unknown };
  try {
    result = JSON.parse(line);
  } catch {
    throw new StepFailed(step, `unexpected output "${line.slice(0, 120)}"`);
  }
  if (result.health !== 200) throw new StepFailed(step, `/health answered ${String(result.health)}`);
  if (result.version !== tag) throw new StepFailed(step, `/version reports ${String(result.version)}, not ${tag}`);
}

async function rollBack(plan: K8sPlan, revisions: Map<string, string>, failure: StepFailed): Promise<never> {
  const commands = rollbackCommands(plan, revisions);
  if (commands.length === 0) {
    throw new OperationError(
      `${failure.message}; this was the first deploy, so there is no previous revision to roll back to.`,
      `inspect with kubectl --context ${plan.target.context} --namespace ${plan.target.namespace} get pods,events`,
    );
  }
  log.warn(`${failure.message}: rolling back`);
  const failed: string[] = [];
  for (const command of commands) {
    const out = await kubectl(plan, command);
    log.passthrough(out.stdout);
    if (out.exitCode !== 0) failed.push(`${command.args.slice(0, 3).join(' ')} (${lastLines(out)})`);
  }
  const done = [...revisions].filter(([name]) => plan.workloads.some((w) => w.kind === 'deployment' && w.name === name));
  const summary = done.map(([name, revision]) => `deployment/${name} to revision ${revision}`).join(', ');
  if (failed.length > 0) throw new OperationError(`${failure.message}; the rollback failed too: ${failed.join('; ')}.`);
  throw new OperationError(
    `${failure.message}; rolled back ${summary}.`,
    'StatefulSets (PostgreSQL, Redis) are never rolled back automatically: check them with kubectl rollout status',
  );
}

async function dryRun(plan: K8sPlan): Promise<void> {
  log.out(formatPlan(plan));
  if (!findTool('kubectl')) {
    log.warn('kubectl is not installed, so no diff against the cluster was made.');
    return;
  }
  const probe = await kubectl(plan, plan.steps[0]?.commands[0] as Command);
  if (probe.exitCode !== 0) {
    log.warn(`context ${plan.target.context} is not reachable (${lastLines(probe)}), so no diff against the cluster was made.`);
    return;
  }
  // The probe is the preflight: a missing operator fails the dry run as it would fail the deploy.
  assertOperators(plan, probe.stdout);
  for (const command of diffCommands(plan)) {
    const out = await kubectl(plan, command);
    // kubectl diff exits 1 when there are differences and >1 on errors.
    if ((out.exitCode ?? 2) > 1) log.warn(`kubectl diff failed: ${lastLines(out)}`);
    log.out(out.stdout.trimEnd() || `no changes: ${command.args.at(-1)}`);
  }
}

interface LeaseInfo {
  holder: string;
  expired: boolean;
}

async function readLease(plan: K8sPlan): Promise<LeaseInfo | undefined> {
  const out = await kubectl(plan, { args: ['get', 'lease', LOCK_LEASE, '-o', 'json'] });
  if (out.exitCode !== 0) return undefined;
  try {
    const spec = JSON.parse(out.stdout).spec ?? {};
    const renewed = Date.parse(spec.renewTime ?? spec.acquireTime ?? '');
    const expired = Number.isFinite(renewed) && renewed + Number(spec.leaseDurationSeconds ?? 0) * 1000 < Date.now();
    return { holder: String(spec.holderIdentity ?? 'unknown'), expired };
  } catch {
    return undefined;
  }
}

/** The deploy lock while held: release() deletes the Lease (also run on Ctrl-C). */
interface DeployLock {
  release?: () => Promise<void>;
}

function holdLock(plan: K8sPlan, lock: DeployLock): void {
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    removeCleanup();
    const out = await kubectl(plan, UNLOCK);
    if (out.exitCode !== 0) log.warn(`could not release the deploy lock: ${lastLines(out)}`);
  };
  const removeCleanup = addCleanup(release);
  lock.release = release;
}

/**
 * Takes the Lease lock. A lease past its duration belonged to a deploy that
 * died without releasing it: it is replaced, with a warning. A live one
 * refuses, naming its holder.
 */
async function takeLock(plan: K8sPlan, step: Step, lock: DeployLock): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await runStep(plan, step);
      holdLock(plan, lock);
      return;
    } catch (caught) {
      if (!(caught instanceof StepFailed) || !caught.detail.includes('AlreadyExists')) throw caught;
    }
    const lease = await readLease(plan);
    if (lease && !lease.expired) {
      throw new BadInputError(
        `another deploy holds the lock on ${plan.target.context}/${plan.target.namespace}: ${lease.holder}.`,
        `wait for it to finish; if it is gone, kubectl --context ${plan.target.context} --namespace ${plan.target.namespace} delete lease ${LOCK_LEASE}`,
      );
    }
    log.warn(`replacing the stale deploy lock of ${lease?.holder ?? 'an unknown holder'}.`);
    await kubectl(plan, UNLOCK);
  }
  throw new OperationError(`the deploy lock (Lease ${LOCK_LEASE}) cannot be taken.`);
}

function holderIdentity(): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = String(process.getuid?.() ?? 'unknown');
  }
  return `${user}@${hostname()} pid ${process.pid}`;
}

/**
 * render (done by the caller) → validate → Secret → server-side apply in
 * dependency order → rollout status → smoke check; on a failure after the
 * first change, `kubectl rollout undo` to the recorded revisions and exit 1.
 */
export async function deployK8s(options: K8sDeployOptions): Promise<void> {
  const { env, bundleDir } = options;
  const context = resolveContext(options.context ?? env.values.K8S_CONTEXT);
  const namespace = env.values.K8S_NAMESPACE;
  const objects = await assertManifestsValid(bundleDir, env);
  assertSecretFiles(bundleDir);
  const plan = buildPlan(
    {
      context,
      namespace,
      bundleDir,
      rolloutTimeout: env.values.K8S_ROLLOUT_TIMEOUT,
      backendTag: env.values.BACKEND_TAG,
      holder: holderIdentity(),
      now: new Date(),
      databaseUser: env.values.POSTGRES_USER,
    },
    objects,
  );
  if (options.dryRun) {
    await dryRun(plan);
    return;
  }
  requireTool('kubectl');
  const lock: DeployLock = {};
  try {
    await runSteps(plan, lock);
  } finally {
    await lock.release?.();
  }
  log.info(`deployed ${plan.target.backendTag} to ${context}/${namespace}: ${plan.workloads.length} workloads rolled out, smoke check passed.`);
}

/** Stops, before anything changed, when an operator the manifests need is not installed. */
function assertOperators(plan: K8sPlan, served: string): void {
  const needed = OPERATORS.filter((o) => o.crds.some((c) => plan.crds.includes(c)));
  const missing = missingOperator(needed, served.split('\n'));
  if (!missing) return;
  throw new OperationError(
    `the cluster of context ${plan.target.context} does not serve ${missing.crds.join(', ')}: install ${missing.operator.name} first; nothing was changed.`,
    `install it with: ${missing.operator.install}`,
  );
}

/** The steps in order; the lock step fills in `lock`. */
async function runSteps(plan: K8sPlan, lock: DeployLock): Promise<void> {
  let revisions = new Map<string, string>();
  // From the first workload apply on, a failure may leave new pod templates: roll back.
  let workloadsTouched = false;
  for (const [index, step] of plan.steps.entries()) {
    log.step(index + 1, plan.steps.length, step.title);
    if (step.id === 'apply') workloadsTouched = true;
    if (step.id === 'lock') {
      await takeLock(plan, step, lock);
      continue;
    }
    try {
      const out = await runStep(plan, step);
      if (step.id === 'preflight') assertOperators(plan, out.stdout);
      if (step.id === 'snapshot') revisions = revisionsFrom(out);
      if (step.id === 'smoke') checkSmoke(out, step, plan.target.backendTag);
    } catch (caught) {
      if (!(caught instanceof StepFailed)) throw caught;
      if (!workloadsTouched) throw new OperationError(`${caught.message}; no workload was changed.`);
      await rollBack(plan, revisions, caught);
    }
  }
}
