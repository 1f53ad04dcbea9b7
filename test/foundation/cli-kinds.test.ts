/**
 * The bad-input campaign as generated tests: every option of every script
 * (read from its spec, scripts/lib/cli/specs/<script>) gets the bad values of
 * its kind. In process, every bad value of every option: one BadInputError
 * sentence naming the option, no secret in it. As real scripts (tsx), one bad
 * value per script and kind family: exit 2, one `error:` line naming the
 * option, no stack trace, no secret, nothing written, no temp folder left.
 * The hand-written table (bad-input.test.ts) keeps the cases that need a scenario.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KindFamily } from '../../scripts/lib/cli/kinds.js';
import { describeRelation, relationNames } from '../../scripts/lib/cli/relations.js';
import { allOptions, type CliSpec, helpText, type OptionSpec, parseCli } from '../../scripts/lib/cli.js';
import { BadInputError } from '../../scripts/lib/errors.js';
import { REPO, runScriptAsync } from '../helpers/run.js';

const SCRIPTS = readdirSync(join(REPO, 'scripts'))
  .filter((f) => f.endsWith('.ts'))
  .sort();
const SPECS = new Map<string, CliSpec>();
const PASSWORD = 's3cretpw-kinds';
const SECRET = 'hm-secret-marker-4f2a9c';
const SKIP = new Set(['help', 'verbose']);
/** One "now" for every in-process parse: a time message names it, and two parses must agree. */
const NOW = new Date();

let root = '';
/** Paths every kind can be given: a file, a folder, a bundle of each env, and the traps. */
let fx: Record<string, string> = {};

beforeAll(async () => {
  for (const script of SCRIPTS) SPECS.set(script, (await import(join(REPO, 'scripts/lib/cli/specs', script))).SPEC as CliSpec);
  root = mkdtempSync(join(tmpdir(), 'healthmate-kinds-'));
  const at = (...parts: string[]) => join(root, ...parts);
  mkdirSync(at('folder'));
  writeFileSync(at('file.txt'), 'x\n');
  for (const env of ['dev', 'prod']) {
    mkdirSync(at(`bundle-${env}`));
    writeFileSync(at(`bundle-${env}`, 'MANIFEST.json'), JSON.stringify({ env, files: [] }));
  }
  mkdirSync(at('not-a-bundle'));
  writeFileSync(at('not-a-bundle', 'notes.txt'), 'mine\n');
  mkdirSync(at('broken-bundle'));
  writeFileSync(at('broken-bundle', 'MANIFEST.json'), '{"env": ');
  // An output root whose prod/ and dev/ hold a file of the operator's: never replaced.
  for (const env of ['dev', 'prod']) {
    mkdirSync(at('precious', env), { recursive: true });
    writeFileSync(at('precious', env, 'precious.txt'), 'keep me\n');
  }
  fx = {
    file: at('file.txt'),
    folder: at('folder'),
    missing: at('missing', 'nothing-here'),
    underFile: at('file.txt', 'below'),
    notBundle: at('not-a-bundle'),
    brokenBundle: at('broken-bundle'),
    precious: at('precious'),
  };
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const envOf = (spec: CliSpec) => spec.defaultEnv ?? 'prod';

/** Values a kind accepts, most useful first (enums all of theirs: relations may need a given one). */
function validValues(option: OptionSpec, spec: CliSpec): string[] {
  const kind = option.kind;
  const byFamily: Record<KindFamily, string[]> = {
    flag: [],
    text: ['planned maintenance'],
    enum: [...(kind.values ?? [])],
    int: [String(kind.min)],
    duration: ['30m'],
    'date-time': ['2026-01-01T00:00:00Z'],
    url: ['http://127.0.0.1:9'],
    host: ['api.example.org'],
    'dns-name': ['api.example.org'],
    name: ['all', 'nginx', 'pitr1', 'ctx-1'],
    'pg-identifier': ['restored_db'],
    assignment: ['DOMAIN=api.example.org'],
    matcher: ['team=db'],
    'existing-file': [fx.file as string],
    'existing-folder': [fx.folder as string],
    'new-file': [join(root, 'new.env')],
    'file-or-name': [fx.file as string],
    folder: [join(root, 'new-folder')],
    output: [join(root, 'out')],
    bundle: [join(root, `bundle-${envOf(spec)}`)],
  };
  return byFamily[kind.family];
}

interface Bad {
  what: string;
  /** The words after the option; undefined: the option is the last word (its value is missing). */
  words: string[] | undefined;
  /** The option given twice with a value it accepts. */
  twice?: boolean;
  secret?: string;
}

/** The bad values of an option's kind, the generic ones included. */
function badValues(option: OptionSpec, valid: string, spec: CliSpec): Bad[] {
  const kind = option.kind;
  if (kind.family === 'flag')
    return [
      { what: 'a value', words: undefined },
      { what: 'twice', words: [], twice: true },
    ];
  const v = (what: string, value: string, secret?: string): Bad => ({ what, words: [value], ...(secret ? { secret } : {}) });
  const out: Bad[] = [{ what: 'missing', words: undefined }, v('empty', ''), v('only spaces', '   '), v('a newline', `${valid}\nx`), v('a tab', `${valid}\tx`)];
  if (!option.multiple) out.push({ what: 'twice', words: [valid], twice: true });
  if (kind.family !== 'text') out.push(v('spaces around it', ` ${valid} `), v('a leading dash', `-${valid}`));
  const byFamily: Partial<Record<KindFamily, Bad[]>> = {
    text: [v('too long', 'x'.repeat(501))],
    enum: [v('not one of them', 'nope'), v('another case', String(kind.values?.[0]).toUpperCase())],
    int: [
      v('not a number', 'abc'),
      v('a fraction', '1.5'),
      v('an exponent', '1e3'),
      v('below the range', String((kind.min ?? 0) - 1)),
      v('above the range', String((kind.max ?? 0) + 1)),
      v('huge', '9'.repeat(40)),
    ],
    duration: [v('no unit', '30'), v('negative', '-5m'), v('zero', '0m'), v('too long', '8d'), v('a space inside', '30 m'), v('hours and seconds', '1h30s')],
    'date-time': [
      v('no zone', '2026-01-01T10:00:00'),
      v('a day that does not exist', '2026-02-30T00:00:00Z'),
      v('in the future', '2999-01-01T00:00:00Z'),
      v('a word', 'yesterday'),
    ],
    url: [
      v('no URL', 'notaurl'),
      v('another scheme', 'ftp://127.0.0.1:9093'),
      v('a password', `http://admin:${PASSWORD}@127.0.0.1:9093`, PASSWORD),
      v('a password, no host', `http://admin:${PASSWORD}@`, PASSWORD),
      v('a query', 'http://127.0.0.1:9093/?q=1'),
    ],
    host: [v('an IPv6 zone id', 'fe80::1%eth0'), v('a mistyped IP', '999.1.1.1'), v('five numbers', '1.2.3.4.5'), v('an underscore', 'a_b.example.org')],
    'dns-name': [v('a mistyped IP', '999.1.1.1'), v('a URL', 'https://api.example.org/'), v('an empty label', 'a..b')],
    name: [v('a path', '../etc'), v('a space inside', 'a b')],
    'pg-identifier': [
      v('template1', 'template1'),
      v('postgres', 'postgres'),
      v('template0', 'template0'),
      v('upper case', 'Bad-Name'),
      v('64 characters', 'd'.repeat(64)),
    ],
    assignment: [
      v('no =', 'DOMAIN'),
      v('no name', '=x'),
      v('a space in the name', 'BAD NAME=x'),
      { what: 'the same NAME twice', words: ['DOMAIN=a', '--set', 'DOMAIN=b'] },
    ],
    matcher: [v('no operator', 'severity'), v('an invalid regex', 'team=~('), v('a lookahead (not RE2)', 'team=~(?=x)')],
    'existing-file': [v('a folder', fx.folder as string), v('missing', fx.missing as string), v('below a file', fx.underFile as string)],
    'existing-folder': [v('a file', fx.file as string), v('missing', fx.missing as string), v('below a file', fx.underFile as string)],
    'new-file': [
      v('an existing file', fx.file as string),
      v('a folder', fx.folder as string),
      v('its folder missing', fx.missing as string),
      v('below a file', fx.underFile as string),
    ],
    'file-or-name': [v('a folder', fx.folder as string), v('below a file', fx.underFile as string)],
    folder: [v('a file', fx.file as string), v('below a file', fx.underFile as string)],
    output: [v('a file', fx.file as string), v('a folder of files not rendered by us', fx.precious as string)],
    bundle: [
      v('missing', fx.missing as string),
      v('a file', fx.file as string),
      v('a folder that is no bundle', fx.notBundle as string),
      v('a bundle whose manifest is broken', fx.brokenBundle as string),
      v('the root folder', '/'),
      v('a bundle of the other env', join(root, `bundle-${envOf(spec) === 'prod' ? 'dev' : 'prod'}`)),
    ],
  };
  return [...out, ...(byFamily[kind.family] ?? [])];
}

function argvFor(name: string, option: OptionSpec, valid: string, bad: Bad): string[] {
  if (bad.words === undefined) return option.kind.family === 'flag' ? [`--${name}=yes`] : [`--${name}`];
  if (bad.twice) return option.kind.family === 'flag' ? [`--${name}`, `--${name}`] : [`--${name}`, valid, `--${name}`, valid];
  return [`--${name}`, ...bad.words];
}

const accepted = async (spec: CliSpec, argv: string[]) =>
  parseCli(spec, argv, { cwd: root, now: NOW }).then(
    () => true,
    () => false,
  );

/**
 * Other options the relations need for `name` to be judged on its own value
 * (restore-db --target-db needs --file or --latest): the smallest set found.
 */
async function companions(spec: CliSpec, name: string, option: OptionSpec): Promise<{ base: string[]; valid: string } | undefined> {
  const options = allOptions(spec);
  const words = (other: string): string[][] => {
    const o = options[other] as OptionSpec;
    return o.kind.family === 'flag' ? [[`--${other}`]] : validValues(o, spec).map((value) => [`--${other}`, value]);
  };
  // Not --env-file: Node 20 would read the fixture as an env file in the real runs.
  const others = Object.keys(options).filter((other) => other !== name && !SKIP.has(other) && !['env', 'environment', 'env-file'].includes(other));
  const own = option.kind.family === 'flag' ? [[`--${name}`]] : validValues(option, spec).map((value) => [`--${name}`, value]);
  const choices = others.flatMap(words);
  const sets = [[], ...choices, ...choices.flatMap((one, i) => choices.slice(i + 1).map((two) => [...one, ...two]))];
  for (const mine of own) {
    for (const base of sets) if (await accepted(spec, [...base, ...mine])) return { base, valid: mine[1] ?? '' };
  }
  return undefined;
}

interface Case {
  script: string;
  option: string;
  family: KindFamily;
  bad: Bad;
  argv: string[];
}

async function generate(): Promise<Case[]> {
  const cases: Case[] = [];
  for (const [script, spec] of SPECS) {
    for (const [name, option] of Object.entries(allOptions(spec))) {
      if (SKIP.has(name)) continue;
      const found = await companions(spec, name, option);
      if (!found) throw new Error(`${script} --${name}: no valid command line found for it; the generator needs a valid value of its kind`);
      for (const bad of badValues(option, found.valid, spec)) {
        cases.push({ script, option: name, family: option.kind.family, bad, argv: [...found.base, ...argvFor(name, option, found.valid, bad)] });
      }
    }
  }
  return cases;
}

describe('every script declares its options in a spec the tests can read', () => {
  it.each(SCRIPTS)('%s runs its spec, and --help shows the kind of each value', async (script) => {
    const spec = SPECS.get(script) as CliSpec;
    expect(spec.name).toBe(script);
    const text = readFileSync(join(REPO, 'scripts', script), 'utf8');
    expect(text).toContain(`from './lib/cli/specs/${script.replace(/\.ts$/, '.js')}'`);
    expect(text).toMatch(/runCli\(SPEC,/);
    const help = helpText(spec);
    for (const [name, option] of Object.entries(allOptions(spec))) {
      expect(help).toContain(`--${name}`);
      if (option.kind.family !== 'flag') expect(help).toContain(`value: ${option.kind.summary}`);
    }
    for (const relation of spec.relations ?? []) {
      for (const name of relationNames(relation)) expect(allOptions(spec), `${script} relation`).toHaveProperty(name);
      expect(help).toContain(describeRelation(relation));
    }
  });
});

describe('generated bad values, in process: one sentence naming the option', () => {
  it('refuses every bad value of every option of every script', async () => {
    const cases = await generate();
    // A floor, so a generator that lost its table cannot pass on nothing.
    expect(cases.length).toBeGreaterThan(700);
    const wrong: string[] = [];
    for (const c of cases) {
      const result = await parseCli(SPECS.get(c.script) as CliSpec, c.argv, { cwd: root, now: NOW }).then(
        () => undefined,
        (error: unknown) => error,
      );
      const label = `${c.script} --${c.option} (${c.family}) ${c.bad.what}: ${JSON.stringify(c.argv)}`;
      if (!(result instanceof BadInputError)) wrong.push(`${label}: ${result === undefined ? 'accepted' : String(result)}`);
      else if (!result.message.includes(`--${c.option}`)) wrong.push(`${label}: does not name the option: ${result.message}`);
      else if (result.message.includes('\n')) wrong.push(`${label}: more than one line: ${result.message}`);
      else if (c.bad.secret && `${result.message}${result.hint ?? ''}`.includes(c.bad.secret)) wrong.push(`${label}: shows the secret: ${result.message}`);
      else if (SPECS.get(c.script)?.dryRun && c.option !== 'dry-run' && !c.argv.includes('--dry-run')) {
        // A dry run refuses what the real run refuses, with the same sentence.
        const dry = await parseCli(SPECS.get(c.script) as CliSpec, ['--dry-run', ...c.argv], { cwd: root, now: NOW }).then(
          () => undefined,
          (error: unknown) => error,
        );
        const same = dry instanceof BadInputError && (dry.message === result.message || dry.message.includes('--dry-run'));
        if (!same) wrong.push(`${label}: with --dry-run: ${dry instanceof Error ? dry.message : 'accepted'}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});

/** The words that make a relation's condition hold: `--mode import`, `--base`, `--file <a valid file>`. */
function condWords(spec: CliSpec, cond: string): string[] {
  const [name, value] = cond.split('=') as [string, string | undefined];
  const option = allOptions(spec)[name] as OptionSpec;
  if (value !== undefined) return [`--${name}`, value];
  return option.kind.family === 'flag' ? [`--${name}`] : [`--${name}`, validValues(option, spec)[0] as string];
}

const showCond = (cond: string) => `--${cond.replace('=', ' ')}`;

/**
 * Whether some command line (the words, plus up to two other options with
 * valid values, none of `without`) is refused with a sentence `expected` accepts.
 */
async function refusedSomehow(spec: CliSpec, words: string[], without: string[], expected: (message: string) => boolean): Promise<boolean> {
  const options = allOptions(spec);
  const used = new Set([...without, ...words.filter((w) => w.startsWith('--')).map((w) => w.slice(2))]);
  const others = Object.keys(options).filter((name) => !used.has(name) && !SKIP.has(name) && !['env', 'environment', 'env-file'].includes(name));
  const choices = others.flatMap((name) => {
    const o = options[name] as OptionSpec;
    return o.kind.family === 'flag' ? [[`--${name}`]] : validValues(o, spec).map((value) => [`--${name}`, value]);
  });
  const sets = [[], ...choices, ...choices.flatMap((one, i) => choices.slice(i + 1).map((two) => [...one, ...two]))];
  for (const base of sets) {
    const error = await parseCli(spec, [...base, ...words], { cwd: root, now: NOW }).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (error instanceof BadInputError && !error.message.includes('\n') && expected(error.message)) return true;
  }
  return false;
}

describe('generated relations, in process: every relation of every spec is refused in one sentence', () => {
  it('refuses each pair that excludes each other, each option without what it applies with or needs', async () => {
    const missed: string[] = [];
    let checked = 0;
    for (const [script, spec] of SPECS) {
      for (const relation of spec.relations ?? []) {
        const probes: { what: string; words: string[]; without: string[]; names: string[] }[] = [];
        if ('oneOf' in relation) {
          const [a, b] = relation.oneOf as [string, string];
          probes.push({ what: `${a} with ${b}`, words: [...condWords(spec, a), ...condWords(spec, b)], without: [], names: [showCond(a), showCond(b)] });
        } else if ('excludes' in relation) {
          for (const x of relation.excludes)
            probes.push({
              what: `${relation.option} with ${x}`,
              words: [...condWords(spec, relation.option), ...condWords(spec, x)],
              without: [],
              names: [showCond(relation.option), showCond(x)],
            });
        } else {
          const missing = 'only' in relation ? relation.only : relation.needs;
          probes.push({
            what: `${relation.option} without ${missing.join('/')}`,
            words: condWords(spec, relation.option),
            without: missing.map((cond) => cond.split('=')[0] as string),
            names: [showCond(relation.option), ...('only' in relation ? relation.only : relation.needs.slice(0, 1)).map(showCond)],
          });
        }
        for (const probe of probes) {
          checked++;
          if (!(await refusedSomehow(spec, probe.words, probe.without, (message) => probe.names.every((name) => message.includes(name)))))
            missed.push(`${script}: ${probe.what} is not refused with a sentence naming ${probe.names.join(' and ')}`);
        }
      }
    }
    expect(checked).toBeGreaterThan(40);
    expect(missed).toEqual([]);
  });
});

/** Every file under `dir` with its size and mode. */
function snapshot(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .sort()
    .map((f) => {
      const s = statSync(join(dir, f));
      return `${f} ${s.isDirectory() ? 'dir' : s.size} ${(s.mode & 0o7777).toString(8)}`;
    });
}

/** Node 20 reads --env-file itself and exits 9 on a missing file or a folder, before the script: only these reach it. */
const reachesScript = (c: Case) => c.option !== 'env-file' || c.bad.what === 'twice' || c.bad.what === 'missing';

describe.concurrent('generated bad values, as real scripts: exit 2, one error line, nothing written', () => {
  /** Per script, one case per kind family: the n-th family of a script gets its n-th bad value, so the runs rotate through them. */
  const picked = new Map<string, Case[]>();
  /** The scripts' TMPDIR. */
  let scratch = '';
  beforeAll(async () => {
    scratch = join(root, '.tmp');
    mkdirSync(scratch);
    const groups = new Map<string, Case[]>();
    for (const c of (await generate()).filter(reachesScript)) {
      const key = `${c.script}\t${c.family}`;
      groups.set(key, [...(groups.get(key) ?? []), c]);
    }
    for (const [key, group] of groups) {
      const script = key.split('\t')[0] as string;
      const mine = picked.get(script) ?? [];
      mine.push(group[mine.length % group.length] as Case);
      picked.set(script, mine);
    }
  });

  it.each(SCRIPTS)(
    '%s',
    async (script) => {
      const mine = picked.get(script) ?? [];
      expect(mine.length).toBeGreaterThan(0);
      for (const c of mine) {
        const work = mkdtempSync(join(tmpdir(), 'healthmate-kinds-run-'));
        try {
          for (const sub of ['cwd', 'state']) mkdirSync(join(work, sub));
          const before = snapshot(work);
          const argv = [...c.argv, '--set', `SECRET_KEY=${SECRET}`];
          const result = await runScriptAsync(script, argv, {
            cwd: join(work, 'cwd'),
            env: { NO_COLOR: '1', TMPDIR: scratch, STATE_DIR: join(work, 'state') },
          });
          const output = result.stderr + result.stdout;
          const label = `${script} --${c.option} (${c.family}) ${c.bad.what}: ${JSON.stringify(argv)}\n${output}`;
          expect(result.code, label).toBe(2);
          const errors = result.stderr.match(/^error: .*$/gm) ?? [];
          expect(errors, label).toHaveLength(1);
          expect(errors[0], label).toContain(`--${c.option}`);
          expect(output, `${label}: no stack trace`).not.toMatch(/\n\s+at .+:\d+:\d+/);
          expect(output, label).not.toContain(SECRET);
          expect(output, label).not.toContain(PASSWORD);
          expect(snapshot(work), `${label}: nothing written`).toEqual(before);
          // Every run refuses before it makes one, so any temp folder here is a leak (tsx keeps its compile cache here).
          expect(
            readdirSync(scratch).filter((name) => !name.startsWith('tsx-')),
            `${label}: no temp folder left`,
          ).toEqual([]);
        } finally {
          rmSync(work, { recursive: true, force: true });
        }
      }
    },
    600_000,
  );
});

describe('after every run', () => {
  it('the fixtures are as they were (a kind only looks)', () => {
    expect(readdirSync(root).sort()).toEqual(['.tmp', 'broken-bundle', 'bundle-dev', 'bundle-prod', 'file.txt', 'folder', 'not-a-bundle', 'precious']);
    expect(readFileSync(join(root, 'precious', 'prod', 'precious.txt'), 'utf8')).toBe('keep me\n');
  });
});
