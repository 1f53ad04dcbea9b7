import { log } from '../log.js';
import { isCI, ToolMissingError } from '../tools.js';
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
}

export async function runValidators(ctx: CheckContext, validators: Validator[] = VALIDATORS): Promise<CheckReport> {
  const results: ValidatorResult[] = [];
  for (const [index, validator] of validators.entries()) {
    log.step(index + 1, validators.length, validator.name);
    let problems: Problem[];
    try {
      problems = await validator.run(ctx);
    } catch (caught) {
      if (caught instanceof ToolMissingError) {
        problems = [isCI() ? error(caught.message) : warning(`skipped: ${caught.message}`)];
      } else {
        problems = [error(`validator crashed: ${caught instanceof Error ? caught.message : String(caught)}`)];
      }
    }
    results.push({ name: validator.name, problems });
  }
  const all = results.flatMap((r) => r.problems);
  return { results, errors: all.filter((p) => p.severity === 'error').length, warnings: all.filter((p) => p.severity === 'warning').length };
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
