/**
 * The official SBOM JSON schemas, read at test time from the shared schema folder
 * (../shared/data/schemas/sbom beside the project root; its SOURCES names the revisions),
 * never copied into the repository: CycloneDX 1.6 (draft-07, with the spdx and jsf schemas it
 * references by $id) and SPDX 3.0.1 (draft 2020-12).
 *
 * ajv-formats has no `iri-reference` or `idn-email` (CycloneDX uses both): they are checked
 * here with the WHATWG URL parser (a reference resolved against a base) and an address shape.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sharedDir } from './shared-dir.js';

// ajv-formats is CommonJS: the function is the default export or its `.default`.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv | Ajv2020,
) => void;

const schema = (file: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(sharedDir(join('data', 'schemas', 'sbom')), file), 'utf8')) as Record<string, unknown>;

function iriReference(v: string): boolean {
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f<>"{}|\\^`]/u.test(v)) return false;
  try {
    new URL(v, 'http://base.invalid/');
    return true;
  } catch {
    return false;
  }
}

let cdx: ValidateFunction | undefined;
let spdx: ValidateFunction | undefined;

export function cycloneDxValidator(): ValidateFunction {
  if (cdx) return cdx;
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addFormat('iri-reference', iriReference);
  ajv.addFormat('idn-email', /^[^\s@]+@[^\s@]+$/u);
  ajv.addSchema(schema('spdx.schema.json'));
  ajv.addSchema(schema('jsf-0.82.schema.json'));
  cdx = ajv.compile(schema('bom-1.6.schema.json'));
  return cdx;
}

export function spdxValidator(): ValidateFunction {
  if (spdx) return spdx;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  spdx = ajv.compile(schema('spdx-json-schema.json'));
  return spdx;
}

/** The errors of `validate` on `doc`, as lines (empty when valid). */
export function schemaErrors(validate: ValidateFunction, doc: unknown): string[] {
  if (validate(doc)) return [];
  return (validate.errors ?? []).map(
    (e: ErrorObject) => `${e.instancePath} ${e.message ?? ''} ${JSON.stringify(e.params)}`,
  );
}
