import {
  MOF_CLASS_LABELS,
  MOF_COMPONENTS,
  mofComponent,
  requiredAt,
  type MofClassNumber,
  type MofComponentName,
} from './components.js';
import { judgeLicense, MOF_LICENSE_LISTS } from './licenses.js';
import type { ClassKey, MofClass, MofComponent, MofEvaluation } from './types.js';

interface Buckets {
  missing: MofComponentName[];
  included: MofComponentName[];
  invalid: MofComponentName[];
  unlicensed: MofComponentName[];
  optional: MofComponentName[];
}

const CLASSES: readonly MofClassNumber[] = [3, 2, 1];
const ROMAN: Record<MofClassNumber, string> = { 1: 'I', 2: 'II', 3: 'III' };
const TECH_REPORT: MofComponentName = 'Technical report';
const PAPER: MofComponentName = 'Research paper';

function emptyBuckets(): Buckets {
  return { missing: [], included: [], invalid: [], unlicensed: [], optional: [] };
}

/**
 * MOT's ModelEvaluator::evaluate + getProgress + getClassification (docs/predicates.md,
 * "Sources"), over the components of a predicate. Present = status included or referenced
 * (MOT: listed = included, wherever it lives). Each component's licence is taken as already resolved by the builder.
 * Not reproduced: MOT's `!array_search(...)` tests, which treat a component found at index 0
 * as absent; we use the intended membership test.
 */
export function evaluateMof(components: MofComponent[]): MofEvaluation {
  const byName = new Map<string, MofComponent>();
  for (const c of components) if (c.status !== 'missing') byName.set(c.name, c);

  const verdict = (name: MofComponentName) => judgeLicense(byName.get(name)!.license, mofComponent(name).contentType);
  const notTypeAppropriate: MofComponentName[] = [];
  const buckets = {} as Record<MofClassNumber, Buckets>;
  const required: MofComponentName[] = [];
  const optional: MofComponentName[] = [];
  for (const cls of CLASSES) {
    const b = emptyBuckets();
    required.push(...requiredAt(cls));
    optional.push(...MOF_COMPONENTS.filter((c) => !c.required && c.class === cls).map((c) => c.name));
    for (const [list, isRequired] of [
      [required, true],
      [optional, false],
    ] as const) {
      for (const name of list) {
        if (!byName.has(name)) {
          if (isRequired) b.missing.push(name);
          continue;
        }
        const v = verdict(name);
        if (v === 'open-type-appropriate' || v === 'open') {
          (isRequired ? b.included : b.optional).push(name);
          if (v === 'open' && !notTypeAppropriate.includes(name)) notTypeAppropriate.push(name);
        } else if (v === 'unlicensed') b.unlicensed.push(name);
        else b.invalid.push(name);
      }
    }
    buckets[cls] = b;
  }

  // A research paper, whatever its licence status, stands in for the technical report.
  let paperSubstitutes = false;
  if (!buckets[3].included.includes(TECH_REPORT)) {
    const b1 = buckets[1];
    const status = b1.included.includes(PAPER)
      ? 'included'
      : b1.invalid.includes(PAPER)
        ? 'invalid'
        : b1.unlicensed.includes(PAPER)
          ? 'unlicensed'
          : undefined;
    if (status !== undefined) {
      paperSubstitutes = true;
      for (const cls of CLASSES) buckets[cls].missing = buckets[cls].missing.filter((n) => n !== TECH_REPORT);
      buckets[3][status].push(PAPER);
      buckets[2][status].push(PAPER);
    }
  }

  const progressOf = (cls: MofClassNumber): number => {
    let total = 0;
    let included = 0;
    let stoppedAt = cls - 1;
    for (let i = 3; i >= cls; i--) {
      total += requiredAt(i as MofClassNumber).length;
      included = buckets[i as MofClassNumber].included.length;
      if (included < total) {
        stoppedAt = i;
        break;
      }
    }
    if (stoppedAt > cls) return 0; // a less open class is not met
    if (cls === 1 && !buckets[1].included.includes(TECH_REPORT) && buckets[1].included.includes(PAPER)) total--;
    return Math.min(100, (included / total) * 100);
  };
  const progress: Record<ClassKey, number> = { '1': progressOf(1), '2': progressOf(2), '3': progressOf(3) };

  let cls: MofClass = 0;
  for (const c of CLASSES) if (progress[String(c) as ClassKey] === 100) cls = c;

  const pick = (k: 'missing' | 'invalid' | 'unlicensed') => {
    const out: Partial<Record<ClassKey, string[]>> = {};
    for (const c of CLASSES) if (buckets[c][k].length > 0) out[String(c) as ClassKey] = [...buckets[c][k]];
    return out;
  };

  const reasons: string[] = [];
  for (const c of [3, 2, 1] as const) {
    if (cls !== 0 && c >= cls) continue;
    const b = buckets[c];
    const parts: string[] = [];
    if (b.missing.length > 0) parts.push(`missing ${b.missing.join(', ')}`);
    const lic = (n: MofComponentName) => byName.get(n)?.license ?? 'none';
    const counts = (n: MofComponentName) => requiredUpTo(c).includes(n) || (paperSubstitutes && n === PAPER);
    const invalid = b.invalid.filter(counts);
    if (invalid.length > 0) parts.push(`licence not open: ${invalid.map((n) => `${n} (${lic(n)})`).join(', ')}`);
    const unlicensed = b.unlicensed.filter(counts);
    if (unlicensed.length > 0) parts.push(`no licence: ${unlicensed.join(', ')}`);
    if (parts.length === 0 && progress[String(c) as ClassKey] < 100)
      parts.push(`Class ${ROMAN[(c + 1) as MofClassNumber]} is not met`);
    if (parts.length > 0) reasons.push(`Class ${ROMAN[c]} (${MOF_CLASS_LABELS[c]}) not met: ${parts.join('; ')}`);
  }
  if (paperSubstitutes) reasons.push('Research paper stands in for the Technical report');
  for (const n of notTypeAppropriate) {
    const def = mofComponent(n);
    reasons.push(
      `warning: ${n} (${def.contentType}) has an open licence that is not type-appropriate (${byName.get(n)?.license})`,
    );
  }

  return {
    class: cls,
    label: MOF_CLASS_LABELS[cls],
    progress,
    missing: pick('missing'),
    invalid: pick('invalid'),
    unlicensed: pick('unlicensed'),
    notTypeAppropriate,
    reasons,
    evaluator: {
      id: 'modelship/mof-evaluate',
      version: '0.1',
      componentCatalog: 'lfai/model_openness_tool@8b5d30e:web/modules/mof/config/install/mof.settings.yml',
      licenseLists: [...MOF_LICENSE_LISTS],
    },
  };
}

function requiredUpTo(cls: MofClassNumber): MofComponentName[] {
  return CLASSES.filter((c) => c >= cls).flatMap((c) => requiredAt(c));
}
