/**
 * Validates resources against the CustomResourceDefinitions of the projects they are for,
 * read at test time from the shared schema folder (../shared/data/schemas/crds beside the
 * project root; its SOURCES names the revisions). Never copied into the repository.
 *
 * A CRD's `openAPIV3Schema` is a structural schema: JSON Schema plus `x-kubernetes-*`
 * extensions. The API server prunes fields it does not know, and `kubectl apply` (strict field
 * validation, its default) refuses them, so every object schema that lists its properties and
 * does not preserve unknown fields gets `additionalProperties: false` here: a misspelt field
 * fails as it would on a cluster. `x-kubernetes-int-or-string` becomes integer-or-string,
 * `x-kubernetes-list-type: set` unique items, and the root also requires the CRD's own
 * apiVersion and kind. CEL rules (`x-kubernetes-validations`) are not evaluated.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { sharedDir } from './shared-dir.js';

type Schema = Record<string, unknown>;

/** The shared crds folder (see sharedDir). */
export function crdDir(): string {
  return sharedDir(join('data', 'schemas', 'crds'));
}

function strict(s: Schema): Schema {
  const out: Schema = { ...s };
  if (out['x-kubernetes-int-or-string'] === true) {
    delete out.type;
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  if (out['x-kubernetes-list-type'] === 'set') out.uniqueItems = true;
  if (out['x-kubernetes-embedded-resource'] === true && out.properties)
    out.properties = {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      ...(out.properties as Schema),
    };
  if (out.properties) {
    out.properties = Object.fromEntries(
      Object.entries(out.properties as Record<string, Schema>).map(([k, v]) => [k, strict(v)]),
    );
    if (out['x-kubernetes-preserve-unknown-fields'] !== true && out.additionalProperties === undefined)
      out.additionalProperties = false;
  }
  if (out.items && typeof out.items === 'object') out.items = strict(out.items as Schema);
  if (out.additionalProperties && typeof out.additionalProperties === 'object')
    out.additionalProperties = strict(out.additionalProperties as Schema);
  for (const k of ['allOf', 'anyOf', 'oneOf']) if (Array.isArray(out[k])) out[k] = (out[k] as Schema[]).map(strict);
  if (out.not && typeof out.not === 'object') out.not = strict(out.not as Schema);
  return out;
}

interface Crd {
  spec: {
    group: string;
    names: { kind: string };
    versions: { name: string; served: boolean; schema: { openAPIV3Schema: Schema } }[];
  };
}

const cache = new Map<string, ValidateFunction>();

/** A validator for `file`'s version `version` (which must be served). */
export function crdValidator(file: string, version: string): ValidateFunction {
  const key = `${file}@${version}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const crd = parse(readFileSync(join(crdDir(), file), 'utf8')) as Crd;
  const v = crd.spec.versions.find((x) => x.name === version);
  if (!v || !v.served) throw new Error(`${file} has no served version ${version}`);
  const root = strict(v.schema.openAPIV3Schema);
  root.properties = {
    ...(root.properties as Schema),
    apiVersion: { const: `${crd.spec.group}/${version}` },
    kind: { const: crd.spec.names.kind },
    metadata: (root.properties as Schema | undefined)?.metadata ?? { type: 'object' },
  };
  root.required = [...new Set([...((root.required as string[] | undefined) ?? []), 'apiVersion', 'kind', 'metadata'])];
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  const validate = ajv.compile(root);
  cache.set(key, validate);
  return validate;
}

export const CRDS = {
  clusterPolicy: ['kyverno.io_clusterpolicies.yaml', 'v1'],
  imageValidatingPolicy: ['policies.kyverno.io_imagevalidatingpolicies.yaml', 'v1'],
  imageValidatingPolicyV1beta1: ['policies.kyverno.io_imagevalidatingpolicies.yaml', 'v1beta1'],
  clusterImagePolicy: ['policy.sigstore.dev_clusterimagepolicies.yaml', 'v1beta1'],
} as const;

/** The validation errors of `doc` against its CRD, as `path: message` lines (empty when valid). */
export function crdErrors(which: keyof typeof CRDS, doc: unknown): string[] {
  const [file, version] = CRDS[which];
  const validate = crdValidator(file, version);
  if (validate(doc)) return [];
  return (validate.errors ?? []).map(
    (e: ErrorObject) =>
      `${e.instancePath || '/'}: ${e.message ?? e.keyword}${e.keyword === 'additionalProperties' ? ` (${String((e.params as { additionalProperty?: string }).additionalProperty)})` : ''}`,
  );
}
