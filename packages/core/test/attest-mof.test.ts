import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { type ArtifactFacts, type ArtifactLayer } from '../src/attest/facts.js';
import { MOF_COMPONENTS, type MofContentType } from '../src/attest/mof/components.js';
import { evaluateMof } from '../src/attest/mof/evaluate.js';
import { judgeLicense, type LicenseVerdict } from '../src/attest/mof/licenses.js';
import { parseMofOverrides } from '../src/attest/mof/overrides.js';
import { buildMofPredicate, MOF_PREDICATE_TYPE } from '../src/attest/mof/predicate.js';
import { type MofComponent } from '../src/attest/mof/types.js';
import { ModelshipError } from '../src/errors.js';
import { artifactFacts, factsLayer } from './artifact-facts.js';

type Kind = ArtifactLayer['kind'];

/** An ArtifactFacts with raw layers; `text` entries become smallFiles. */
function facts(
  files: { path: string; kind: Kind; text?: string }[],
  descriptor: Record<string, unknown> = {},
): ArtifactFacts {
  const layers = files.map((f) => factsLayer(f.path, { kind: f.kind, size: f.text?.length ?? 1000 }));
  const smallFiles = new Map<string, Buffer>();
  for (const f of files) if (f.text !== undefined) smallFiles.set(f.path, Buffer.from(f.text));
  return artifactFacts({
    name: 'registry.example/org/model',
    layers,
    smallFiles,
    descriptor: { name: 'test-model', ...descriptor },
  });
}

const HF_CONFIG = JSON.stringify({
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  transformers_version: '4.44.0',
});

/** Modelled on OLMo / Pythia cards: open weights, code, data, paper. */
const OLMO_README = `---
license: apache-2.0
datasets:
- allenai/dolma
tags:
- arxiv:2402.00838
model-index:
- name: OLMo-7B
  results:
  - task: {type: text-generation}
    dataset: {name: arc_challenge, type: arc}
    metrics: [{type: acc, value: 48.5}]
---
# OLMo 7B
## Training Data
Dolma, 2.46T tokens.
`;

/** Modelled on the Granite 4.1 card: weights, config and card only. */
const GRANITE_README = `---
license: apache-2.0
library_name: transformers
pipeline_tag: text-generation
model-index:
- name: granite-4.1
  results:
  - task: {type: text-generation}
    dataset: {name: MMLU, type: mmlu}
    metrics: [{type: acc, value: 70.1}]
---
# Granite 4.1
Paper: [Granite 4.1 Technical Report](https://example.org/granite-4.1-report.pdf)
## Training Data
A mix of permissively licensed public and synthetic data.
`;

function component(p: { components: MofComponent[] }, name: string): MofComponent {
  return p.components.find((c) => c.name === name)!;
}

function expectInput(fn: () => unknown, ...parts: (string | RegExp)[]): ModelshipError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ModelshipError);
  const e = err as ModelshipError;
  expect(e.code).toBe('INPUT');
  for (const p of parts) expect(`${e.message}\n${e.hint ?? ''}`).toMatch(p);
  return e;
}

describe('MOF components', () => {
  it('has the 17 exact MOT names: 14 required, 3 optional', () => {
    expect(MOF_COMPONENTS).toHaveLength(17);
    expect(MOF_COMPONENTS.filter((c) => c.required)).toHaveLength(14);
    expect(MOF_COMPONENTS.map((c) => c.name)).toContain('Model parameters (Final)');
    expect(MOF_PREDICATE_TYPE).toBe('https://modelship.dev/attestations/mof/v0.1');
  });
});

describe('licence rule (MOT lists and quirks)', () => {
  it.each([
    ['Apache-2.0', 'code', 'open-type-appropriate'],
    ['Apache-2.0', 'data', 'open'],
    ['CDLA-Permissive-2.0', 'data', 'open-type-appropriate'],
    ['CC-BY-4.0', 'data', 'open'],
    ['CC0-1.0', 'data', 'open'],
    ['CC0-1.0', 'document', 'open-type-appropriate'],
    ['PDDL-1.0', 'data', 'not-open'],
    ['C-UDA-1.0', 'data', 'not-open'],
    ['BSD-3-Clause', 'code', 'open'],
    ['OpenMDW-1.0', 'data', 'open-type-appropriate'],
    ['OpenMDW-1.1', 'data', 'not-open'],
    ['CC-BY-NC-4.0', 'data', 'not-open'],
    ['LicenseRef-llama3.1', 'data', 'not-open'],
    ['apache-2.0', 'code', 'not-open'],
    ['MIT OR CC-BY-NC-4.0', 'code', 'open-type-appropriate'],
    ['MIT AND CC-BY-NC-4.0', 'code', 'not-open'],
    ['GPL-2.0-or-later WITH Classpath-exception-2.0', 'code', 'open'],
    [undefined, 'code', 'unlicensed'],
  ] as [string | undefined, MofContentType, LicenseVerdict][])('%s on %s is %s', (license, type, verdict) => {
    expect(judgeLicense(license, type)).toBe(verdict);
  });
});

describe('buildMofPredicate from artifact facts', () => {
  it('(1) fully open research model → Class I', () => {
    const f = facts(
      [
        { path: 'model.safetensors', kind: 'weight' },
        { path: 'checkpoints/step-1000/model.safetensors', kind: 'weight' },
        { path: 'config.json', kind: 'weight.config', text: HF_CONFIG },
        { path: 'modeling_olmo.py', kind: 'code', text: '' },
        { path: 'scripts/train.py', kind: 'code', text: '' },
        { path: 'scripts/generate.py', kind: 'code', text: '' },
        { path: 'scripts/eval.py', kind: 'code', text: '' },
        { path: 'scripts/prepare_data.py', kind: 'code', text: '' },
        { path: 'data/train', kind: 'dataset' },
        { path: 'data/eval', kind: 'dataset' },
        { path: 'olmo-paper.pdf', kind: 'doc' },
        { path: 'README.md', kind: 'doc', text: OLMO_README },
      ],
      {
        licenses: ['Apache-2.0', 'CDLA-Permissive-2.0', 'CC-BY-4.0'],
        vendor: 'AI2',
        sourceURL: 'https://huggingface.co/allenai/OLMo-7B',
      },
    );
    const p = buildMofPredicate(f);
    expect(p.evaluation).toMatchObject({
      class: 1,
      label: 'Class I - Open Science Model',
      progress: { '1': 100, '2': 100, '3': 100 },
    });
    expect(p.release.license).toEqual({
      distribution: { name: 'Apache-2.0' },
      code: { name: 'Apache-2.0' },
      data: { name: 'CDLA-Permissive-2.0' },
      document: { name: 'CC-BY-4.0' },
    });
    expect(component(p, 'Model parameters (Final)')).toMatchObject({
      status: 'included',
      license: 'CDLA-Permissive-2.0',
      licenseSource: 'global-data',
      location: 'model.safetensors',
      digests: [{ path: 'model.safetensors', sha256: createHash('sha256').update('model.safetensors').digest('hex') }],
    });
    expect(component(p, 'Model parameters (Intermediate)').location).toBe('checkpoints/step-1000/model.safetensors');
    expect(component(p, 'Training code').location).toBe('scripts/train.py');
    expect(component(p, 'Evaluation data').location).toBe('data/eval');
    expect(component(p, 'Datasets')).toMatchObject({ status: 'included', location: 'data/train' });
    expect(component(p, 'Research paper')).toMatchObject({ status: 'included', license: 'CC-BY-4.0' });
    expect(component(p, 'Evaluation results').evidence[0]!.method).toBe('model-card-model-index');
    expect(component(p, 'Technical report').status).toBe('missing');
    expect(p.evaluation.reasons).toContain('Research paper stands in for the Technical report');
    expect(p.release).toMatchObject({
      name: 'test-model',
      producer: 'AI2',
      huggingface: 'https://huggingface.co/allenai/OLMo-7B',
    });
  });

  it('(2) open weights + model card (Apache-2.0) → Class III, naming what Class II lacks', () => {
    const f = facts(
      [
        { path: 'model-00001-of-00002.safetensors', kind: 'weight' },
        { path: 'model-00002-of-00002.safetensors', kind: 'weight' },
        { path: 'config.json', kind: 'weight.config', text: HF_CONFIG },
        { path: 'tokenizer.json', kind: 'weight.config', text: '{}' },
        { path: 'README.md', kind: 'doc', text: GRANITE_README },
      ],
      { licenses: ['Apache-2.0'] },
    );
    const p = buildMofPredicate(f);
    expect(p.evaluation.class).toBe(3);
    expect(p.evaluation.label).toBe('Class III - Open Model');
    expect(p.evaluation.progress).toEqual({ '1': 0, '2': 60, '3': 100 });
    expect(p.evaluation.missing['2']).toEqual([
      'Training code',
      'Inference code',
      'Evaluation code',
      'Evaluation data',
    ]);
    expect(p.evaluation.reasons[0]).toBe(
      'Class II (Class II - Open Tooling Model) not met: missing Training code, Inference code, Evaluation code, Evaluation data',
    );
    // Apache-2.0 weights: MOT's conditional pass.
    expect(p.evaluation.notTypeAppropriate).toEqual(['Model parameters (Final)']);
    expect(component(p, 'Model parameters (Final)').digests).toHaveLength(2);
    expect(component(p, 'Model architecture')).toMatchObject({
      status: 'referenced',
      license: 'Apache-2.0',
      licenseSource: 'component',
      location: 'https://github.com/huggingface/transformers',
    });
    expect(component(p, 'Model architecture').evidence.map((e) => e.path)).toEqual(['config.json', 'tokenizer.json']);
    expect(component(p, 'Technical report')).toMatchObject({
      status: 'referenced',
      location: 'https://example.org/granite-4.1-report.pdf',
    });
    expect(component(p, 'Data card').location).toBe('README.md');
  });

  it('(3) non-commercial weights licence (cc-by-nc-4.0) → Unclassified with the reason', () => {
    const readme = GRANITE_README.replace('license: apache-2.0', 'license: cc-by-nc-4.0');
    const p = buildMofPredicate(
      facts([
        { path: 'model.safetensors', kind: 'weight' },
        { path: 'config.json', kind: 'weight.config', text: HF_CONFIG },
        { path: 'README.md', kind: 'doc', text: readme },
      ]),
    );
    expect(p.release.license?.distribution?.name).toBe('CC-BY-NC-4.0');
    expect(p.evaluation.class).toBe(0);
    expect(p.evaluation.label).toBe('Unclassified');
    expect(p.evaluation.invalid['3']).toContain('Model parameters (Final)');
    expect(p.evaluation.reasons[0]).toMatch(
      /^Class III \(Class III - Open Model\) not met: .*licence not open: .*Model parameters \(Final\) \(CC-BY-NC-4\.0\)/,
    );
  });

  it('normalises Hugging Face licence spellings; llama3.1 becomes a non-open LicenseRef', () => {
    const apache = buildMofPredicate(
      facts([{ path: 'README.md', kind: 'doc', text: '---\nlicense: apache-2.0\n---\n' }]),
    );
    expect(apache.release.license?.distribution?.name).toBe('Apache-2.0');
    const llama = buildMofPredicate(
      facts([
        { path: 'model.safetensors', kind: 'weight' },
        { path: 'README.md', kind: 'doc', text: '---\nlicense: llama3.1\n---\n' },
      ]),
    );
    expect(component(llama, 'Model parameters (Final)').license).toBe('LicenseRef-llama3.1');
    expect(llama.evaluation.invalid['3']).toEqual(['Model parameters (Final)', 'Model card']);
  });

  it('keeps third-party dataset mentions unlicensed and records why', () => {
    const p = buildMofPredicate(
      facts([{ path: 'README.md', kind: 'doc', text: OLMO_README }], { licenses: ['Apache-2.0'] }),
    );
    expect(component(p, 'Datasets')).toMatchObject({
      status: 'referenced',
      location: 'https://huggingface.co/datasets/allenai/dolma',
      licenseSource: 'none',
    });
    expect(component(p, 'Research paper')).toMatchObject({
      status: 'referenced',
      location: 'https://arxiv.org/abs/2402.00838',
    });
    expect(p.evaluation.unlicensed['1']).toEqual(expect.arrayContaining(['Datasets', 'Research paper']));
  });

  it('notes code layers it cannot name', () => {
    const p = buildMofPredicate(facts([{ path: 'src/utils.py', kind: 'code' }]));
    expect(p.notes.join('\n')).toMatch(/src\/utils\.py matches no MOF component/);
    expect(p.components.every((c) => c.status === 'missing')).toBe(true);
  });
});

describe('MOT-format overrides', () => {
  const granite = () =>
    facts(
      [
        { path: 'model.safetensors', kind: 'weight' },
        { path: 'config.json', kind: 'weight.config', text: HF_CONFIG },
        { path: 'README.md', kind: 'doc', text: GRANITE_README },
      ],
      { licenses: ['Apache-2.0'] },
    );

  it('an MOT model file passed as is changes the result', () => {
    const yamlText = `framework:
  name: 'Model Openness Framework'
  version: '1.0'
  date: '2024-12-15'
release:
  name: Granite-4.1
  producer: IBM
  license:
    distribution: {name: Apache-2.0, path: 'https://example.org/LICENSE'}
    data: {name: cdla-permissive-2.0}
  components:
    - name: 'Training code'
      component_path: 'https://github.com/example/train'
    - name: 'Inference code'
      license: MIT
    - name: 'Evaluation code'
    - name: 'Evaluation data'
      license: CC-BY-4.0
`;
    const overrides = parseMofOverrides(yamlText, 'granite.yml');
    expect(overrides.release.license?.data?.name).toBe('CDLA-Permissive-2.0');
    const before = buildMofPredicate(granite());
    const after = buildMofPredicate(granite(), { overrides, overridesSource: 'granite.yml' });
    expect(before.evaluation.class).toBe(3);
    expect(after.evaluation.class).toBe(2);
    expect(after.release).toMatchObject({ name: 'Granite-4.1', producer: 'IBM' });
    expect(component(after, 'Training code')).toMatchObject({
      status: 'referenced',
      location: 'https://github.com/example/train',
      license: 'Apache-2.0',
      licenseSource: 'distribution',
      license_path: 'https://example.org/LICENSE',
    });
    expect(component(after, 'Inference code')).toMatchObject({ license: 'MIT', licenseSource: 'component' });
    expect(component(after, 'Model parameters (Final)')).toMatchObject({
      license: 'CDLA-Permissive-2.0',
      licenseSource: 'global-data',
    });
    expect(component(after, 'Training code').evidence).toContainEqual({ method: 'override', uri: 'granite.yml' });
    expect(after.evaluation.notTypeAppropriate).not.toContain('Model parameters (Final)');
  });

  it('an override licence wins over the derived one (cc-by-nc weights relicensed)', () => {
    const nc = facts([
      { path: 'model.safetensors', kind: 'weight' },
      { path: 'README.md', kind: 'doc', text: '---\nlicense: cc-by-nc-4.0\n---\n' },
    ]);
    const o = parseMofOverrides(
      "release:\n  components:\n    - {name: 'Model parameters (Final)', license: 'OpenMDW-1.0'}\n",
      'o.yml',
    );
    expect(component(buildMofPredicate(nc, { overrides: o }), 'Model parameters (Final)').license).toBe('OpenMDW-1.0');
  });

  it('unknown component name → INPUT listing the valid names', () => {
    const e = expectInput(
      () => parseMofOverrides("release:\n  name: x\n  components:\n    - name: 'Training dataset'\n", 'bad.yml'),
      'bad.yml:4',
      'unknown MOF component "Training dataset"',
    );
    for (const def of MOF_COMPONENTS) expect(e.hint).toContain(def.name);
  });

  it('invalid SPDX expression → INPUT naming the value and line', () => {
    expectInput(
      () =>
        parseMofOverrides("release:\n  components:\n    - name: 'Model card'\n      license: 'Apache 2'\n", 'lic.yml'),
      'lic.yml:4',
      '"Apache 2" is not a valid SPDX license expression',
    );
    expectInput(
      () =>
        parseMofOverrides(
          "release:\n  license:\n    distribution:\n      name: 'Llama 3.1 Community License Agreement'\n",
          'l.yml',
        ),
      'l.yml:4',
      /LicenseRef-Llama-3.1-Community-License-Agreement/,
    );
  });

  it('unreadable YAML → INPUT with the line', () => {
    expectInput(
      () => parseMofOverrides('release:\n  name: x\n  components: [\n    - name: a\n', 'broken.yml'),
      /^broken\.yml:\d+: not valid YAML/,
    );
    expectInput(
      () => parseMofOverrides('release:\n  name: "unterminated\n', 'q.yml'),
      /^q\.yml:\d+: not valid YAML: Missing closing/,
    );
    expectInput(() => parseMofOverrides('release:\n  name: a\n  name: b\n', 'dup.yml'), /^dup\.yml:3: not valid YAML/);
    expectInput(() => parseMofOverrides('- just\n- a list\n', 'list.yml'), /^list\.yml:1: expected a mapping/);
  });

  it('accepts MOT legacy sentinels and `unlicensed`', () => {
    const o = parseMofOverrides(
      `release:
  components:
    - {name: 'Datasets', location: 'Component not included', license_name: 'License not specified'}
    - {name: 'Model card', location: 'https://x/README.md', license_name: 'License not specified'}
    - {name: 'Data card', license: unlicensed}
`,
      'legacy.yml',
    );
    expect(o.release.components).toEqual([
      { name: 'Model card', license: 'unlicensed', component_path: 'https://x/README.md' },
      { name: 'Data card', license: 'unlicensed' },
    ]);
  });
});

/** Cases from MOT's Test_Data (expected_results.json: class and per-class progress). */
describe('conformance with MOT Test_Data', () => {
  type Case = {
    file: string;
    globals: Partial<Record<'distribution' | 'code' | 'data' | 'document', string>>;
    components: [string, string?][];
    cls: number;
    progress: [number, number, number];
  };
  const cases: Case[] = [
    {
      file: 'OnlyGlobalLicense_C1_20%-C2_18%-C3_33%_3C_2G_0L_3V_0I_3T.yml',
      globals: { distribution: 'CC-BY-SA-4.0', data: 'CC0-1.0' },
      components: [['Datasets'], ['Data card'], ['Research paper']],
      cls: 0,
      progress: [0, 0, 33.33333333333333],
    },
    {
      file: 'Class2RTestFile_C1_73%-C2_100%-C3_100%_11C_1G_11L_11V_0I_11T.yml',
      globals: { document: 'CC0-1.0' },
      components: [
        ['Model architecture', 'MIT'],
        ['Training code', 'AFL-3.0'],
        ['Inference code', 'NCSA'],
        ['Evaluation code', 'ECL-1.0'],
        ['Supporting libraries and tools', 'Apache-2.0'],
        ['Model parameters (Final)', 'CC-BY-3.0-NL'],
        ['Evaluation data', 'CC-BY-3.0-US'],
        ['Model card', 'CC-BY-SA-3.0'],
        ['Data card', 'CC-BY-4.0'],
        ['Research paper', 'CC-BY-SA-3.0'],
        ['Evaluation results', 'CC-BY-4.0'],
      ],
      cls: 2,
      progress: [76.92307692307693, 100, 100],
    },
    {
      file: 'RandomTestFile_C1_73%-C2_82%-C3_83%_15C_4G_15L_13V_2I_11T.yml',
      globals: { distribution: 'CDLA-Permissive-2.0', code: 'ECL-2.0', data: 'CC-BY-2.5-AU', document: 'CC-BY-4.0' },
      components: [
        ['Model architecture', 'zlib-acknowledgement'],
        ['Data preprocessing code', 'AFL-3.0'],
        ['Training code', 'ECL-2.0'],
        ['Evaluation code', 'UPL-1.0'],
        ['Supporting libraries and tools', 'AFL-1.1'],
        ['Model parameters (Final)', 'ODbL-1.0'],
        ['Model parameters (Intermediate)', 'Xfig'],
        ['Datasets', 'CC-BY-2.0'],
        ['Evaluation data', 'CC-BY-SA-4.0'],
        ['Model metadata', 'BSD-2-Clause'],
        ['Sample model outputs', 'CC-BY-4.0'],
        ['Model card', 'CC-BY-SA-3.0'],
        ['Data card', 'SMLNJ'],
        ['Technical report', 'CC0-1.0'],
        ['Evaluation results', 'CC-BY-SA-4.0'],
      ],
      cls: 0,
      progress: [0, 0, 83.33333333333334],
    },
    {
      file: 'Class2TTestFile_C1_67%-C2_100%-C3_100%_11C_1G_11L_11V_0I_11T.yml',
      globals: { data: 'CDLA-Permissive-2.0' },
      components: [
        ['Model architecture', 'Apache-2.0'],
        ['Training code', 'ECL-1.0'],
        ['Inference code', 'AFL-1.1'],
        ['Evaluation code', 'MIT-0'],
        ['Supporting libraries and tools', 'UPL-1.0'],
        ['Model parameters (Final)', 'CC-BY-3.0-DE'],
        ['Evaluation data', 'ODC-By-1.0'],
        ['Model card', 'CC0-1.0'],
        ['Data card', 'CC-BY-SA-4.0'],
        ['Technical report', 'CC0-1.0'],
        ['Evaluation results', 'CC-BY-SA-4.0'],
      ],
      cls: 2,
      progress: [71.42857142857143, 100, 100],
    },
    {
      file: 'OnlyComponentLicenese_C1_27%-C2_36%-C3_50%_9C_0G_9L_4V_5I_4T.yml',
      globals: {},
      components: [
        ['Data preprocessing code', 'HPND-sell-MIT-disclaimer-xserver'],
        ['Training code', 'YPL-1.0'],
        ['Inference code', 'AGPL-1.0-or-later'],
        ['Supporting libraries and tools', '0BSD'],
        ['Evaluation data', 'OGL-UK-1.0'],
        ['Sample model outputs', 'TTYP0'],
        ['Data card', 'CC-BY-SA-4.0'],
        ['Research paper', 'CC-BY-4.0'],
        ['Evaluation results', 'CC-BY-SA-4.0'],
      ],
      cls: 0,
      progress: [0, 0, 50],
    },
    {
      file: 'RandomTestFile_C1_13%-C2_18%-C3_17%_3C_2G_3L_3V_0I_0T.yml',
      globals: { distribution: 'CC-BY-SA-3.0', code: 'AFL-1.1' },
      components: [
        ['Evaluation code', 'Motosoto'],
        ['Model metadata', 'xinetd'],
        ['Research paper', 'IPL-1.0'],
      ],
      cls: 0,
      progress: [0, 0, 16.666666666666664],
    },
    {
      file: 'Class3TTestFile_C1_33%-C2_55%-C3_100%_6C_1G_6L_6V_0I_6T.yml',
      globals: { data: 'CC-BY-SA-2.0-UK' },
      components: [
        ['Model architecture', 'MIT-0'],
        ['Model parameters (Final)', 'CC-BY-2.0'],
        ['Model card', 'CC-BY-4.0'],
        ['Data card', 'CC-BY-SA-4.0'],
        ['Technical report', 'CC-BY-4.0'],
        ['Evaluation results', 'CC0-1.0'],
      ],
      cls: 3,
      progress: [0, 60, 100],
    },
  ];

  function toYaml(c: Case): string {
    const globals = Object.entries(c.globals).map(
      ([k, v]) => `    ${k}: {name: '${v}', path: 'https://example.com/g'}`,
    );
    const comps = c.components.map(
      ([n, l]) => `    - name: '${n}'\n      description: 'x'${l ? `\n      license: '${l}'` : ''}`,
    );
    return `framework:\n  name: 'Model Openness Framework'\n  version: '1.0'\n  date: '2024-12-15'\nrelease:\n  name: '${c.file}'\n  producer: Test\n${globals.length > 0 ? `  license:\n${globals.join('\n')}\n` : '  license: []\n'}  components:\n${comps.join('\n')}\n`;
  }

  it.each(cases)('$file', (c) => {
    const p = buildMofPredicate(facts([]), { overrides: parseMofOverrides(toYaml(c), c.file) });
    expect(p.evaluation.class).toBe(c.cls);
    expect(p.evaluation.progress['1']).toBeCloseTo(c.progress[0], 9);
    expect(p.evaluation.progress['2']).toBeCloseTo(c.progress[1], 9);
    expect(p.evaluation.progress['3']).toBeCloseTo(c.progress[2], 9);
  });

  it('evaluateMof works on predicate components alone (gate re-evaluation)', () => {
    const p = buildMofPredicate(facts([]), { overrides: parseMofOverrides(toYaml(cases[1]!), 'x.yml') });
    const again = evaluateMof(JSON.parse(JSON.stringify(p.components)) as MofComponent[]);
    expect(again).toEqual(p.evaluation);
  });
});
