import { parse as yamlParse } from 'yaml';
import type { ArtifactFacts, ArtifactLayer } from '../facts.js';
import { detectLicenseText, licensesToSpdx } from '../../modelpack/license.js';
import { parseModelCard, type ModelCard } from '../../modelpack/modelcard.js';
import type { MofComponentName } from './components.js';
import { isTypeAppropriateId } from './licenses.js';
import type { MotGlobalLicense, MotLicenseScope, MotRelease } from './overrides.js';
import type { MofComponentStatus, MofEvidence } from './types.js';

/** What the artifact shows about one component before licences are resolved. */
export interface DerivedComponent {
  name: MofComponentName;
  status: Exclude<MofComponentStatus, 'missing'>;
  location?: string;
  layers: ArtifactLayer[];
  evidence: MofEvidence[];
  /** A licence known for this component alone (e.g. a library's own licence). */
  license?: string;
  /** false: the artifact's licences say nothing about it (third-party mentions). */
  inherit: boolean;
}

export interface Derived {
  release: MotRelease;
  components: Map<MofComponentName, DerivedComponent>;
  notes: string[];
}

const base = (p: string) => p.replace(/\/+$/, '').split('/').pop() ?? p;
const stem = (p: string) =>
  base(p)
    .replace(/\.[^.]+$/, '')
    .toLowerCase();

const INTERMEDIATE_RE =
  /(^|\/)(checkpoints?|intermediate|ckpts?|step[-_]?\d+|global_step\d+|checkpoint-\d+|iter[-_]?\d+)(\/|$)/i;

/** Code file/dir names → component. Order matters: the first match wins. */
const CODE_RULES: [RegExp, MofComponentName][] = [
  [/^(modeling|modelling|configuration)(_.+)?$|^(model|architecture|arch)$/, 'Model architecture'],
  [
    /^(pre_?process(ing)?|prepare_?data|data_?prep(aration)?|process_?data|tokeni[sz]e_?data|build_?dataset)(_.+)?$/,
    'Data preprocessing code',
  ],
  [/^(train(ing)?|pre_?train(ing)?|fine_?tun(e|ing)|sft|dpo)(_.+)?$/, 'Training code'],
  [/^(eval(uate|uation)?|benchmarks?)(_.+)?$/, 'Evaluation code'],
  [/^(infer(ence)?|generat(e|ion)|predict(ion)?|run_?inference|serve|chat|demo)(_.+)?$/, 'Inference code'],
];

const DOC_RULES: [RegExp, MofComponentName][] = [
  [/tech(nical)?[-_ ]?report/, 'Technical report'],
  [/(^|[-_ ])(paper|arxiv)([-_ ]|$)/, 'Research paper'],
  [/^(data[-_ ]?card|datasheet|dataset[-_ ]?card)$/, 'Data card'],
  [/^(eval(uation)?[-_ ]?results?|results|benchmarks?)$/, 'Evaluation results'],
  [/^(samples?|sample[-_ ]?outputs?|examples?[-_ ]?outputs?)$/, 'Sample model outputs'],
];

const METADATA_RE = /^(trainer_state|training_args|training_config|train_config|optimizer)$/;

function add(
  map: Map<MofComponentName, DerivedComponent>,
  name: MofComponentName,
  entry: Omit<DerivedComponent, 'name' | 'layers' | 'evidence' | 'inherit'> &
    Partial<Pick<DerivedComponent, 'layers' | 'evidence' | 'inherit'>>,
): void {
  const cur = map.get(name);
  if (!cur) {
    map.set(name, { name, layers: [], evidence: [], inherit: true, ...entry });
    return;
  }
  // An artifact layer beats a link; evidence accumulates.
  if (cur.status === 'referenced' && entry.status === 'included') {
    cur.status = 'included';
    cur.location = entry.location;
    cur.license = entry.license;
    cur.inherit = entry.inherit ?? true;
  }
  cur.layers.push(...(entry.layers ?? []));
  cur.evidence.push(...(entry.evidence ?? []));
}

function text(facts: ArtifactFacts, path: string): string | undefined {
  return facts.smallFiles.get(path)?.toString('utf8');
}

function descriptorOf(facts: ArtifactFacts): Record<string, unknown> {
  const d = facts.config['descriptor'];
  return d && typeof d === 'object' && !Array.isArray(d) ? (d as Record<string, unknown>) : {};
}

const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);

/**
 * Global licences from the artifact. `descriptor.licenses` wins, then the model card, then
 * a recognisable LICENSE text. One licence is the distribution licence. Several licences are
 * only split by content type when MOT types every one of them (e.g. Apache-2.0 +
 * CDLA-Permissive-2.0 + CC-BY-4.0); otherwise they all bind at once (`A AND B`), since
 * nothing says which part each one covers.
 */
function globalLicenses(facts: ArtifactFacts, card: ModelCard | undefined, notes: string[]): MotRelease['license'] {
  let ids = licensesToSpdx(strs(descriptorOf(facts)['licenses']));
  let path: string | undefined;
  if (ids.length === 0 && card?.license) ids = licensesToSpdx(card.license, card.licenseName);
  const licenseFile = facts.layers.find(
    (l) => l.kind === 'doc' && /^(LICEN[CS]E|COPYING)(\.(md|txt))?$/i.test(base(l.path)),
  );
  if (licenseFile) path = licenseFile.path;
  if (ids.length === 0 && licenseFile) {
    const detected = detectLicenseText(text(facts, licenseFile.path) ?? '');
    if (detected) {
      ids = [detected];
      notes.push(`licence ${detected} recognised from ${licenseFile.path}`);
    }
  }
  if (ids.length === 0) return undefined;
  const entry = (name: string): MotGlobalLicense => (path ? { name, path } : { name });
  if (ids.length === 1) return { distribution: entry(ids[0]!) };
  const scopes: Partial<Record<MotLicenseScope, MotGlobalLicense>> = {};
  const allTyped = ids.every((id) => (['code', 'data', 'document'] as const).some((t) => isTypeAppropriateId(id, t)));
  if (!allTyped) return { distribution: entry(ids.map((id) => (/\s/.test(id) ? `(${id})` : id)).join(' AND ')) };
  scopes.distribution = entry(ids[0]!);
  for (const t of ['code', 'data', 'document'] as const) {
    // The most specific licence wins: CC-BY-4.0 (document only) over Apache-2.0 (code, document).
    const fits = ids.filter((i) => isTypeAppropriateId(i, t));
    const breadth = (i: string) =>
      (['code', 'data', 'document'] as const).filter((x) => isTypeAppropriateId(i, x)).length;
    const id = fits.sort((a, b) => breadth(a) - breadth(b))[0];
    if (id && !scopes[t]) scopes[t] = entry(id);
  }
  return scopes;
}

function cardBody(readme: string): string {
  return readme.replace(/^\uFEFF?---[ \t]*\r?\n[\s\S]*?\r?\n---[ \t]*(\r?\n|$)/, '');
}

/** Reads components, licences and release fields from the artifact's layers and model card. */
export function deriveFromArtifact(facts: ArtifactFacts): Derived {
  const comps = new Map<MofComponentName, DerivedComponent>();
  const notes: string[] = [];
  const cards = facts.cards ?? [];
  const readmeLayer =
    facts.layers.find((l) => l.kind === 'doc' && /^readme\.md$/i.test(l.path)) ??
    cards.find((l) => /^readme\.md$/i.test(l.path));
  const readme = readmeLayer ? text(facts, readmeLayer.path) : undefined;
  let card: ModelCard | undefined;
  let frontMatter: Record<string, unknown> = {};
  if (readme !== undefined) {
    try {
      card = parseModelCard(readme);
      // parseModelCard keeps only some keys; model-index and library_name are read here.
      const m = /^\uFEFF?---[ \t]*\r?\n([\s\S]*?)\r?\n---/.exec(readme);
      const fm: unknown = m ? yamlParse(m[1]!) : undefined;
      if (fm && typeof fm === 'object' && !Array.isArray(fm)) frontMatter = fm as Record<string, unknown>;
    } catch {
      notes.push(`${readmeLayer!.path}: model card front matter is not valid YAML; ignored`);
    }
  }

  for (const l of [...facts.layers, ...cards]) {
    const card = cards.includes(l);
    const ev = (method: string): MofEvidence =>
      card
        ? { method: 'referrer-card', path: l.path, note: `attached as a card referrer (${method})` }
        : { method, path: l.path };
    const s = stem(l.path);
    if (l.kind === 'weight') {
      const name: MofComponentName = INTERMEDIATE_RE.test(l.path)
        ? 'Model parameters (Intermediate)'
        : 'Model parameters (Final)';
      add(comps, name, { status: 'included', location: l.path, layers: [l], evidence: [ev('layer-kind-weight')] });
    } else if (l.kind === 'weight.config') {
      if (METADATA_RE.test(s))
        add(comps, 'Model metadata', {
          status: 'included',
          location: l.path,
          layers: [l],
          evidence: [ev('layer-filename')],
        });
    } else if (l.kind === 'code') {
      const rule = CODE_RULES.find(([re]) => re.test(s) || l.path.split('/').some((seg) => re.test(seg.toLowerCase())));
      if (rule)
        add(comps, rule[1], { status: 'included', location: l.path, layers: [l], evidence: [ev('layer-filename')] });
      else notes.push(`code layer ${l.path} matches no MOF component by name; name it in overrides`);
    } else if (l.kind === 'dataset') {
      const name: MofComponentName = /(^|[/_.-])(eval(uation)?|test|valid(ation)?|benchmarks?|dev)([/_.-]|$)/i.test(
        l.path,
      )
        ? 'Evaluation data'
        : 'Datasets';
      add(comps, name, { status: 'included', location: l.path, layers: [l], evidence: [ev('layer-kind-dataset')] });
    } else if (l.kind === 'doc') {
      if (l === readmeLayer) {
        add(comps, 'Model card', { status: 'included', location: l.path, layers: [l], evidence: [ev('readme')] });
        continue;
      }
      const rule = DOC_RULES.find(([re]) => re.test(s));
      if (rule)
        add(comps, rule[1], { status: 'included', location: l.path, layers: [l], evidence: [ev('layer-filename')] });
    }
  }

  // MOT: evaluation results and data card may live inside the model card.
  if (readmeLayer && readme !== undefined) {
    const body = cardBody(readme);
    if (Array.isArray(frontMatter['model-index']) && !comps.has('Evaluation results'))
      add(comps, 'Evaluation results', {
        status: 'included',
        location: readmeLayer.path,
        layers: [readmeLayer],
        evidence: [
          { method: 'model-card-model-index', path: readmeLayer.path, note: 'results in the model card (model-index)' },
        ],
      });
    if (/^#{1,4}\s*(training|pre-?training|fine-?tuning)?\s*(data|datasets?)\b/im.test(body) && !comps.has('Data card'))
      add(comps, 'Data card', {
        status: 'included',
        location: readmeLayer.path,
        layers: [readmeLayer],
        evidence: [
          { method: 'model-card-data-section', path: readmeLayer.path, note: 'data information in the model card' },
        ],
      });
    const report = /\[([^\]]*technical report[^\]]*)\]\((https?:\/\/[^)\s]+)\)/i.exec(body);
    if (report && !comps.has('Technical report'))
      add(comps, 'Technical report', {
        status: 'referenced',
        location: report[2]!,
        evidence: [{ method: 'model-card-link', uri: report[2]!, note: `linked as "${report[1]}"` }],
      });
  }

  // Third-party or unproven mentions: referenced, never licensed by the artifact's licence.
  for (const id of card?.datasets ?? []) {
    if (comps.get('Datasets')?.status === 'included') break;
    const uri = `https://huggingface.co/datasets/${id}`;
    add(comps, 'Datasets', {
      status: 'referenced',
      location: uri,
      inherit: false,
      evidence: [
        {
          method: 'model-card-datasets',
          uri,
          note: 'mentioned only; availability, completeness and licence unverified',
        },
      ],
    });
  }
  for (const tag of card?.tags ?? []) {
    const m = /^arxiv:(.+)$/i.exec(tag);
    if (!m || comps.get('Research paper')?.status === 'included') continue;
    const uri = `https://arxiv.org/abs/${m[1]}`;
    add(comps, 'Research paper', {
      status: 'referenced',
      location: uri,
      inherit: false,
      evidence: [
        {
          method: 'model-card-arxiv-tag',
          uri,
          note: "licence unknown: arXiv's default licence is not open; set it in overrides",
        },
      ],
    });
  }

  // Stock architectures live in the transformers library (Apache-2.0); MOT records list the
  // component for such models (e.g. Granite-4-1.yml).
  const configJson = text(facts, 'config.json');
  if (!comps.has('Model architecture') && configJson !== undefined) {
    let cfg: Record<string, unknown> = {};
    try {
      cfg = JSON.parse(configJson) as Record<string, unknown>;
    } catch {
      notes.push('config.json is not JSON; architecture not derived');
    }
    const arch = strs(cfg['architectures'])[0] ?? str(cfg['model_type']);
    const viaTransformers =
      str(cfg['transformers_version']) !== undefined || str(frontMatter['library_name']) === 'transformers';
    if (arch && viaTransformers && cfg['auto_map'] === undefined) {
      const tokenizers = facts.layers.filter((l) => l.kind === 'weight.config' && /tokeni[sz]er/i.test(l.path));
      add(comps, 'Model architecture', {
        status: 'referenced',
        location: 'https://github.com/huggingface/transformers',
        license: 'Apache-2.0',
        inherit: false,
        evidence: [
          {
            method: 'hf-config-transformers',
            path: 'config.json',
            note: `${arch} implemented in the transformers library`,
          },
          ...tokenizers.map((l) => ({ method: 'tokenizer', path: l.path })),
        ],
      });
    } else if (arch && cfg['auto_map'] !== undefined) {
      notes.push('config.json uses auto_map (custom code) but no modeling_*.py code layer was found');
    }
  }

  const d = descriptorOf(facts);
  const release: MotRelease = { name: str(d['name']) ?? card?.modelName ?? facts.name };
  const set = (k: keyof MotRelease, v: string | undefined) => {
    if (v !== undefined) (release as Record<string, unknown>)[k] = v;
  };
  set('version', str(d['version']));
  set('date', str(d['createdAt'])?.slice(0, 10));
  set('producer', str(d['vendor']) ?? strs(d['authors'])[0] ?? card?.authors?.[0]);
  set('origin', card?.baseModels?.join(', '));
  const source = str(d['sourceURL']);
  set('repository', source);
  if (source && /huggingface\.co\//.test(source)) set('huggingface', source.replace(/\.git$/, ''));
  const globals = globalLicenses(facts, card, notes);
  if (globals) release.license = globals;
  return { release, components: comps, notes };
}
