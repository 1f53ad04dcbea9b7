import { chmodSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runToolChecks, type ToolCheck, unitTestChecks } from '../../scripts/lib/monitoring/validate.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';

// A tiny rule and its promtool unit test: the cache is about which runs repeat, not about our rules.
const RULES = `groups:
- name: demo
  rules:
  - alert: DemoDown
    expr: up == 0
    for: 1m
    labels:
      severity: page
`;
const TEST = (ruleFiles: string[]): string => `rule_files:
${ruleFiles.map((f) => `- ${f}`).join('\n')}
evaluation_interval: 1m
tests:
- interval: 1m
  input_series:
  - series: 'up{job="demo"}'
    values: '0x5'
  alert_rule_test:
  - eval_time: 3m
    alertname: DemoDown
    exp_alerts:
    - exp_labels: { severity: page, job: demo }
`;

interface Fixture {
  dir: string;
  /** Real promtool runs so far (a wrapper on PATH counts them). */
  runs: () => number;
  wrapper: string;
}

function fixture(ruleFiles = ['../rules/demo.yml']): Fixture {
  const root = tempDir();
  const dir = join(root, 'staged');
  mkdirSync(join(dir, 'rules'), { recursive: true });
  mkdirSync(join(dir, 'tests'));
  writeFileSync(join(dir, 'rules', 'demo.yml'), RULES);
  writeFileSync(join(dir, 'tests', 'demo_test.yml'), TEST(ruleFiles));
  const bin = join(root, 'bin');
  mkdirSync(bin);
  const count = join(root, 'runs');
  writeFileSync(count, '');
  const wrapper = join(bin, 'promtool');
  writeFileSync(wrapper, `#!/bin/sh\necho run >> '${count}'\nexec '${needTool('promtool')}' "$@"\n`);
  chmodSync(wrapper, 0o755);
  process.env.PATH = `${bin}${delimiter}${process.env.PATH}`;
  return { dir, wrapper, runs: () => readFileSync(count, 'utf8').split('\n').filter(Boolean).length };
}

const run = async (checks: ToolCheck[]) => (await runToolChecks(checks)).map((r) => ({ ok: r.ok, cached: r.cached }));

describe('remembered promtool test passes (HEALTHMATE_CHECK_CACHE)', () => {
  const saved = { path: process.env.PATH, cache: process.env.HEALTHMATE_CHECK_CACHE };
  beforeEach(() => {
    process.env.HEALTHMATE_CHECK_CACHE = join(tempDir(), 'passes');
  });
  afterEach(() => {
    process.env.PATH = saved.path;
    if (saved.cache === undefined) delete process.env.HEALTHMATE_CHECK_CACHE;
    else process.env.HEALTHMATE_CHECK_CACHE = saved.cache;
  });

  it('a second run on the same tool, rules and test is not repeated; a changed rule runs again and its failure is never remembered', async () => {
    const f = fixture();
    const checks = unitTestChecks(f.dir);
    expect(checks.map((c) => c.inputs)).toEqual([['tests/demo_test.yml', 'rules/demo.yml']]);
    expect(await run(checks)).toEqual([{ ok: true, cached: false }]);
    expect(await run(checks)).toEqual([{ ok: true, cached: true }]);
    expect(f.runs()).toBe(1);

    // A broken rule (the alert can no longer fire) runs promtool each time and fails each time.
    writeFileSync(join(f.dir, 'rules', 'demo.yml'), RULES.replace('up == 0', 'up == 2'));
    expect(await run(checks)).toEqual([{ ok: false, cached: false }]);
    expect(await run(checks)).toEqual([{ ok: false, cached: false }]);
    expect(f.runs()).toBe(3);

    // Back to the rules that passed: remembered.
    writeFileSync(join(f.dir, 'rules', 'demo.yml'), RULES);
    expect(await run(checks)).toEqual([{ ok: true, cached: true }]);
    // A changed test file is a new run too.
    writeFileSync(join(f.dir, 'tests', 'demo_test.yml'), `${TEST(['../rules/demo.yml'])}# comment\n`);
    expect(await run(unitTestChecks(f.dir))).toEqual([{ ok: true, cached: false }]);
    expect(f.runs()).toBe(4);
  });

  it('another promtool binary (a new mtime stands for an upgrade) runs again', async () => {
    const f = fixture();
    const checks = unitTestChecks(f.dir);
    await run(checks);
    utimesSync(f.wrapper, new Date(), new Date(Date.now() + 60_000));
    expect(await run(checks)).toEqual([{ ok: true, cached: false }]);
    expect(f.runs()).toBe(2);
  });

  it('HEALTHMATE_CHECK_CACHE=off runs every time', async () => {
    const f = fixture();
    process.env.HEALTHMATE_CHECK_CACHE = 'off';
    const checks = unitTestChecks(f.dir);
    expect(await run(checks)).toEqual([{ ok: true, cached: false }]);
    expect(await run(checks)).toEqual([{ ok: true, cached: false }]);
    expect(f.runs()).toBe(2);
  });

  it.each([
    ['a glob', ['../rules/*.yml']],
    ['a file outside the staged folder', ['/etc/prometheus/rules.yml']],
  ])('a test whose rule_files name %s has unknown inputs and is never remembered', async (_, ruleFiles) => {
    const f = fixture(ruleFiles);
    const checks = unitTestChecks(f.dir);
    expect(checks[0]?.inputs).toBeUndefined();
    const first = await run(checks);
    expect(await run(checks)).toEqual(first.map((r) => ({ ...r, cached: false })));
    expect(f.runs()).toBe(2);
  });
});
