import { readFileSync } from 'node:fs';
import { BadInputError } from '../errors.js';
import { policyRulesMarkdown } from './policy/index.js';

export const POLICY_DOCS = 'docs/kubernetes.md';
const START = '<!-- policy-rules:start -->';
const END = '<!-- policy-rules:end -->';

/** docs/kubernetes.md with the text between the policy-rules markers replaced by the table generated from RULES. */
export function policyDocsText(path = POLICY_DOCS): string {
  const text = readFileSync(path, 'utf8');
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  if (start < 0 || end < start) throw new BadInputError(`${path} has no ${START} … ${END} markers; put them where the rules table belongs.`);
  return `${text.slice(0, start + START.length)}\n${policyRulesMarkdown()}\n${text.slice(end)}`;
}
