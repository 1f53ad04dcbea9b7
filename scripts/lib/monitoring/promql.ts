import { parser } from '@prometheus-io/lezer-promql';

export interface ParsedQuery {
  /** Empty when the query parses. */
  errors: string[];
  /** Metric names the query selects (by name or by a __name__="…" matcher). */
  metrics: Set<string>;
  /** Range durations of matrix selectors as written, e.g. 5m or $__rate_interval. */
  ranges: string[];
}

// Grafana replaces these before the query reaches Prometheus; give the parser a plain duration.
const GRAFANA_DURATION_VARS = /\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}/g;

/**
 * Parses a PromQL expression with Prometheus' own Lezer grammar. Grafana's
 * interval variables are accepted in place of a duration.
 */
export function parsePromql(expr: string): ParsedQuery {
  const ranges: string[] = [];
  for (const match of expr.matchAll(/\[([^\]]+)\]/g)) ranges.push((match[1] ?? '').trim());
  const text = expr.replace(GRAFANA_DURATION_VARS, '5m');
  const tree = parser.parse(text);
  const errors: string[] = [];
  const metrics = new Set<string>();
  tree.iterate({
    enter(node) {
      if (node.type.isError) {
        const near = text.slice(Math.max(0, node.from - 10), node.to + 10);
        errors.push(`syntax error at character ${node.from + 1} (near "${near.trim()}")`);
        return false;
      }
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') {
        metrics.add(text.slice(node.from, node.to));
      }
      if (node.name === 'UnquotedLabelMatcher') {
        const matcher = /^__name__\s*=\s*"([^"]+)"$/.exec(text.slice(node.from, node.to));
        if (matcher?.[1]) metrics.add(matcher[1]);
      }
      return undefined;
    },
  });
  if (text.trim() === '') errors.push('empty query');
  return { errors, metrics, ranges };
}
