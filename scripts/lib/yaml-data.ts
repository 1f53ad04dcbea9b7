import { createRequire } from 'node:module';
import { CORE_SCHEMA, dump, loadAll, mergeTag } from 'js-yaml';

/**
 * YAML read and written as plain data: js-yaml builds values straight from its
 * parser's events, about three times faster than the `yaml` library's documents
 * in a fresh process, which is where render, check and deploy parse. The `yaml`
 * library stays where a document's positions or comments are needed (lint,
 * validators with line numbers, editing a file in place).
 *
 * YAML 1.2's core schema, as the `yaml` library reads it, plus merge keys
 * (`<<: *defaults`) that compose files use.
 */
const SCHEMA = CORE_SCHEMA.withTags(mergeTag);

/** Every document of a YAML stream; throws on the first syntax error, in one line (`reason (line:column)`). */
export function readYamlDocuments(text: string): unknown[] {
  try {
    return loadAll(text, { schema: SCHEMA });
  } catch (error) {
    // js-yaml's message goes on with a snippet of the text around the error.
    throw new Error(error instanceof Error ? (error.message.split('\n')[0] as string) : String(error), { cause: error });
  }
}

/** A single-document YAML text (null when empty); throws on a syntax error or a second document. */
export function readYaml(text: string): unknown {
  const documents = readYamlDocuments(text);
  if (documents.length > 1) throw new Error(`expected one YAML document, found ${documents.length}`);
  return documents[0] ?? null;
}

/** Plain data as one YAML document, lines never folded. Strings that would read back as another type are quoted. */
export function writeYaml(value: unknown): string {
  return dump(value, { schema: SCHEMA, lineWidth: -1, noRefs: true });
}

/** The reader's entry file: its path, size and mtime stand for its version where a parse is remembered. */
export const yamlReaderFile = (): string => createRequire(import.meta.url).resolve('js-yaml');
