import type { LoadedEnv } from '../env/load.js';
import { isVarName } from '../env/schema.js';
import { BadInputError, errorMessage } from '../errors.js';
import { log } from '../log.js';
import { passedBefore, passKey, recordPass, toolCacheDir } from '../tool-cache.js';
import { readYamlDocuments, yamlReaderFile } from '../yaml-data.js';
import { PLACEHOLDER, type RenderValue, renderTemplate } from './template.js';

/** A rendered template, with its source, as the syntax check needs it. */
export interface RenderedFile {
  source: string;
  target: string;
  template: string;
  content: string;
}

/** The first parse error of a YAML or JSON file, or undefined (other formats are not checked here). */
export function syntaxError(target: string, text: string): string | undefined {
  if (/\.ya?ml$/.test(target)) {
    try {
      readYamlDocuments(text);
    } catch (error) {
      return `invalid YAML: ${errorMessage(error)}`;
    }
    return undefined;
  }
  if (target.endsWith('.json')) {
    try {
      JSON.parse(text);
    } catch (error) {
      return `invalid JSON: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  return undefined;
}

/**
 * Refuses a bundle in which a YAML or JSON file does not parse, naming the
 * variable whose value broke it: each placeholder of the file is rendered
 * again with a plain value, and the one whose swap makes the file parse is it.
 */
export function assertRenderedParses(files: RenderedFile[], values: Record<string, RenderValue>, secretNames: ReadonlySet<string>, env: LoadedEnv): void {
  // No value entered a file without placeholders: it is the checked-in file as
  // it is, which `npm run lint` (yamllint) and check.ts's tools validate.
  const checked = files.filter((f) => /\.(ya?ml|json)$/.test(f.target) && f.template.search(PLACEHOLDER) !== -1);
  // The same texts parsed before by the same YAML reader: parsing them cold
  // is a quarter of render's start-up, and a deploy renders the same values again.
  const cacheDir = toolCacheDir();
  const key = cacheDir
    ? passKey(
        yamlReaderFile(),
        'parse',
        checked.map((f) => [f.target, f.content]),
      )
    : undefined;
  if (cacheDir && key && passedBefore(cacheDir, key)) {
    log.debug(`the ${checked.length} rendered YAML and JSON files parsed before as they are now (cache ${cacheDir})`);
    return;
  }
  const problems: string[] = [];
  for (const file of checked) {
    const error = syntaxError(file.target, file.content);
    if (!error) continue;
    if (syntaxError(file.target, file.template.replace(PLACEHOLDER, 'x'))) {
      problems.push(`${file.source} does not parse even without the env values (${error}); fix the template.`);
      continue;
    }
    const used = renderTemplate(file.source, file.template, values, secretNames).used;
    const culprits = [...used].filter((name) => {
      const text = renderTemplate(file.source, file.template, { ...values, [name]: 'x' }, secretNames).text;
      return syntaxError(file.target, text) === undefined;
    });
    const names = culprits.length > 0 ? culprits.map((name) => `${name}${whereSet(env, name)}`).join(' or ') : 'a value';
    problems.push(`${names} makes ${file.target} invalid (${error}); change that value.`);
  }
  if (problems.length > 0)
    throw new BadInputError(problems.join('\n'), 'values go into YAML and JSON as they are: keep them to the characters their variable describes');
  if (cacheDir && key) recordPass(cacheDir, key, `parse of ${checked.map((f) => f.target).join(', ')}`);
}

function whereSet(env: LoadedEnv, name: string): string {
  if (!isVarName(name)) return ' (derived from other values)';
  const origin = env.origins[name];
  if (origin?.kind === 'file') return ` (${origin.file}:${origin.line})`;
  if (origin?.kind === 'flag') return ' (from --set)';
  if (origin?.kind === 'process') return ' (from the process environment)';
  return '';
}
