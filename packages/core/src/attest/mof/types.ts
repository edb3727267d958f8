import type { MofContentType } from './components.js';

/** included: a layer of this artifact; referenced: lives elsewhere (URL); missing: not released. */
export type MofComponentStatus = 'included' | 'referenced' | 'missing';

export type MofLicenseSource =
  'component' | 'global-code' | 'global-data' | 'global-document' | 'distribution' | 'none';

export interface MofEvidence {
  /** How the component was recognised, e.g. `layer-filename`, `model-card-datasets`, `override`. */
  method: string;
  /** A layer filepath in the artifact. */
  path?: string;
  uri?: string;
  note?: string;
}

export interface MofComponent {
  /** Exact MOT component name. */
  name: string;
  slug: string;
  contentType: MofContentType;
  status: MofComponentStatus;
  /** SPDX expression, or undefined when unlicensed. */
  license?: string;
  licenseSource: MofLicenseSource;
  license_path?: string;
  /** Layer filepath (first one when several) or URL. */
  location?: string;
  description?: string;
  /** One entry per layer carrying the component. */
  digests?: { path: string; sha256: string }[];
  evidence: MofEvidence[];
}

export type MofClass = 0 | 1 | 2 | 3;
export type ClassKey = '1' | '2' | '3';

export interface MofEvaluation {
  class: MofClass;
  label: string;
  /** Percent per class, computed as MOT's ModelEvaluator::getProgress. */
  progress: Record<ClassKey, number>;
  /** Required components absent, per class (cumulative, as MOT lists them). */
  missing: Partial<Record<ClassKey, string[]>>;
  /** Present components whose licence is not open, per class. */
  invalid: Partial<Record<ClassKey, string[]>>;
  /** Present components without a licence, per class. */
  unlicensed: Partial<Record<ClassKey, string[]>>;
  /** Open but not type-appropriate (MOT's conditional pass: a warning, not a failure). */
  notTypeAppropriate: string[];
  /** Why each class more open than the result was missed, plus warnings. */
  reasons: string[];
  evaluator: { id: string; version: string; componentCatalog: string; licenseLists: string[] };
}
