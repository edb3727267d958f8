/**
 * The 17 MOF components exactly as MOT stores them (the file and revision are in
 * docs/predicates.md, "Sources"), with the CNCF draft annotation slugs.
 * Names are compared byte for byte: MOT's own scraper emits near-miss names that MOT then
 * silently files under the wrong component, so we refuse anything else.
 */
export type MofContentType = 'code' | 'data' | 'document';
export type MofClassNumber = 1 | 2 | 3;

export const MOF_COMPONENT_NAMES = [
  'Model architecture',
  'Model parameters (Final)',
  'Technical report',
  'Evaluation results',
  'Model card',
  'Data card',
  'Sample model outputs',
  'Training code',
  'Inference code',
  'Evaluation code',
  'Evaluation data',
  'Supporting libraries and tools',
  'Datasets',
  'Data preprocessing code',
  'Model parameters (Intermediate)',
  'Research paper',
  'Model metadata',
] as const;

export type MofComponentName = (typeof MOF_COMPONENT_NAMES)[number];

export interface MofComponentDef {
  /** MOT's component id; kept so a predicate can be matched against MOT's database. */
  id: number;
  name: MofComponentName;
  slug: string;
  contentType: MofContentType;
  /** The class that first requires (or optionally lists) the component. */
  class: MofClassNumber;
  required: boolean;
}

export const MOF_COMPONENTS: readonly MofComponentDef[] = [
  { id: 9, name: 'Model architecture', slug: 'model-architecture', contentType: 'code', class: 3, required: true },
  {
    id: 10,
    name: 'Model parameters (Final)',
    slug: 'final-model-parameters',
    contentType: 'data',
    class: 3,
    required: true,
  },
  { id: 11, name: 'Technical report', slug: 'technical-report', contentType: 'document', class: 3, required: true },
  { id: 12, name: 'Evaluation results', slug: 'evaluation-results', contentType: 'document', class: 3, required: true },
  { id: 13, name: 'Model card', slug: 'model-card', contentType: 'document', class: 3, required: true },
  { id: 14, name: 'Data card', slug: 'data-card', contentType: 'document', class: 3, required: true },
  {
    id: 20,
    name: 'Sample model outputs',
    slug: 'sample-model-outputs',
    contentType: 'document',
    class: 3,
    required: false,
  },
  { id: 7, name: 'Training code', slug: 'training-code', contentType: 'code', class: 2, required: true },
  { id: 8, name: 'Inference code', slug: 'inference-code', contentType: 'code', class: 2, required: true },
  { id: 18, name: 'Evaluation code', slug: 'evaluation-code', contentType: 'code', class: 2, required: true },
  { id: 19, name: 'Evaluation data', slug: 'evaluation-data', contentType: 'data', class: 2, required: true },
  {
    id: 22,
    name: 'Supporting libraries and tools',
    slug: 'supporting-libraries-and-tools',
    contentType: 'code',
    class: 2,
    required: false,
  },
  { id: 15, name: 'Datasets', slug: 'datasets', contentType: 'data', class: 1, required: true },
  {
    id: 16,
    name: 'Data preprocessing code',
    slug: 'data-preprocessing-code',
    contentType: 'code',
    class: 1,
    required: true,
  },
  {
    id: 24,
    name: 'Model parameters (Intermediate)',
    slug: 'intermediate-model-parameters',
    contentType: 'data',
    class: 1,
    required: true,
  },
  { id: 21, name: 'Research paper', slug: 'research-paper', contentType: 'document', class: 1, required: true },
  { id: 17, name: 'Model metadata', slug: 'model-metadata', contentType: 'data', class: 1, required: false },
];

const BY_NAME = new Map<string, MofComponentDef>(MOF_COMPONENTS.map((c) => [c.name, c]));

export function isMofComponentName(name: string): name is MofComponentName {
  return BY_NAME.has(name);
}

export function mofComponent(name: MofComponentName): MofComponentDef {
  return BY_NAME.get(name)!;
}

/** Required components introduced by exactly `cls` (not cumulative). */
export function requiredAt(cls: MofClassNumber): MofComponentName[] {
  return MOF_COMPONENTS.filter((c) => c.required && c.class === cls).map((c) => c.name);
}

export const MOF_CLASS_LABELS: Record<0 | MofClassNumber, string> = {
  0: 'Unclassified',
  1: 'Class I - Open Science Model',
  2: 'Class II - Open Tooling Model',
  3: 'Class III - Open Model',
};
