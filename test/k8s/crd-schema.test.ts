import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { describe, expect, it } from 'vitest';
import { CRD_AJV_OPTIONS, CRD_DIR, crdJsonSchema, schemaForObject, servedCrdSchemas } from '../../scripts/lib/k8s/crd-schema.js';
import { tempDir } from '../helpers/tmp.js';

/** A small CRD with every structural-schema case the reader handles, served as v1 only. */
const WIDGET_CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.org
spec:
  group: example.org
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
    - name: v1beta1
      served: false
      storage: false
      schema:
        openAPIV3Schema: {type: object}
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            apiVersion: {type: string}
            kind: {type: string}
            metadata: {type: object}
            spec:
              type: object
              required: [size]
              properties:
                size: {type: integer, format: int32, minimum: 1}
                strict:
                  type: object
                  description: no word about unknown fields, so they are refused
                  properties:
                    name: {type: string}
                open:
                  type: object
                  x-kubernetes-preserve-unknown-fields: true
                  properties:
                    name: {type: string}
                labels:
                  type: object
                  additionalProperties: {type: string}
                empty: {type: object}
                port:
                  x-kubernetes-int-or-string: true
                  anyOf: [{type: integer}, {type: string}]
                  pattern: '^[a-z]+$'
                rules:
                  type: array
                  x-kubernetes-list-type: map
                  x-kubernetes-list-map-keys: [name]
                  items:
                    type: object
                    required: [name]
                    properties:
                      name: {type: string}
                  x-kubernetes-validations:
                    - rule: self.size() < 10
                      message: at most ten rules
`;

function widgetValidator() {
  const dir = tempDir();
  writeFileSync(join(dir, 'example.org_widgets.yaml'), WIDGET_CRD);
  const served = servedCrdSchemas(dir);
  expect(served.map((s) => `${s.key} ${s.file}`)).toEqual(['example.org/v1/Widget example.org_widgets.yaml']);
  const schema = crdJsonSchema(served[0]?.openAPIV3Schema ?? {});
  const ajv = new Ajv(CRD_AJV_OPTIONS);
  const whole = ajv.compile(schema);
  const errors = (validate: ValidateFunction, object: object): string[] =>
    validate(object)
      ? []
      : (validate.errors ?? []).map((e) => `${e.instancePath}: ${e.message}${e.params.additionalProperty ? ` ${e.params.additionalProperty}` : ''}`);
  /** "path: message" of each error, [] when valid; the schema cut to the object gives the same verdict as the whole one. */
  return (spec: object, extra: object = {}): string[] => {
    const object = { apiVersion: 'example.org/v1', kind: 'Widget', metadata: { name: 'w', anything: 1 }, spec, ...extra };
    const found = errors(ajv.compile(schemaForObject(schema, object)), object);
    expect(found).toEqual(errors(whole, object));
    return found;
  };
}

describe('CRD schemas read as the API server does with strict field validation', () => {
  let validator: ReturnType<typeof widgetValidator> | undefined;
  /** Compiled once, in the first test (its temp folder goes when that test ends). */
  const check: ReturnType<typeof widgetValidator> = (spec, extra) => {
    validator ??= widgetValidator();
    return validator(spec, extra);
  };

  it('takes a valid object; metadata is left to the ObjectMeta check', () => {
    expect(check({ size: 3, strict: { name: 'a' }, open: { name: 'b' }, labels: { a: 'b' }, empty: {}, port: 80, rules: [{ name: 'r' }] })).toEqual([]);
  });

  it('refuses a field an object does not list, at any depth, and at the top', () => {
    expect(check({ size: 3, szie: 4 })).toEqual(['/spec: must NOT have additional properties szie']);
    expect(check({ size: 3, strict: { name: 'a', nmae: 'b' } })).toEqual(['/spec/strict: must NOT have additional properties nmae']);
    expect(check({ size: 3, rules: [{ name: 'r' }, { name: 2 }, { name: 'r', kind: 'x' }] })).toEqual([
      '/spec/rules/1/name: must be string',
      '/spec/rules/2: must NOT have additional properties kind',
    ]);
    expect(check({ size: 3 }, { status: {} })).toEqual([': must NOT have additional properties status']);
    // An object schema with no properties keeps none: the server prunes, strict validation refuses.
    expect(check({ size: 3, empty: { a: 1 } })).toEqual(['/spec/empty: must NOT have additional properties a']);
  });

  it('x-kubernetes-preserve-unknown-fields keeps unknown fields, and still checks the ones it lists', () => {
    expect(check({ size: 3, open: { name: 'b', anything: { deep: [1] } } })).toEqual([]);
    expect(check({ size: 3, open: { name: 5 } })).toEqual(['/spec/open/name: must be string']);
  });

  it('additionalProperties schemas hold for every key', () => {
    expect(check({ size: 3, labels: { a: 'b', c: 2 } })).toEqual(['/spec/labels/c: must be string']);
  });

  it('x-kubernetes-int-or-string takes an integer or a matching string, nothing else', () => {
    expect(check({ size: 3, port: 8080 })).toEqual([]);
    expect(check({ size: 3, port: 'http' })).toEqual([]);
    expect(check({ size: 3, port: 'HTTP' })).toEqual(['/spec/port: must match pattern "^[a-z]+$"']);
    expect(check({ size: 3, port: 1.5 })).toContain('/spec/port: must be integer,string');
    expect(check({ size: 3, port: true })).toContain('/spec/port: must be integer,string');
  });

  it('types, formats, bounds and required fields', () => {
    expect(check({ size: '3' })).toEqual(['/spec/size: must be integer']);
    expect(check({ size: 2 ** 31 })).toEqual(['/spec/size: must match format "int32"']);
    expect(check({ size: 0 })).toEqual(['/spec/size: must be >= 1']);
    expect(check({})).toEqual(["/spec: must have required property 'size'"]);
  });

  it('a Kubernetes extension it does not know is an error at compile time, never silently ignored', () => {
    const schema = crdJsonSchema({ type: 'object', properties: { spec: { type: 'object', 'x-kubernetes-embedded-resource': true } } });
    expect(() => new Ajv(CRD_AJV_OPTIONS).compile(schema)).toThrow(/x-kubernetes-embedded-resource/);
  });

  it('the vendored CRDs are the operators’ named releases, one served version each', () => {
    expect(readdirSync(CRD_DIR).sort()).toEqual([
      'LICENSE',
      'README.md',
      'barmancloud.cnpg.io_objectstores.v0.6.0.yaml',
      'postgresql.cnpg.io_clusters.v1.27.1.yaml',
      'postgresql.cnpg.io_scheduledbackups.v1.27.1.yaml',
    ]);
    expect(servedCrdSchemas().map((s) => s.key)).toEqual([
      'barmancloud.cnpg.io/v1/ObjectStore',
      'postgresql.cnpg.io/v1/Cluster',
      'postgresql.cnpg.io/v1/ScheduledBackup',
    ]);
  });
});
