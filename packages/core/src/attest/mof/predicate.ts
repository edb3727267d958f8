import type { ArtifactFacts } from '../facts.js';
import { MOF_COMPONENTS, type MofComponentName } from './components.js';
import { deriveFromArtifact, type DerivedComponent } from './derive.js';
import { evaluateMof } from './evaluate.js';
import { UNLICENSED } from './licenses.js';
import type { MotFramework, MotModelFile, MotRelease } from './overrides.js';
import type { MofComponent, MofEvaluation, MofLicenseSource } from './types.js';

export const MOF_PREDICATE_TYPE = 'https://modelship.dev/attestations/mof/v0.1';

/** The MOF version MOT pins in its sample model file (docs/predicates.md, "Sources"). */
const MOF_FRAMEWORK: MotFramework = { name: 'Model Openness Framework', version: '1.0', date: '2024-12-15' };

export interface MofOptions {
  /** A parsed MOT model file (parseMofOverrides); its fields win over what was derived. */
  overrides?: MotModelFile;
  /** Where the overrides came from, recorded as evidence. */
  overridesSource?: string;
}

export interface MofPredicate {
  framework: MotFramework;
  /** MOT release fields; `components` live at the top level. */
  release: Omit<MotRelease, 'components'>;
  /** All 17 MOF components, in MOT order, including the missing ones. */
  components: MofComponent[];
  evaluation: MofEvaluation;
  /** Observations that did not become components (unrecognised code layers, ...). */
  notes: string[];
}

function hex(digest: string): string {
  return digest.replace(/^sha256:/, '');
}

/** MOT's resolveLicense: own licence, then the type global, then distribution. */
function resolveLicense(
  own: string | undefined,
  inherit: boolean,
  contentType: MofComponent['contentType'],
  globals: MotRelease['license'],
): { license?: string; licenseSource: MofLicenseSource; license_path?: string } {
  if (own !== undefined)
    return own === UNLICENSED ? { licenseSource: 'component' } : { license: own, licenseSource: 'component' };
  if (!inherit) return { licenseSource: 'none' };
  const typed = globals?.[contentType];
  if (typed)
    return {
      license: typed.name,
      licenseSource: `global-${contentType}`,
      ...(typed.path ? { license_path: typed.path } : {}),
    };
  const dist = globals?.distribution;
  if (dist)
    return { license: dist.name, licenseSource: 'distribution', ...(dist.path ? { license_path: dist.path } : {}) };
  return { licenseSource: 'none' };
}

/**
 * Builds the MOF predicate for one artifact: components derived from its layers and model
 * card, overridden by an MOT model file when given, then evaluated like MOT does.
 */
export function buildMofPredicate(facts: ArtifactFacts, options: MofOptions = {}): MofPredicate {
  const derived = deriveFromArtifact(facts);
  const ov = options.overrides;
  const ovSource = options.overridesSource ?? 'overrides';

  const release: MotRelease = { ...derived.release };
  if (ov) {
    const { components: _ignored, license, ...fields } = ov.release;
    Object.assign(release, fields);
    // Per scope: an override scope replaces the derived one, other scopes are kept.
    if (license) release.license = { ...(release.license ?? {}), ...license };
  }
  const globals = release.license;
  const overridden = new Map(ov?.release.components?.map((c) => [c.name, c]) ?? []);

  const components: MofComponent[] = MOF_COMPONENTS.map((def) => {
    const d: DerivedComponent | undefined = derived.components.get(def.name as MofComponentName);
    const o = overridden.get(def.name);
    const base: MofComponent = {
      name: def.name,
      slug: def.slug,
      contentType: def.contentType,
      status: d?.status ?? (o ? 'referenced' : 'missing'),
      licenseSource: 'none',
      evidence: [...(d?.evidence ?? [])],
    };
    if (base.status === 'missing') return base;
    const location = o?.component_path ?? d?.location;
    if (location !== undefined) base.location = location;
    if (o?.description !== undefined) base.description = o.description;
    if (d && d.layers.length > 0) {
      const seen = new Set<string>();
      base.digests = d.layers
        .filter((l) => !seen.has(l.digest) && seen.add(l.digest))
        .map((l) => ({ path: l.path, sha256: hex(l.digest) }));
    }
    if (o) base.evidence.push({ method: 'override', uri: ovSource });
    // An override listing a component vouches for it, so the release licences apply again.
    const inherit = o ? true : (d?.inherit ?? true);
    const resolved = resolveLicense(o?.license ?? d?.license, inherit, def.contentType, globals);
    Object.assign(base, resolved);
    if (o?.license_path !== undefined) base.license_path = o.license_path;
    return base;
  });

  const { components: _c, ...releaseFields } = release;
  return {
    framework: { ...(ov?.framework ?? MOF_FRAMEWORK) },
    release: releaseFields,
    components,
    evaluation: evaluateMof(components),
    notes: derived.notes,
  };
}
