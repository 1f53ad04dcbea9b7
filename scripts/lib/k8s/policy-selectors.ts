// biome-ignore lint/suspicious/noExplicitAny: selectors come from untyped manifests.
type Any = any;

/** Label selector (matchLabels + matchExpressions In/NotIn/Exists/DoesNotExist) against labels. */
export function selects(selector: Any, labels: Record<string, string>): boolean {
  if (!selector) return false;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    if (e.operator === 'In' && !(has && (e.values ?? []).includes(value))) return false;
    if (e.operator === 'NotIn' && has && (e.values ?? []).includes(value)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}
