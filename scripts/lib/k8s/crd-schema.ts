import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readYamlDocuments } from '../yaml-data.js';

/** The operators' own CRDs, vendored unchanged (crds/README.md says where each comes from). */
export const CRD_DIR = join(import.meta.dirname, 'crds');

type Schema = Record<string, unknown>;

export interface ServedCrdSchema {
  /** apiVersion/kind, e.g. postgresql.cnpg.io/v1/Cluster. */
  key: string;
  /** The CRD file it comes from (its name carries the operator's version). */
  file: string;
  /** spec.versions[].schema.openAPIV3Schema of that served version. */
  openAPIV3Schema: Schema;
}

interface Crd {
  kind?: string;
  spec?: { group?: string; names?: { kind?: string }; versions?: { name?: string; served?: boolean; schema?: { openAPIV3Schema?: Schema } }[] };
}

/** Every served version of every CRD in dir; a version the CRD does not serve has no schema, as on a cluster. */
export function servedCrdSchemas(dir: string = CRD_DIR): ServedCrdSchema[] {
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.yaml'))
    .sort();
  return files.flatMap((file) =>
    (readYamlDocuments(readFileSync(join(dir, file), 'utf8')) as Crd[])
      .filter((crd) => crd?.kind === 'CustomResourceDefinition')
      .flatMap(({ spec }) =>
        (spec?.versions ?? [])
          .filter((version) => version.served === true && version.schema?.openAPIV3Schema)
          .map((version) => ({
            key: `${spec?.group}/${version.name}/${spec?.names?.kind}`,
            file,
            openAPIV3Schema: version.schema?.openAPIV3Schema as Schema,
          })),
      ),
  );
}

const PRESERVE_UNKNOWN = 'x-kubernetes-preserve-unknown-fields';
const INT_OR_STRING = 'x-kubernetes-int-or-string';
/**
 * Kubernetes extensions not checked here: CEL rules (no CEL evaluator) and the
 * list/map merge annotations of server-side apply. The server-side dry run of
 * deploy-k8s.ts checks them; anything else unknown makes ajv's strict mode throw.
 */
const NOT_CHECKED = ['x-kubernetes-validations', 'x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-map-type'];
/** Text for people: ajv compiles the Cluster's schema about three times faster without it. */
const DROPPED = [PRESERVE_UNKNOWN, INT_OR_STRING, 'description', ...NOT_CHECKED];

const isSchema = (value: unknown): value is Schema => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A structural schema node as the API server reads it with strict field
 * validation, in JSON Schema for ajv:
 * - an object that neither names additionalProperties nor preserves unknown
 *   fields refuses every field it does not list (kubectl: unknown field);
 * - x-kubernetes-preserve-unknown-fields keeps such an object open (the
 *   fields it lists are still checked);
 * - x-kubernetes-int-or-string takes an integer or a string; string rules
 *   (pattern) apply to strings only.
 */
export function strictJsonSchema(node: Schema): Schema {
  const out: Schema = {};
  for (const [keyword, value] of Object.entries(node)) {
    if (DROPPED.includes(keyword)) continue;
    if (keyword === 'properties' && isSchema(value)) {
      out.properties = Object.fromEntries(Object.entries(value).map(([name, child]) => [name, strictJsonSchema(child as Schema)]));
    } else if ((keyword === 'items' || keyword === 'additionalProperties' || keyword === 'not') && isSchema(value)) {
      out[keyword] = strictJsonSchema(value);
    } else if ((keyword === 'anyOf' || keyword === 'allOf' || keyword === 'oneOf') && Array.isArray(value)) {
      out[keyword] = value.map((child: Schema) => strictJsonSchema(child));
    } else {
      out[keyword] = value;
    }
  }
  if (node[INT_OR_STRING] === true) out.type = ['integer', 'string'];
  if (out.type === 'object' && out.additionalProperties === undefined && node[PRESERVE_UNKNOWN] !== true) out.additionalProperties = false;
  return out;
}

/** The whole object's schema; metadata is left to the ObjectMeta check every kind gets. */
export function crdJsonSchema(openAPIV3Schema: Schema): Schema {
  const schema = strictJsonSchema(openAPIV3Schema);
  return { ...schema, properties: { ...(schema.properties as Schema), metadata: true } };
}

/**
 * The converted schema cut down to what one object uses: a subschema whose
 * place holds no data is never applied, so it becomes `true` and the verdict
 * on that object is the same. ajv compiles the Cluster's whole schema in
 * about 0.4 s of CPU; the part a manifest uses, in a few milliseconds.
 */
export function schemaForObject(schema: Schema, object: unknown): Schema {
  return cut(schema, [object]) as Schema;
}

function cut(schema: Schema, values: unknown[]): Schema | boolean {
  if (values.length === 0) return true;
  const objects = values.filter(isSchema);
  const out: Schema = { ...schema };
  const properties = isSchema(schema.properties) ? schema.properties : {};
  if (isSchema(schema.properties)) {
    out.properties = Object.fromEntries(
      Object.entries(properties).map(([name, child]) => [
        name,
        cut(
          child as Schema,
          objects.filter((o) => name in o).map((o) => o[name]),
        ),
      ]),
    );
  }
  if (isSchema(schema.additionalProperties)) {
    const unlisted = objects.flatMap((o) => Object.entries(o).filter(([name]) => !(name in properties)));
    out.additionalProperties = cut(
      schema.additionalProperties,
      unlisted.map(([, value]) => value),
    );
  }
  if (isSchema(schema.items)) out.items = cut(schema.items, values.filter(Array.isArray).flat());
  for (const keyword of ['anyOf', 'allOf', 'oneOf'] as const) {
    const branches = schema[keyword];
    if (Array.isArray(branches)) out[keyword] = branches.map((branch: Schema) => cut(branch, values));
  }
  if (isSchema(schema.not)) out.not = cut(schema.not, values);
  return out;
}

const INT32 = 2 ** 31;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}(:?\d{2})?)?$/;

/** The OpenAPI formats these CRDs use, checked as the API server does (ajv refuses a schema with any other). */
export const KUBERNETES_FORMATS = {
  int32: { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -INT32 && n < INT32 },
  int64: { type: 'number', validate: (n: number) => Number.isInteger(n) },
  'date-time': { type: 'string', validate: (s: string) => DATE_TIME.test(s) },
} as const;

/** ajv options for these schemas: every error, strict mode (a keyword it does not know throws), the formats above. */
export const CRD_AJV_OPTIONS = { allErrors: true, strict: true, allowUnionTypes: true, formats: KUBERNETES_FORMATS };
