/**
 * Relations between options, declared in a script's spec and checked before
 * any kind or the body runs: a flag that would be silently dropped in some
 * combination is refused with one sentence instead.
 *
 * A condition is an option name (`base`: given) or `name=value` (`mode=import`:
 * given with that value, or absent with that default).
 */
import { BadInputError } from '../errors.js';
import type { Kind } from './kinds.js';

export type Relation =
  /** At most one of them; with `required`, exactly one (the sentence when none is given). */
  | { oneOf: readonly string[]; required?: string }
  /** `excludes` make no sense with `option`: refused together. */
  | { option: string; excludes: readonly string[]; why?: string }
  /** `option` does something only with one of `only`. */
  | { option: string; only: readonly string[]; why?: string }
  /** `option` cannot run without every one of `needs`. */
  | { option: string; needs: readonly string[]; why?: string };

/** The option names a relation mentions (the generated tests check each one exists). */
export function relationNames(relation: Relation): string[] {
  const conds =
    'oneOf' in relation
      ? relation.oneOf
      : [relation.option, ...('excludes' in relation ? relation.excludes : 'only' in relation ? relation.only : relation.needs)];
  return conds.map((cond) => cond.split('=')[0] as string);
}

type OptionKinds = Record<string, { kind: Kind<unknown> }>;

const show = (cond: string): string => `--${cond.replace('=', ' ')}`;

/** One line of --help per relation. */
export function describeRelation(relation: Relation): string {
  if ('oneOf' in relation) return `${relation.required ? 'exactly' : 'at most'} one of ${relation.oneOf.map(show).join(', ')}`;
  if ('excludes' in relation) return `${show(relation.option)} excludes ${relation.excludes.map(show).join(', ')}`;
  if ('only' in relation) return `${show(relation.option)} applies only with ${relation.only.map(show).join(' or ')}`;
  return `${show(relation.option)} needs ${relation.needs.map(show).join(' and ')}`;
}

export function checkRelations(
  relations: readonly Relation[],
  options: OptionKinds,
  stated: (name: string) => string | undefined,
  given: (name: string) => boolean,
): void {
  const holds = (cond: string): boolean => {
    const eq = cond.indexOf('=');
    return eq < 0 ? given(cond) : stated(cond.slice(0, eq)) === cond.slice(eq + 1);
  };
  const withValue = (cond: string): string => {
    const placeholder = cond.includes('=') ? '' : (options[cond]?.kind.placeholder ?? '');
    return placeholder ? `${show(cond)} ${placeholder}` : show(cond);
  };
  const because = (why: string | undefined) => (why ? `: ${why}` : '');
  for (const relation of relations) {
    if ('oneOf' in relation) {
      const present = relation.oneOf.filter(holds);
      if (present.length > 1) throw new BadInputError(`${present.map(show).join(' and ')} exclude each other; pass one.`);
      if (present.length === 0 && relation.required) throw new BadInputError(relation.required);
      continue;
    }
    if (!holds(relation.option)) continue;
    if ('excludes' in relation) {
      const clash = relation.excludes.find(holds);
      if (clash) throw new BadInputError(`${show(clash)} does not apply with ${show(relation.option)}${because(relation.why)}.`);
    } else if ('only' in relation) {
      if (!relation.only.some(holds))
        throw new BadInputError(`${show(relation.option)} applies only with ${relation.only.map(show).join(' or ')}${because(relation.why)}.`);
    } else {
      const missing = relation.needs.find((cond) => !holds(cond));
      if (missing) throw new BadInputError(`${show(relation.option)} needs ${withValue(missing)}${because(relation.why)}.`);
    }
  }
}
