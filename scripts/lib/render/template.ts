/**
 * Placeholders are `@@NAME@@` (NAME in upper case). The syntax collides with
 * none of nginx `$var`/`${var}`, Prometheus `$1`/`${1}`, Go templates `{{ }}`,
 * Grafana `$var`/`${var}`/`$__rate_interval` or compose `${VAR}`: everything
 * else passes through byte for byte.
 */
export const PLACEHOLDER = /@@([A-Z][A-Z0-9_]*)@@/g;

export interface TemplateProblem {
  file: string;
  line: number;
  message: string;
}

export type RenderValue = string | number | boolean;

export interface RenderResult {
  text: string;
  problems: TemplateProblem[];
  used: Set<string>;
}

/**
 * Substitutes placeholders from `values`. Names in `secretNames` are refused:
 * secrets reach containers only as files under secrets/.
 */
export function renderTemplate(file: string, text: string, values: Record<string, RenderValue>, secretNames: ReadonlySet<string>): RenderResult {
  const problems: TemplateProblem[] = [];
  const used = new Set<string>();
  const lines = text.split('\n').map((lineText, index) => {
    const line = index + 1;
    const replaced = lineText.replace(PLACEHOLDER, (token, name: string) => {
      used.add(name);
      if (secretNames.has(name)) {
        problems.push({ file, line, message: `${token} is a secret and is never rendered into a config; mount secrets/${name.toLowerCase()} instead.` });
        return token;
      }
      const value = values[name];
      if (value === undefined) {
        problems.push({ file, line, message: `unknown placeholder ${token}; add ${name} to the env schema (scripts/lib/env/vars) or fix the name.` });
        return token;
      }
      return String(value);
    });
    const leftover = replaced.replace(PLACEHOLDER, '').indexOf('@@');
    if (leftover >= 0) {
      const fragment = replaced.replace(PLACEHOLDER, '').slice(leftover, leftover + 24);
      problems.push({ file, line, message: `unterminated or malformed placeholder "${fragment}"; write it as @@NAME@@.` });
    }
    return replaced;
  });
  return { text: lines.join('\n'), problems, used };
}

/** Placeholder names a template uses, with the first line of each. */
export function placeholdersIn(text: string): Map<string, number> {
  const found = new Map<string, number>();
  text.split('\n').forEach((lineText, index) => {
    for (const match of lineText.matchAll(PLACEHOLDER)) {
      const name = match[1] as string;
      if (!found.has(name)) found.set(name, index + 1);
    }
  });
  return found;
}
