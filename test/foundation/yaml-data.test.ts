import { describe, expect, it } from 'vitest';
import { parseCompose } from '../../scripts/lib/compose/model.js';
import { syntaxError } from '../../scripts/lib/render/syntax.js';
import { readYaml, readYamlDocuments, writeYaml } from '../../scripts/lib/yaml-data.js';

// The plain-data reader stands in for the `yaml` library on the start-up path:
// these pin the parts of its behaviour the callers rely on.
describe('readYaml', () => {
  it('resolves merge keys, as compose files use them', () => {
    const model = parseCompose(
      ['x-defaults: &defaults', '  restart: unless-stopped', '  user: "1000"', 'services:', '  api:', '    <<: *defaults', '    image: api:1', ''].join('\n'),
    );
    expect(model.services[0]).toMatchObject({ name: 'api', image: 'api:1', restart: 'unless-stopped', user: '1000' });
  });

  it('reads YAML 1.2 core scalars: dates stay strings, 0755 is decimal, yes is a string', () => {
    expect(readYaml('d: 2026-12-01\no: 0755\ny: yes\nb: true\n')).toEqual({ d: '2026-12-01', o: 755, y: 'yes', b: true });
  });

  it('gives null for an empty or comment-only text', () => {
    expect(readYaml('')).toBeNull();
    expect(readYaml('# nothing here\n')).toBeNull();
  });

  it('refuses a second document where one is expected, and reads every document of a stream', () => {
    expect(() => readYaml('a: 1\n---\nb: 2\n')).toThrow(/expected one YAML document, found 2/);
    expect(readYamlDocuments('a: 1\n---\nb: 2\n')).toEqual([{ a: 1 }, { b: 2 }]);
  });

  it.each([
    ['duplicate key', 'a: 1\na: 2\n', /duplicated mapping key/],
    ['unclosed quote', 'a: "open\nb: 1\n', /invalid YAML/],
    ['a value that opens a mapping', 'a: b: c\n', /bad indentation/],
    ['tab indentation', 'a:\n\t- 1\n', /invalid YAML/],
  ])('the render syntax check refuses %s', (_name, text, message) => {
    expect(syntaxError('x.yml', text)).toMatch(message);
  });

  it('the render syntax check accepts a valid stream and leaves other formats alone', () => {
    expect(syntaxError('x.yaml', 'a: 1\n---\nb: [1, 2]\n')).toBeUndefined();
    expect(syntaxError('x.conf', 'a: b: c')).toBeUndefined();
    expect(syntaxError('x.json', '{"a": 1,}')).toMatch(/^invalid JSON/);
  });
});

describe('writeYaml', () => {
  it('writes data that reads back the same, quoting strings that look like other types and folding no line', () => {
    const long = `{{ $labels.instance }} ${'x'.repeat(300)}`;
    const data = { a: 'true', b: '0755', c: '1.5', d: 'null', e: long, f: 'multi\nline\n', g: [1, true, null], h: { '<<': 'key' } };
    const text = writeYaml(data);
    expect(readYaml(text)).toEqual(data);
    expect(text).toContain(`e: '${long}'\n`);
    expect(text).toMatch(/^a: 'true'$/m);
  });
});
