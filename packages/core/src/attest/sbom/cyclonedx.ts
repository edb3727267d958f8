/**
 * CycloneDX 1.6 ML-BOM, built with @cyclonedx/cyclonedx-library (its Spec1dot6 JSON
 * normalizer writes the bom, the components, hashes, licences, properties and external
 * references). Version 10 of the library has no model for two CycloneDX 1.6 fields, which are
 * added to its normalized output: `modelCard` on the model component (the library's Component
 * has no modelCard) and `data` on dataset components. Model-card facts CycloneDX has no field
 * for (parameter count, quantization, precision, weight format) are `modelCard.properties`.
 */
import { createHash } from 'node:crypto';
// The library's subpath entries, not its root: the root also loads its bundled schema files
// through `__dirname` (resources.node.js), which does not exist in the ESM bundles the actions
// run (dist/*), so importing it would break every action at load time.
import * as Enums from '@cyclonedx/cyclonedx-library/Enums';
import * as Models from '@cyclonedx/cyclonedx-library/Models';
import * as Serialize from '@cyclonedx/cyclonedx-library/Serialize';
import * as Spec from '@cyclonedx/cyclonedx-library/Spec';
import type { SbomModel } from './model.js';

export const CYCLONEDX_PREDICATE_TYPE = 'https://cyclonedx.org/bom';

const MODEL_REF = 'model';
const fileRef = (path: string): string => `file:${path}`;
const datasetRef = (name: string): string => `dataset:${name}`;

/** A UUID (v4 layout) derived from the artifact and the time, so a given run is reproducible. */
function serialNumber(m: SbomModel, now: Date): string {
  const h = createHash('sha256').update(`${m.digest}\n${now.toISOString()}\ncyclonedx`).digest('hex');
  const v = `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  return `urn:uuid:${v}`;
}

export function buildCycloneDx(
  m: SbomModel,
  options: { now?: Date; tool?: { name: string; version: string } } = {},
): Record<string, unknown> {
  const now = options.now ?? new Date();
  const bom = new Models.Bom();
  bom.serialNumber = serialNumber(m, now);
  bom.metadata.timestamp = now;
  const tool = options.tool ?? { name: 'modelship', version: '0' };
  bom.metadata.tools.components.add(
    new Models.Component(Enums.ComponentType.Application, tool.name, { version: tool.version }),
  );

  const model = new Models.Component(Enums.ComponentType.MachineLearningModel, m.name, {
    bomRef: MODEL_REF,
    purl: m.purl,
    ...(m.version ? { version: m.version } : {}),
    ...(m.description ? { description: m.description } : {}),
  });
  model.hashes.set(Enums.HashAlgorithm['SHA-256'], m.digest.replace(/^sha256:/, ''));
  // CycloneDX takes one expression (or a list of single licences): several declared
  // expressions all apply, so they are joined with AND.
  if (m.licenses.length)
    model.licenses.add(
      new Models.LicenseExpression(
        m.licenses.length === 1 ? m.licenses[0]! : m.licenses.map((l) => `(${l})`).join(' AND '),
      ),
    );
  if (m.vendor) model.supplier = new Models.OrganizationalEntity({ name: m.vendor });
  if (m.sourceURL)
    model.externalReferences.add(
      new Models.ExternalReference(
        m.sourceURL,
        Enums.ExternalReferenceType.VCS,
        m.revision ? { comment: `revision ${m.revision}` } : {},
      ),
    );
  if (m.docURL)
    model.externalReferences.add(new Models.ExternalReference(m.docURL, Enums.ExternalReferenceType.Documentation));
  const prop = (name: string, value: string | undefined): void => {
    if (value !== undefined) model.properties.add(new Models.Property(name, value));
  };
  prop('modelship:mof:class', String(m.mof.class));
  prop('modelship:mof:label', m.mof.label);
  prop('modelship:oci:reference', `${m.subject}@${m.digest}`);
  for (const b of m.baseModels) prop('modelship:base-model', b);
  bom.metadata.component = model;

  for (const f of m.files) {
    const c = new Models.Component(Enums.ComponentType.File, f.path, { bomRef: fileRef(f.path) });
    if (f.sha256) c.hashes.set(Enums.HashAlgorithm['SHA-256'], f.sha256);
    c.properties.add(new Models.Property('modelship:layer:digest', f.layer));
    c.properties.add(new Models.Property('modelship:layer:mediaType', f.mediaType));
    c.properties.add(new Models.Property('modelship:layer:kind', f.kind));
    c.properties.add(new Models.Property('modelship:size', String(f.size)));
    bom.components.add(c);
    model.dependencies.add(c.bomRef);
  }
  const refs = new Set(m.files.map((f) => fileRef(f.path)));
  for (const d of m.datasets) {
    if (d.path && refs.has(fileRef(d.path))) continue; // a dataset layer is its file component
    const c = new Models.Component(Enums.ComponentType.Data, d.name, { bomRef: datasetRef(d.name) });
    if (d.url) c.externalReferences.add(new Models.ExternalReference(d.url, Enums.ExternalReferenceType.Distribution));
    bom.components.add(c);
    model.dependencies.add(c.bomRef);
  }

  const normalized = new Serialize.JSON.Normalize.Factory(Spec.Spec1dot6)
    .makeForBom()
    .normalize(bom, { sortLists: true }) as unknown as Record<string, unknown>;
  return withMlFields(normalized, m);
}

/** Adds what the library cannot express (module comment): `modelCard` and dataset `data`. */
function withMlFields(bom: Record<string, unknown>, m: SbomModel): Record<string, unknown> {
  const meta = bom['metadata'] as { component: Record<string, unknown> };
  const parameters: Record<string, unknown> = {};
  if (m.task) parameters['task'] = m.task;
  if (m.family) parameters['architectureFamily'] = m.family;
  if (m.architecture) parameters['modelArchitecture'] = m.architecture;
  const datasets = m.datasets.map((d) => ({ ref: d.path ? fileRef(d.path) : datasetRef(d.name) }));
  if (datasets.length) parameters['datasets'] = datasets;
  if (m.inputs.length) parameters['inputs'] = m.inputs.map((format) => ({ format }));
  if (m.outputs.length) parameters['outputs'] = m.outputs.map((format) => ({ format }));
  const pairs: [string, string | undefined][] = [
    ['modelship:parameters', m.paramSize],
    ['modelship:quantization', m.quantization],
    ['modelship:precision', m.precision],
    ['modelship:format', m.format],
    ...m.languages.map((l): [string, string] => ['modelship:language', l]),
  ];
  const properties = pairs
    .filter((p): p is [string, string] => p[1] !== undefined)
    .map(([name, value]) => ({ name, value }));
  meta.component['modelCard'] = {
    'bom-ref': 'model-card',
    modelParameters: parameters,
    ...(properties.length ? { properties } : {}),
  };
  for (const c of (bom['components'] ?? []) as Record<string, unknown>[]) {
    if (c['type'] !== 'data') continue;
    const d = m.datasets.find((x) => datasetRef(x.name) === c['bom-ref']);
    if (d) c['data'] = [{ type: 'dataset', name: d.name, ...(d.url ? { contents: { url: d.url } } : {}) }];
  }
  return bom;
}

/** What verify checks of a CycloneDX SBOM: it names the artifact, and every layer. */
export function cycloneDxProblems(bom: Record<string, unknown>, digest: string, layers: readonly string[]): string[] {
  const problems: string[] = [];
  if (bom['bomFormat'] !== 'CycloneDX' || bom['specVersion'] !== '1.6') problems.push('not a CycloneDX 1.6 BOM');
  const component = (
    bom['metadata'] as { component?: { type?: string; hashes?: { alg?: string; content?: string }[] } } | undefined
  )?.component;
  const hex = digest.replace(/^sha256:/, '');
  if (
    component?.type !== 'machine-learning-model' ||
    !component.hashes?.some((h) => h.alg === 'SHA-256' && h.content === hex)
  )
    problems.push(`its machine-learning-model component is not ${digest}`);
  const listed = new Set(
    ((bom['components'] ?? []) as { properties?: { name?: string; value?: string }[] }[]).flatMap((c) =>
      (c.properties ?? []).filter((p) => p.name === 'modelship:layer:digest').map((p) => p.value),
    ),
  );
  const missing = layers.filter((l) => !listed.has(l));
  if (missing.length) problems.push(`layers not in it: ${missing.join(', ')}`);
  return problems;
}
