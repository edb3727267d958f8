/**
 * SPDX 3.0.1 JSON-LD with the AI and Dataset profiles: the model as an `ai_AIPackage`, each
 * file a `software_File`, datasets `dataset_DatasetPackage`, joined by `contains` and
 * `trainedOn` relationships, licences as `simplelicensing_LicenseExpression` elements. Hand
 * built: no maintained JavaScript library writes SPDX 3 (the spdx/tools-js line stops at 2.x).
 * Element ids are IRIs under a namespace unique to the artifact and the run.
 */
import { createHash } from 'node:crypto';
import type { SbomModel } from './model.js';

export const SPDX_PREDICATE_TYPE = 'https://spdx.dev/Document';
export const SPDX_VERSION = '3.0.1';
export const SPDX_CONTEXT = 'https://spdx.org/rdf/3.0.1/spdx-context.jsonld';

/** SPDX 3 timestamps are whole seconds, UTC. */
const spdxTime = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export function buildSpdx(
  m: SbomModel,
  options: { now?: Date; tool?: { name: string; version: string } } = {},
): Record<string, unknown> {
  const now = options.now ?? new Date();
  const tool = options.tool ?? { name: 'modelship', version: '0' };
  const run = createHash('sha256').update(`${m.digest}\n${now.toISOString()}\nspdx`).digest('hex').slice(0, 16);
  const ns = `https://modelship.dev/spdx/${m.digest.replace(/^sha256:/, '')}/${run}#`;
  const id = (local: string): string => `${ns}${encodeURIComponent(local)}`;
  const ci = '_:creationinfo';
  const graph: Record<string, unknown>[] = [];
  const el = (type: string, local: string, fields: Record<string, unknown>): string => {
    const spdxId = id(local);
    graph.push({ type, spdxId, creationInfo: ci, ...fields });
    return spdxId;
  };
  const agent = el('SoftwareAgent', 'agent-modelship', { name: tool.name });
  const toolId = el('Tool', 'tool-modelship', { name: `${tool.name} ${tool.version}` });
  const supplier = m.vendor ?? m.authors[0];
  const supplierId = supplier ? el('Organization', 'supplier', { name: supplier }) : undefined;
  const sha256 = (hex: string) => ({ type: 'Hash', algorithm: 'sha256', hashValue: hex });

  const pairs: [string, string | undefined][] = [
    ['parameters', m.paramSize],
    ['quantization', m.quantization],
    ['precision', m.precision],
    ['format', m.format],
    ['architectureFamily', m.family],
  ];
  const hyper = pairs
    .filter((p): p is [string, string] => p[1] !== undefined)
    .map(([key, value]) => ({ type: 'DictionaryEntry', key, value }));
  const model = el('ai_AIPackage', 'model', {
    name: m.name,
    ...(m.description ? { description: m.description } : {}),
    software_packageVersion: m.version ?? m.digest,
    software_primaryPurpose: 'model',
    software_downloadLocation: m.sourceURL ?? `${m.subject}@${m.digest}`,
    software_packageUrl: m.purl,
    ...(m.docURL ? { software_homePage: m.docURL } : {}),
    verifiedUsing: [sha256(m.digest.replace(/^sha256:/, ''))],
    externalIdentifier: [{ type: 'ExternalIdentifier', externalIdentifierType: 'packageUrl', identifier: m.purl }],
    ...(supplierId ? { suppliedBy: supplierId } : {}),
    releaseTime: spdxTime(m.createdAt ? new Date(m.createdAt) : now),
    ...(m.architecture ? { ai_typeOfModel: [m.architecture] } : {}),
    ...(m.task ? { ai_domain: [m.task] } : {}),
    ...(hyper.length ? { ai_hyperparameter: hyper } : {}),
    ai_autonomyType: 'noAssertion',
    ...(m.baseModels.length ? { ai_informationAboutTraining: `fine-tuned from ${m.baseModels.join(', ')}` } : {}),
    comment: `Model Openness Framework: ${m.mof.label} (class ${m.mof.class})`,
  });

  const files = m.files.map((f) =>
    el('software_File', `file-${f.path}`, {
      name: f.path,
      software_primaryPurpose: f.kind === 'weight' ? 'model' : f.kind === 'dataset' ? 'data' : f.kind === 'code' ? 'source' : f.kind === 'doc' ? 'documentation' : f.kind === 'weight.config' ? 'configuration' : 'file',
      ...(f.sha256 ? { verifiedUsing: [sha256(f.sha256)] } : {}),
      externalIdentifier: [
        {
          type: 'ExternalIdentifier',
          externalIdentifierType: 'other',
          identifier: f.layer,
          issuingAuthority: 'OCI layer digest',
          comment: f.mediaType,
        },
      ],
    }),
  ); // prettier-ignore
  const datasets = m.datasets.map((d) =>
    el('dataset_DatasetPackage', `dataset-${d.name}`, {
      name: d.name,
      software_primaryPurpose: 'data',
      software_downloadLocation: d.url ?? `${m.subject}@${m.digest}`,
      releaseTime: spdxTime(now),
      dataset_datasetType: ['noAssertion'],
      ...(d.path ? { comment: `the dataset layer ${d.path} of this artifact` } : {}),
    }),
  );
  let rel = 0;
  const relationship = (type: string, to: string[]): void => {
    if (to.length) el('Relationship', `relationship-${++rel}`, { from: model, relationshipType: type, to });
  };
  relationship('contains', files);
  relationship('trainedOn', datasets);
  const licenses = m.licenses.map((expr, i) =>
    el('simplelicensing_LicenseExpression', `license-${i + 1}`, { simplelicensing_licenseExpression: expr }),
  );
  relationship('hasDeclaredLicense', licenses);

  const document = {
    type: 'SpdxDocument',
    spdxId: id('document'),
    creationInfo: ci,
    name: `${m.name} (${m.subject}@${m.digest})`,
    profileConformance: ['core', 'software', 'ai', 'dataset', 'simpleLicensing'],
    rootElement: [model],
    element: graph.map((g) => g['spdxId'] as string),
  };
  return {
    '@context': SPDX_CONTEXT,
    '@graph': [
      {
        type: 'CreationInfo',
        '@id': ci,
        specVersion: SPDX_VERSION,
        created: spdxTime(now),
        createdBy: [agent],
        createdUsing: [toolId],
      },
      document,
      ...graph,
    ],
  };
}

/** What verify checks of an SPDX SBOM: it names the artifact, and every layer. */
export function spdxProblems(doc: Record<string, unknown>, digest: string, layers: readonly string[]): string[] {
  const problems: string[] = [];
  const graph = Array.isArray(doc['@graph']) ? (doc['@graph'] as Record<string, unknown>[]) : [];
  const info = graph.find((g) => g['type'] === 'CreationInfo');
  if (doc['@context'] !== SPDX_CONTEXT || info?.['specVersion'] !== SPDX_VERSION) problems.push(`not an SPDX ${SPDX_VERSION} document`);
  const hex = digest.replace(/^sha256:/, '');
  const hashes = (g: Record<string, unknown>) => (Array.isArray(g['verifiedUsing']) ? (g['verifiedUsing'] as { algorithm?: string; hashValue?: string }[]) : []);
  if (!graph.some((g) => g['type'] === 'ai_AIPackage' && hashes(g).some((h) => h.algorithm === 'sha256' && h.hashValue === hex)))
    problems.push(`its ai_AIPackage is not ${digest}`);
  const listed = new Set(
    graph
      .filter((g) => g['type'] === 'software_File' && Array.isArray(g['externalIdentifier']))
      .flatMap((g) => (g['externalIdentifier'] as { identifier?: string }[]).map((e) => e.identifier)),
  );
  const missing = layers.filter((l) => !listed.has(l));
  if (missing.length) problems.push(`layers not in it: ${missing.join(', ')}`);
  return problems;
} // prettier-ignore
