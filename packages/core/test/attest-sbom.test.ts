// The CycloneDX 1.6 ML-BOM and the SPDX 3.0.1 AI/Dataset document, validated against the
// official schemas (sbom-schemas.ts), and what verify checks of them.
import { describe, expect, it } from '@jest/globals';
import { buildCycloneDx, buildSpdx, cycloneDxProblems, sbomModel, spdxProblems } from '../src/attest/sbom/index.js';
import { artifactFacts, factsLayer } from './artifact-facts.js';
import { cycloneDxValidator, schemaErrors, spdxValidator } from './sbom-schemas.js';

const README = `---
license: apache-2.0
datasets: [wikitext, allenai/c4]
pipeline_tag: text-generation
base_model: org/base-7b
language: [en, fr]
---
# Tiny

## Training data
Wikitext and C4.
`;

function facts(extra: { tar?: boolean } = {}) {
  const f = artifactFacts({
    name: 'registry.example/models/tiny',
    layers: [
      factsLayer('model.safetensors', { kind: 'weight', size: 4096 }),
      factsLayer('config.json', { kind: 'weight.config', size: 64 }),
      factsLayer('README.md', { kind: 'doc', size: README.length }),
      factsLayer('data/train.jsonl', { kind: 'dataset', size: 10 }),
      ...(extra.tar ? [factsLayer('code', { kind: 'code', raw: false })] : []),
    ],
    smallFiles: new Map([
      ['README.md', Buffer.from(README)],
      [
        'config.json',
        Buffer.from(
          JSON.stringify({ architectures: ['LlamaForCausalLM'], model_type: 'llama', transformers_version: '4.40.0' }),
        ),
      ],
    ]),
    descriptor: {
      name: 'tiny',
      version: '1.2.0',
      licenses: ['Apache-2.0'],
      vendor: 'Acme',
      authors: ['Ada'],
      sourceURL: 'https://huggingface.co/acme/tiny',
      createdAt: '2025-01-02T03:04:05Z',
    },
  });
  f.config['config'] = {
    architecture: 'transformer',
    format: 'safetensors',
    paramSize: '1.1b',
    quantization: 'awq',
    capabilities: { inputTypes: ['text'], outputTypes: ['text'] },
  };
  return f;
}

const now = new Date('2025-06-01T12:00:00.123Z');
const tool = { name: 'modelship', version: '0.1.0' };

describe('CycloneDX 1.6 ML-BOM', () => {
  it('validates against bom-1.6.schema.json and describes the model, its files, datasets and MOF class', async () => {
    const f = facts();
    const bom = buildCycloneDx(await sbomModel(f), { now, tool });
    expect(schemaErrors(cycloneDxValidator(), bom)).toEqual([]);
    expect(bom).toMatchObject({
      bomFormat: 'CycloneDX',
      specVersion: '1.6',
      serialNumber: expect.stringMatching(/^urn:uuid:/),
    });
    const model = (bom['metadata'] as { component: Record<string, unknown> }).component;
    expect(model).toMatchObject({
      type: 'machine-learning-model',
      name: 'tiny',
      version: '1.2.0',
      hashes: [{ alg: 'SHA-256', content: 'a'.repeat(64) }],
      licenses: [{ expression: 'Apache-2.0' }],
      purl: `pkg:oci/tiny@sha256%3A${'a'.repeat(64)}?repository_url=registry.example%2Fmodels%2Ftiny`,
      supplier: { name: 'Acme' },
      modelCard: {
        modelParameters: {
          task: 'text-generation',
          architectureFamily: 'llama',
          modelArchitecture: 'transformer',
          datasets: [{ ref: 'file:data/train.jsonl' }, { ref: 'dataset:wikitext' }, { ref: 'dataset:allenai/c4' }],
          inputs: [{ format: 'text' }],
        },
        properties: expect.arrayContaining([
          { name: 'modelship:parameters', value: '1.1b' },
          { name: 'modelship:quantization', value: 'awq' },
        ]),
      },
    });
    expect(model['properties']).toEqual(
      expect.arrayContaining([{ name: 'modelship:mof:class', value: expect.stringMatching(/^[0-3]$/) }]),
    );
    const components = bom['components'] as Record<string, unknown>[];
    expect(components.find((c) => c['name'] === 'model.safetensors')).toMatchObject({
      type: 'file',
      hashes: [{ alg: 'SHA-256', content: f.layers[0]!.digest.slice(7) }],
    });
    expect(components.find((c) => c['name'] === 'allenai/c4')).toMatchObject({
      type: 'data',
      data: [{ type: 'dataset', name: 'allenai/c4', contents: { url: 'https://huggingface.co/datasets/allenai/c4' } }],
    });
    expect(
      cycloneDxProblems(
        bom,
        f.descriptor.digest,
        f.layers.map((l) => l.digest),
      ),
    ).toEqual([]);
  });

  it('a tar layer without the model directory is listed by its layer digest, without a file hash', async () => {
    const f = facts({ tar: true });
    const bom = buildCycloneDx(await sbomModel(f), { now, tool });
    expect(schemaErrors(cycloneDxValidator(), bom)).toEqual([]);
    const code = (bom['components'] as Record<string, unknown>[]).find((c) => c['name'] === 'code')!;
    expect(code['hashes']).toBeUndefined();
    expect(code['properties']).toEqual(
      expect.arrayContaining([{ name: 'modelship:layer:digest', value: f.layers[4]!.digest }]),
    );
  });

  it('verify refuses a BOM of another artifact or one missing a layer', async () => {
    const f = facts();
    const bom = buildCycloneDx(await sbomModel(f), { now, tool });
    expect(cycloneDxProblems(bom, `sha256:${'c'.repeat(64)}`, [])).toEqual([expect.stringMatching(/is not sha256:c/)]);
    expect(cycloneDxProblems(bom, f.descriptor.digest, [`sha256:${'d'.repeat(64)}`])).toEqual([
      expect.stringMatching(/layers not in it/),
    ]);
  });
});

describe('SPDX 3.0.1 (AI and Dataset profiles)', () => {
  it('validates against the SPDX 3.0.1 JSON schema and carries the same facts', async () => {
    const f = facts({ tar: true });
    const doc = buildSpdx(await sbomModel(f), { now, tool });
    expect(schemaErrors(spdxValidator(), doc)).toEqual([]);
    const graph = doc['@graph'] as Record<string, unknown>[];
    expect(graph[0]).toMatchObject({ type: 'CreationInfo', specVersion: '3.0.1', created: '2025-06-01T12:00:00Z' });
    expect(graph.find((g) => g['type'] === 'SpdxDocument')).toMatchObject({
      profileConformance: ['core', 'software', 'ai', 'dataset', 'simpleLicensing'],
    });
    expect(graph.find((g) => g['type'] === 'ai_AIPackage')).toMatchObject({
      name: 'tiny',
      software_packageVersion: '1.2.0',
      software_primaryPurpose: 'model',
      verifiedUsing: [{ type: 'Hash', algorithm: 'sha256', hashValue: 'a'.repeat(64) }],
      ai_typeOfModel: ['transformer'],
      ai_domain: ['text-generation'],
      ai_hyperparameter: expect.arrayContaining([{ type: 'DictionaryEntry', key: 'parameters', value: '1.1b' }]),
      releaseTime: '2025-01-02T03:04:05Z',
    });
    expect(graph.filter((g) => g['type'] === 'dataset_DatasetPackage').map((g) => g['name'])).toEqual([
      'data/train.jsonl',
      'wikitext',
      'allenai/c4',
    ]);
    expect(graph.filter((g) => g['type'] === 'Relationship').map((g) => g['relationshipType'])).toEqual([
      'contains',
      'trainedOn',
      'hasDeclaredLicense',
    ]);
    expect(graph.find((g) => g['type'] === 'simplelicensing_LicenseExpression')).toMatchObject({
      simplelicensing_licenseExpression: 'Apache-2.0',
    });
    expect(
      spdxProblems(
        doc,
        f.descriptor.digest,
        f.layers.map((l) => l.digest),
      ),
    ).toEqual([]);
    expect(spdxProblems(doc, `sha256:${'c'.repeat(64)}`, [])).toEqual([expect.stringMatching(/ai_AIPackage is not/)]);
  });

  it('the schema check is real: a document with a misspelt type fails it', async () => {
    const doc = buildSpdx(await sbomModel(facts()), { now, tool });
    (doc['@graph'] as Record<string, unknown>[])[2]!['type'] = 'ai_AiPackage';
    expect(schemaErrors(spdxValidator(), doc)).not.toEqual([]);
    const bom = buildCycloneDx(await sbomModel(facts()), { now, tool });
    (bom['metadata'] as { component: Record<string, unknown> }).component['modelCard'] = {
      modelParameters: { approach: { type: 'magic' } },
    };
    expect(schemaErrors(cycloneDxValidator(), bom)).not.toEqual([]);
  });
});
