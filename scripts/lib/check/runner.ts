import { log } from '../log.js';
import { isCI, ToolMissingError } from '../tools.js';
import { runImageCheck } from './in-image.js';
import { VALIDATORS } from './registry.js';
import { type CheckContext, error, type Problem, type Validator, warning } from './types.js';

export interface ValidatorResult {
  name: string;
  problems: Problem[];
}

export interface CheckReport {
  results: ValidatorResult[];
  errors: number;
  warnings: number;
  /** Checks that could not run (a missing tool, an image that cannot be pulled): errors in strict mode. */
  cannotRun: string[];
  /** Checks left out on purpose (--skip-check). */
  skipped: string[];
}

export interface RunOptions {
  /** Run each validator's inImage checks through the Docker engine instead of the local tools (the deploy). */
  inImage?: boolean;
  /** A check that cannot run is an error (the deploy), not a warning (check.ts outside CI). */
  strict?: boolean;
  /** Check names (a tool or an in-image check) not to run; each is reported as skipped. */
  skip?: ReadonlySet<string>;
}

/** Every name --skip-check accepts: the tools validators need and their in-image checks. */
export function checkNames(validators: Validator[] = VALIDATORS): string[] {
  const names = validators.flatMap((v) => [...(v.tools ?? []), ...(v.inImage ?? []).map((c) => c.name)]);
  return [...new Set(names)].sort();
}

/** The in-image checks of one validator, each one a problem list of its own. */
async function runInImage(
  validator: Validator,
  ctx: CheckContext,
  options: RunOptions,
  report: Pick<CheckReport, 'cannotRun' | 'skipped'>,
): Promise<Problem[]> {
  const problems: Problem[] = [];
  for (const check of validator.inImage ?? []) {
    if (check.when && !check.when(ctx)) continue;
    if (options.skip?.has(check.name)) {
      if (!report.skipped.includes(check.name)) report.skipped.push(check.name);
      problems.push(warning(`skipped by --skip-check ${check.name}: ${check.label}`));
      continue;
    }
    log.info(`  ${check.label}`);
    const outcome = await runImageCheck(check, ctx);
    if (outcome.status === 'failed') problems.push(error(`${check.label} failed:\n${outcome.output}`));
    if (outcome.status === 'cannot-run') {
      if (!report.cannotRun.includes(check.name)) report.cannotRun.push(check.name);
      problems.push(error(`${check.label} cannot run: ${outcome.reason}.`));
    }
  }
  return problems;
}

export async function runValidators(ctx: CheckContext, validators: Validator[] = VALIDATORS, options: RunOptions = {}): Promise<CheckReport> {
  const results: ValidatorResult[] = [];
  const extra: Pick<CheckReport, 'cannotRun' | 'skipped'> = { cannotRun: [], skipped: [] };
  for (const [index, validator] of validators.entries()) {
    log.step(index + 1, validators.length, validator.name);
    let problems: Problem[];
    try {
      problems = options.inImage && validator.inImage ? await runInImage(validator, ctx, options, extra) : await validator.run(ctx);
    } catch (caught) {
      if (caught instanceof ToolMissingError) {
        const skipped = options.skip?.has(caught.tool);
        if (skipped) extra.skipped.push(caught.tool);
        else if (options.strict) extra.cannotRun.push(caught.tool);
        problems = [
          skipped
            ? warning(`skipped by --skip-check ${caught.tool}: ${validator.name}`)
            : options.strict || isCI()
              ? error(caught.message)
              : warning(`skipped: ${caught.message}`),
        ];
      } else {
        problems = [error(`validator crashed: ${caught instanceof Error ? caught.message : String(caught)}`)];
      }
    }
    results.push({ name: validator.name, problems });
  }
  const all = results.flatMap((r) => r.problems);
  return {
    results,
    errors: all.filter((p) => p.severity === 'error').length,
    warnings: all.filter((p) => p.severity === 'warning').length,
    ...extra,
  };
}

/** One line per problem, then the summary; `envWarnings` are the env loader's warnings, printed before. */
export function formatReport(report: CheckReport, envWarnings = 0): string {
  const lines: string[] = [];
  for (const result of report.results) {
    for (const p of result.problems) {
      const where = p.file ? `${p.file}${p.line ? `:${p.line}` : ''}: ` : '';
      lines.push(`${p.severity}: [${result.name}] ${where}${p.message}`);
    }
  }
  const fromEnv = envWarnings > 0 ? ` (${envWarnings} from the env)` : '';
  lines.push(`check: ${report.results.length} validators, ${report.errors} errors, ${report.warnings + envWarnings} warnings${fromEnv}`);
  return lines.join('\n');
}
