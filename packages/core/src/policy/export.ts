import { createHash, createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { Document } from 'yaml';
import { ModelshipError } from '../errors.js';
import { loadPublicKey } from '../sign/keys.js';
import { COSIGN_SIGN_PREDICATE_TYPE } from '../sign/types.js';
import { SLSA_PROVENANCE_V1 } from '../attest/provenance.js';
import { MOF_PREDICATE_TYPE } from '../attest/mof/predicate.js';
import { SBOM_PREDICATE_TYPES } from '../attest/sbom/index.js';
import { SCAN_PREDICATE_TYPE } from '../scan/predicate.js';
import { toRe2 } from './re2.js';
import type { Policy } from './types.js';

/**
 * Admission-controller policies from a modelship policy (docs/kubernetes.md, "Admission").
 * What each target reads was taken from its source; the files and revisions are in
 * docs/kubernetes.md, "Sources" (the CRDs the tests validate against are from the same
 * commits):
 *
 * - `kyverno`: a ClusterPolicy (kyverno.io/v1) with `verifyImages[].type: SigstoreBundle`, which
 *   finds Sigstore bundles among the image's OCI referrers (artifactType
 *   application/vnd.dev.sigstore.bundle*), filters them by in-toto predicate type and verifies
 *   them with sigstore-go. Its rules carry imageExtractors for ImageVolume and KServe fields;
 *   for a kind that has extractors Kyverno reads only those, so container images are left to
 *   other policies.
 * - `kyverno-ivp`: an ImageValidatingPolicy (policies.kyverno.io/v1, CEL). Cosign attestors find
 *   bundles on their own. Kyverno adds the container images of pods and workloads to what it
 *   checks, so this target needs image patterns that name the model repositories.
 * - `policy-controller`: ClusterImagePolicies (policy.sigstore.dev/v1beta1) with
 *   `signatureFormat: bundle`. policy-controller verifies bundles only through attestations
 *   (cosign's VerifyImageSignatures refuses the bundle format) and only for keyless
 *   authorities; it checks container and ImageVolume images alike, by image name.
 */
export type ExportTarget = 'kyverno' | 'kyverno-ivp' | 'policy-controller';
export const EXPORT_TARGETS: readonly ExportTarget[] = ['kyverno', 'kyverno-ivp', 'policy-controller'];

/** Files the converter needs, read once by `loadExportInputs`. */
export interface ExportInputs {
  /** SPKI PEM of each key signer, by its index in `policy.signers`. */
  keyPems: ReadonlyMap<number, string>;
  /** The text of `trust.trustedRoot` (kyverno-ivp embeds it). */
  trustedRootJson?: string;
  /** The bytes of `trust.tufRoot` (kyverno-ivp embeds them, base64). */
  tufRoot?: Uint8Array;
}

export interface ExportPolicyOptions extends ExportInputs {
  to: ExportTarget;
  /**
   * Image patterns the policy applies to, in the target's syntax: Kyverno wildcards (`*` and
   * `?`, any character), ImageValidatingPolicy globs, policy-controller globs (`*` within one
   * path segment, `**` across). Required for kyverno-ivp and policy-controller, which select
   * images by name only; kyverno defaults to every model image (`*`).
   */
  images?: readonly string[];
  /** metadata.name (a DNS label); default `modelship-` plus the policy file's base name. */
  name?: string;
  /** policy-controller: the TrustRoot resource every authority uses (`keyless.trustRootRef`). */
  trustRootRef?: string;
}

export interface PolicyExport {
  /** The resources, in output order. */
  documents: Record<string, unknown>[];
  /** The resources as multi-document YAML, with a comment saying what they check and what not. */
  yaml: string;
  /** What the policy asks for that the target does not check, or checks differently. */
  warnings: string[];
}

const REKOR = 'https://rekor.sigstore.dev';
const FULCIO = 'https://fulcio.sigstore.dev';
const POLICY_DIGEST_ANNOTATION = 'modelship.dev/policy-digest';
const WEBHOOK_TIMEOUT_SECONDS = 30;
// policy-controller's accepted glob characters (its validGlob; docs/kubernetes.md, "Sources").
const PC_GLOB = /^[a-zA-Z0-9\-_:/*.@]+$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// Longest suffix added to the name (`-predicate-NN`), within Kubernetes' 63-character label limit.
const MAX_NAME = 63 - '-predicate-99'.length;

interface Signer {
  kind: 'key' | 'keyless';
  /** Where the policy names it, for comments and messages. */
  where: string;
  /** Key: SPKI PEM. */
  pem?: string;
  /** Keyless: exact issuer and the RE2 form of the anchored SAN regex. */
  issuer?: string;
  subjectRegExp?: string;
}

function inputError(policy: Policy, message: string, hint?: string): ModelshipError {
  return new ModelshipError('INPUT', `${policy.source}: ${message}`, hint ? { hint } : {});
}

/** Reads what `exportPolicy` needs from disk: each key signer's key, and for kyverno-ivp the trust files. */
export async function loadExportInputs(policy: Policy, to: ExportTarget): Promise<ExportInputs> {
  const keyPems = new Map<number, string>();
  for (const [i, s] of policy.signers.entries()) {
    if (s.type !== 'key') continue;
    const source = s.pem !== undefined ? { pem: s.pem, name: `${policy.source}:${s.line}` } : { path: s.path! };
    keyPems.set(i, (await loadPublicKey(source)).pem);
  }
  const inputs: ExportInputs = { keyPems };
  if (to === 'kyverno-ivp') {
    const read = async (path: string, what: string): Promise<Buffer> => {
      try {
        return await readFile(path);
      } catch (e) {
        throw new ModelshipError('INPUT', `${policy.source}: cannot read ${what} ${path}`, { cause: e });
      }
    };
    if (policy.trust.trustedRoot !== undefined)
      inputs.trustedRootJson = (await read(policy.trust.trustedRoot, 'trust.trustedRoot')).toString('utf8');
    if (policy.trust.tufRoot !== undefined) inputs.tufRoot = await read(policy.trust.tufRoot, 'trust.tufRoot');
  }
  return inputs;
}

function spkiFingerprint(pem: string): string {
  return createHash('sha256')
    .update(createPublicKey(pem).export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

/**
 * The distinct trusted signers, in policy order. modelship counts a key (its SPKI) or a
 * certificate identity once however often it is listed, and so must the exported count.
 */
function collectSigners(policy: Policy, keyPems: ReadonlyMap<number, string>, leftOut: string[]): Signer[] {
  const out: Signer[] = [];
  const seen = new Set<string>();
  policy.signers.forEach((s, i) => {
    const at = `${basename(policy.source)}:${s.line}`;
    if (s.type === 'notation') {
      leftOut.push(`${at} notation ${basename(s.trustStore)}`);
      return;
    }
    if (s.type === 'key') {
      const pem = keyPems.get(i) ?? s.pem;
      if (pem === undefined)
        throw new ModelshipError('INTERNAL', `${at}: key signer ${s.path ?? ''} was not loaded (loadExportInputs)`);
      const id = `key:${spkiFingerprint(pem)}`;
      if (seen.has(id)) return;
      seen.add(id);
      out.push({ kind: 'key', where: `${at} key ${s.path ? basename(s.path) : '(inline PEM)'}`, pem });
      return;
    }
    const re = toRe2(s.identity);
    if (!re.ok)
      throw new ModelshipError(
        'INPUT',
        `${policy.source}:${s.line}: the identity regex ${JSON.stringify(s.identity)} cannot be exported: ${re.reason}`,
        {
          hint: 'Kyverno and policy-controller match identities with Go regular expressions (RE2 syntax); rewrite it without that construct',
        },
      );
    const id = `keyless:${s.issuer}\n${re.re2}`;
    if (seen.has(id)) return;
    seen.add(id);
    const what = s.github
      ? `github ${s.github.repository} ${s.github.workflow}@${s.github.ref}`
      : `keyless ${s.issuer} ${s.identity}`;
    out.push({ kind: 'keyless', where: `${at} ${what}`, issuer: s.issuer, subjectRegExp: re.re2 });
  });
  return out;
}

function defaultName(policy: Policy): string {
  const base = basename(policy.source, extname(policy.source))
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `modelship-${base || 'policy'}`.slice(0, MAX_NAME).replace(/-+$/, '');
}

/** What the policy requires that no admission controller here reads (the same for every target). */
function notChecked(policy: Policy): string[] {
  const r = policy.require;
  const out: string[] = [];
  if (r.slsa) {
    const slsa = r.slsa;
    const fields: string[] = (['builder', 'workflow', 'sourceRepository', 'ref', 'modelSource'] as const).filter(
      (k) => slsa[k] !== undefined,
    );
    if (slsa.forbidSelfHosted) fields.push('forbidSelfHosted');
    if (fields.length > 0)
      out.push(
        `require.slsa.${fields.join(', require.slsa.')} not checked: admission only requires an SLSA provenance (${SLSA_PROVENANCE_V1}) from a trusted signer`,
      );
  }
  if (r.mof)
    out.push(
      `require.mof.minClass ${r.mof.minClass} not checked: admission only requires a MOF attestation (${MOF_PREDICATE_TYPE}) from a trusted signer`,
    );
  if (r.licenses)
    out.push('require.licenses not checked: the licences are in the model config, which admission does not read');
  if (r.artifact) out.push('require.artifact not checked: admission does not read the model manifest');
  if (r.scan)
    out.push(
      `require.scan verdicts not checked: admission only requires a model scan attestation (${SCAN_PREDICATE_TYPE}) from a trusted signer`,
    );
  if (r.sbom)
    out.push(
      `require.sbom contents not checked: admission only requires the SBOM attestation(s) (${r.sbom.map((f) => SBOM_PREDICATE_TYPES[f]).join(', ')}) from a trusted signer`,
    );
  return out;
}

interface Built {
  documents: Record<string, unknown>[];
  /** Lines for the header comment, after the common part. */
  notes: string[];
  warnings: string[];
}

function metadata(name: string, policy: Policy): Record<string, unknown> {
  return { name, annotations: { [POLICY_DIGEST_ANNOTATION]: policy.digest } };
}

function countCaveat(k: number, counter: string): string {
  return (
    `minSignatures ${k}: ${counter} counts the signer entries that verified, so one signature whose ` +
    'certificate matches two keyless signers counts twice (modelship counts it once): keep the identities disjoint'
  );
}

// ---------------------------------------------------------------------------------------
// Kyverno ClusterPolicy

const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job'];
const KSERVE_KIND = 'serving.kserve.io/v1beta1/InferenceService';
const KSERVE_SCHEMES = ['oci://', 'oci+native://', 'oci+fetch://'];

function kyvernoEntry(s: Signer, requireTlog: boolean): Record<string, unknown> {
  if (s.kind === 'key')
    // modelship accepts a key signature without a log entry or timestamp, so the exported
    // policy does too: with both ignored Kyverno verifies against the key alone.
    return { keys: { publicKeys: s.pem, rekor: { url: REKOR, ignoreTlog: true }, ctlog: { ignoreSCT: true } } };
  return {
    keyless: {
      issuer: s.issuer,
      subjectRegExp: s.subjectRegExp,
      rekor: requireTlog ? { url: REKOR } : { url: REKOR, ignoreTlog: true },
    },
  };
}

function buildKyverno(policy: Policy, signers: Signer[], name: string, images: readonly string[]): Built {
  const requireTlog = policy.trust.requireTlog !== false;
  const entries = signers.map((s) => kyvernoEntry(s, requireTlog));
  const k = policy.minSignatures;
  const verifyImages = [
    {
      type: 'SigstoreBundle',
      imageReferences: [...images],
      failureAction: 'Enforce',
      // Digest pinning is required, never added: a tag can be moved after admission.
      verifyDigest: true,
      mutateDigest: false,
      required: true,
      // Signatures too are checked as attestations of their predicate type: a plain attestor
      // accepts any bundle, an SLSA provenance as much as a signature, where modelship counts
      // only `modelship sign` / `cosign sign` bundles.
      attestations: [
        { name: 'signatures', type: COSIGN_SIGN_PREDICATE_TYPE, attestors: [{ count: k, entries }] },
        ...policy.require.predicates.map((p, i) => ({
          name: `predicate${i + 1}`,
          type: p,
          attestors: [{ count: 1, entries }],
        })),
      ],
    },
  ];
  const extractor = (path: string) => [{ name: 'modelVolumes', path, value: 'reference' }];
  const match = (kinds: string[]) => ({ any: [{ resources: { kinds, operations: ['CREATE', 'UPDATE'] } }] });
  const rules = [
    {
      name: 'model-volumes-pod',
      match: match(['Pod']),
      imageExtractors: { Pod: extractor('/spec/volumes/*/image') },
      verifyImages,
    },
    {
      name: 'model-volumes-workloads',
      match: match(WORKLOAD_KINDS),
      imageExtractors: Object.fromEntries(
        WORKLOAD_KINDS.map((kind) => [kind, extractor('/spec/template/spec/volumes/*/image')]),
      ),
      verifyImages,
    },
    {
      name: 'model-volumes-cronjob',
      match: match(['CronJob']),
      imageExtractors: { CronJob: extractor('/spec/jobTemplate/spec/template/spec/volumes/*/image') },
      verifyImages,
    },
    {
      name: 'kserve-storage-uri',
      match: match([KSERVE_KIND]),
      // Only OCI URIs name an image; an s3:// or gs:// model would fail to parse as one.
      preconditions: {
        all: [
          {
            key: "{{ request.object.spec.predictor.model.storageUri || '' }}",
            operator: 'AnyIn',
            value: KSERVE_SCHEMES.map((s) => `${s}*`),
          },
        ],
      },
      imageExtractors: {
        InferenceService: [
          {
            name: 'kserveStorageUri',
            path: '/spec/predictor/model',
            value: 'storageUri',
            // The extractor's JMESPath takes the scheme off (trim_prefix is Kyverno's).
            jmesPath: KSERVE_SCHEMES.reduce((expr, s) => `trim_prefix(${expr}, '${s}')`, '@'),
          },
        ],
      },
      verifyImages,
    },
  ];
  const document = {
    apiVersion: 'kyverno.io/v1',
    kind: 'ClusterPolicy',
    metadata: {
      ...metadata(name, policy),
      annotations: {
        // Autogen would copy the rules to pod controllers without their imageExtractors,
        // checking container images instead of model volumes (docs/kubernetes.md, "Sources").
        'pod-policies.kyverno.io/autogen-controllers': 'none',
        [POLICY_DIGEST_ANNOTATION]: policy.digest,
      },
    },
    spec: {
      background: false,
      failurePolicy: 'Fail',
      webhookConfiguration: { timeoutSeconds: WEBHOOK_TIMEOUT_SECONDS },
      rules,
    },
  };
  const warnings: string[] = [];
  if (k > 1) warnings.push(countCaveat(k, 'Kyverno'));
  if (policy.trust.trustedRoot !== undefined)
    warnings.push(
      'trust.trustedRoot cannot be given to a ClusterPolicy: Kyverno verifies keyless bundles against the trust root it was started with (--tufMirror, --tufRoot); export it as kyverno-ivp (an ImageValidatingPolicy) to pin a trusted_root.json',
    );
  else if (policy.trust.tufMirror !== undefined && signers.some((s) => s.kind === 'keyless'))
    warnings.push(
      `trust.tufMirror: start Kyverno with --tufMirror=${policy.trust.tufMirror}` +
        `${policy.trust.tufRoot !== undefined ? ` --tufRoot=<${basename(policy.trust.tufRoot)}>` : ''}; a ClusterPolicy cannot name its own TUF repository`,
    );
  if (!requireTlog && signers.some((s) => s.kind === 'keyless'))
    warnings.push(
      'trust.requireTlog false: with the transparency log ignored Kyverno requires an RFC 3161 timestamp instead, so keyless bundles that carry only a Rekor entry are rejected',
    );
  return { documents: [document], notes: [], warnings };
}

// ---------------------------------------------------------------------------------------
// Kyverno ImageValidatingPolicy

/** `has(object.spec.a) && has(object.spec.a.b) && …`: true when the whole path is there. */
function present(path: string): string {
  const parts = path.split('.');
  return parts.map((_, i) => `has(object.spec.${parts.slice(0, i + 1).join('.')})`).join(' && ');
}

// One policy sees pods, workloads, cron jobs and InferenceServices, each with its volumes
// somewhere else (or nowhere): every step is tested with has(), as any CEL evaluates it.
const IVP_VOLUMES =
  `(has(object.spec.volumes) ? object.spec.volumes : ${present('template.spec.volumes')} ? object.spec.template.spec.volumes : ` +
  `${present('jobTemplate.spec.template.spec.volumes')} ? object.spec.jobTemplate.spec.template.spec.volumes : [])` +
  '.filter(v, has(v.image) && has(v.image.reference)).map(v, v.image.reference)';
const IVP_KSERVE =
  `(${present('predictor.model.storageUri')} ? [object.spec.predictor.model.storageUri] : [])` +
  `.filter(u, ${KSERVE_SCHEMES.map((s) => `u.startsWith('${s}')`).join(' || ')})` +
  ".map(u, u.substring(u.indexOf('://') + 3))";

function ivpAttestor(policy: Policy, inputs: ExportInputs, s: Signer, name: string): Record<string, unknown> {
  if (s.kind === 'key')
    return {
      name,
      cosign: { key: { data: s.pem }, ctlog: { insecureIgnoreTlog: true, insecureIgnoreSCT: true } },
    };
  const cosign: Record<string, unknown> = {
    keyless: { identities: [{ issuer: s.issuer, subjectRegExp: s.subjectRegExp }] },
  };
  if (policy.trust.requireTlog === false) cosign['ctlog'] = { insecureIgnoreTlog: true };
  if (inputs.trustedRootJson !== undefined) cosign['trustedRoot'] = { value: inputs.trustedRootJson };
  else if (policy.trust.tufMirror !== undefined) {
    const tuf: Record<string, unknown> = { mirror: policy.trust.tufMirror };
    if (inputs.tufRoot !== undefined) tuf['root'] = { data: Buffer.from(inputs.tufRoot).toString('base64') };
    cosign['tuf'] = tuf;
  }
  return { name, cosign };
}

function buildIvp(
  policy: Policy,
  inputs: ExportInputs,
  signers: Signer[],
  name: string,
  images: readonly string[],
): Built {
  const names = signers.map((_, i) => `signer${i + 1}`);
  const list = `[${names.map((n) => `attestors.${n}`).join(', ')}]`;
  const models = '(images.modelVolumes + images.kserveModels)';
  const k = policy.minSignatures;
  const attestations = [
    { name: 'signatures', intoto: { type: COSIGN_SIGN_PREDICATE_TYPE } },
    ...policy.require.predicates.map((p, i) => ({ name: `predicate${i + 1}`, intoto: { type: p } })),
  ];
  const validations = [
    {
      expression: `${models}.all(i, verifyAttestationSignatures(i, attestations.signatures, ${list}) >= ${k})`,
      message: `a model image is not signed by ${k} of the policy's ${signers.length} trusted signer(s)`,
    },
    ...policy.require.predicates.map((p, i) => ({
      expression: `${models}.all(i, verifyAttestationSignatures(i, attestations.predicate${i + 1}, ${list}) >= 1)`,
      message: `a model image has no ${p} attestation from a trusted signer`,
    })),
  ];
  const document = {
    apiVersion: 'policies.kyverno.io/v1',
    kind: 'ImageValidatingPolicy',
    metadata: metadata(name, policy),
    spec: {
      validationActions: ['Deny'],
      failurePolicy: 'Fail',
      webhookConfiguration: { timeoutSeconds: WEBHOOK_TIMEOUT_SECONDS },
      evaluation: { background: { enabled: false } },
      // Autogen would rewrite the CEL for pod controllers; the rules below name them already.
      autogen: { podControllers: { controllers: [] } },
      matchConstraints: {
        resourceRules: [
          {
            apiGroups: [''],
            apiVersions: ['v1'],
            operations: ['CREATE', 'UPDATE'],
            resources: ['pods', 'replicationcontrollers'],
          },
          {
            apiGroups: ['apps'],
            apiVersions: ['v1'],
            operations: ['CREATE', 'UPDATE'],
            resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'],
          },
          {
            apiGroups: ['batch'],
            apiVersions: ['v1'],
            operations: ['CREATE', 'UPDATE'],
            resources: ['jobs', 'cronjobs'],
          },
          {
            apiGroups: ['serving.kserve.io'],
            apiVersions: ['v1beta1'],
            operations: ['CREATE', 'UPDATE'],
            resources: ['inferenceservices'],
          },
        ],
      },
      matchImageReferences: images.map((glob) => ({ glob })),
      // Digest pinning is required, never added (mutation would only touch container fields).
      validationConfigurations: { verifyDigest: true, mutateDigest: false, required: true },
      images: [
        { name: 'modelVolumes', expression: IVP_VOLUMES },
        { name: 'kserveModels', expression: IVP_KSERVE },
      ],
      attestors: signers.map((s, i) => ivpAttestor(policy, inputs, s, names[i]!)),
      attestations,
      validations,
    },
  };
  const warnings: string[] = [];
  if (k > 1) warnings.push(countCaveat(k, 'verifyAttestationSignatures'));
  if (policy.trust.requireTlog === false && signers.some((s) => s.kind === 'keyless'))
    warnings.push(
      'trust.requireTlog false: with the transparency log ignored Kyverno verifies the bundle time from its RFC 3161 timestamp, so keyless bundles that carry only a Rekor entry are rejected',
    );
  const notes = [
    `Images are selected by name (${images.join(', ')}); Kyverno also checks the digest of container images that match.`,
    'Signers: ' + signers.map((s, i) => `${names[i]} = ${s.where}`).join('; '),
  ];
  return { documents: [document], notes, warnings };
}

// ---------------------------------------------------------------------------------------
// policy-controller ClusterImagePolicy

function buildPolicyController(
  policy: Policy,
  all: Signer[],
  name: string,
  images: readonly string[],
  trustRootRef: string | undefined,
): Built {
  const warnings: string[] = [];
  const signers = all.filter((s) => s.kind === 'keyless');
  const keys = all.filter((s) => s.kind === 'key');
  const k = policy.minSignatures;
  if (signers.length === 0)
    throw inputError(
      policy,
      'policy-controller cannot verify key-signed Sigstore bundles (signatureFormat: bundle needs a keyless authority), and this policy has no keyless signer',
      'export it for Kyverno instead (kyverno or kyverno-ivp)',
    );
  if (signers.length < k)
    throw inputError(
      policy,
      `minSignatures ${k} needs ${k} keyless signers for policy-controller, which cannot verify key-signed bundles; the policy has ${signers.length}`,
      'export it for Kyverno instead (kyverno or kyverno-ivp)',
    );
  if (keys.length > 0)
    warnings.push(
      `key signers left out (${keys.map((s) => s.where).join('; ')}): policy-controller cannot verify key-signed Sigstore bundles, so models signed only by them are rejected`,
    );
  if (k > 1) warnings.push(countCaveat(k, 'policy-controller'));
  if (!trustRootRef && (policy.trust.trustedRoot !== undefined || policy.trust.tufMirror !== undefined))
    warnings.push(
      'the policy names its own trust root: create a policy-controller TrustRoot resource for it and export with its name as the trust root reference; without one policy-controller uses its default (Sigstore public-good) root',
    );
  if (policy.trust.requireTlog === false)
    warnings.push(
      'trust.requireTlog false is not exported: policy-controller requires the Rekor entry of keyless bundles, so bundles signed without one are rejected',
    );
  const authorities = (predicateType: string, attestation: string) =>
    signers.map((s, i) => ({
      name: `signer${i + 1}`,
      keyless: {
        url: FULCIO,
        ...(trustRootRef ? { trustRootRef } : {}),
        identities: [{ issuer: s.issuer, subjectRegExp: s.subjectRegExp }],
      },
      signatureFormat: 'bundle',
      attestations: [{ name: attestation, predicateType }],
    }));
  const cip = (suffix: string, predicateType: string, attestation: string, min?: number) => ({
    apiVersion: 'policy.sigstore.dev/v1beta1',
    kind: 'ClusterImagePolicy',
    metadata: metadata(`${name}-${suffix}`, policy),
    spec: {
      images: images.map((glob) => ({ glob })),
      mode: 'enforce',
      authorities: authorities(predicateType, attestation),
      // Authorities are OR'ed; the CIP-level policy sees the ones that passed (its
      // ValidatePolicy; docs/kubernetes.md, "Sources"), so k-of-n is a lower bound on their number.
      ...(min !== undefined && min > 1
        ? { policy: { type: 'cue', data: `import "struct"\n\nauthorityMatches: struct.MinFields(${min})\n` } }
        : {}),
    },
  });
  // Every matching ClusterImagePolicy must pass, so each requirement is its own policy: the
  // signatures (k of n), then one per predicate (any trusted signer).
  const documents = [
    cip('signatures', COSIGN_SIGN_PREDICATE_TYPE, 'signature', k),
    ...policy.require.predicates.map((p, i) => cip(`predicate-${i + 1}`, p, 'predicate')),
  ];
  const notes = [
    `Images are selected by name (${images.join(', ')}), container images included: policy-controller checks only namespaces labelled policy.sigstore.dev/include=true.`,
    'Authorities: ' + signers.map((s, i) => `signer${i + 1} = ${s.where}`).join('; '),
    ...policy.require.predicates.map((p, i) => `${name}-predicate-${i + 1} requires ${p}`),
  ];
  return { documents, notes, warnings };
}

// ---------------------------------------------------------------------------------------

function checkOptions(policy: Policy, options: ExportPolicyOptions): { name: string; images: readonly string[] } {
  if (!EXPORT_TARGETS.includes(options.to))
    throw new ModelshipError(
      'USAGE',
      `unknown export target "${String(options.to)}" (known: ${EXPORT_TARGETS.join(', ')})`,
    );
  const name = options.name ?? defaultName(policy);
  if (!DNS_LABEL.test(name) || name.length > MAX_NAME)
    throw new ModelshipError(
      'USAGE',
      `policy name "${name}" must be lower-case letters, digits and "-", at most ${MAX_NAME} characters, starting and ending with a letter or digit`,
    );
  let images = options.images ?? [];
  if (images.length === 0) {
    if (options.to !== 'kyverno')
      throw new ModelshipError(
        'USAGE',
        `${options.to} selects images by name, container images included: the image patterns of the model repositories are required`,
        { hint: "name them, e.g. 'ghcr.io/acme/models/**'" },
      );
    images = ['*'];
  }
  for (const g of images) {
    if (g.trim() === '' || /\s/.test(g))
      throw new ModelshipError('USAGE', `image pattern "${g}" is empty or has white space`);
    if (options.to === 'policy-controller' && !PC_GLOB.test(g))
      throw new ModelshipError(
        'USAGE',
        `image pattern "${g}" has characters policy-controller globs do not allow (letters, digits and - _ : / * . @ only)`,
      );
  }
  if (options.trustRootRef !== undefined && options.to !== 'policy-controller')
    throw new ModelshipError('USAGE', 'a trust root reference is for policy-controller only');
  return { name, images };
}

/**
 * Converts a parsed policy into the admission policies of `options.to`. Pure: the key files
 * and trust files come in `options` (`loadExportInputs`). INPUT when the policy cannot be
 * expressed (an identity regex Go cannot take, no signer the target can verify, more
 * signatures required than it has signers); what it can express only in part is in
 * `warnings` and in the YAML's leading comment.
 */
export function exportPolicy(policy: Policy, options: ExportPolicyOptions): PolicyExport {
  const { name, images } = checkOptions(policy, options);
  const notationSigners: string[] = [];
  const signers = collectSigners(policy, options.keyPems, notationSigners);
  if (policy.minSignatures > signers.length)
    throw inputError(
      policy,
      `minSignatures ${policy.minSignatures} is more than its ${signers.length} distinct signer(s)` +
        (notationSigners.length ? ` the export can verify (notation signers are not exported)` : '') +
        ', so no artifact can meet it',
      ...(notationSigners.length
        ? ['verify Notation signatures with `modelship verify` (or Ratify / Kyverno type: Notary, set up on their own)']
        : []),
    );
  let built: Built;
  if (options.to === 'kyverno') built = buildKyverno(policy, signers, name, images);
  else if (options.to === 'kyverno-ivp') built = buildIvp(policy, options, signers, name, images);
  else built = buildPolicyController(policy, signers, name, images, options.trustRootRef);
  const warnings = [
    ...(notationSigners.length
      ? [
          `notation signers left out (${notationSigners.join('; ')}): the exported policy verifies Sigstore bundles only, so models signed only with Notation are rejected; Notation signatures need a verifier of their own (Ratify, or Kyverno verifyImages type: Notary), which cannot count toward the same minSignatures`,
        ]
      : []),
    ...built.warnings,
    ...notChecked(policy),
  ];

  const predicates = policy.require.predicates;
  const header = [
    `Generated by modelship policy export (${options.to}) from ${basename(policy.source)} (${policy.digest}).`,
    'Admits a model image (ImageVolume volumes[].image.reference, KServe spec.predictor.model.storageUri oci://…)',
    options.to === 'policy-controller'
      ? `only when its digest (policy-controller resolves a tag first) carries cosign signature bundles (${COSIGN_SIGN_PREDICATE_TYPE}) from`
      : `only when it is pinned by digest, carries cosign signature bundles (${COSIGN_SIGN_PREDICATE_TYPE}) from`,
    `at least ${policy.minSignatures} distinct trusted signer(s)` +
      (predicates.length > 0
        ? `, and an attestation from a trusted signer for each of: ${predicates.join(', ')}.`
        : '.'),
    ...(options.to === 'kyverno' ? ['Signers, in entry order: ' + signers.map((s) => s.where).join('; ')] : []),
    ...built.notes,
    'MOF class, licences, SLSA field constraints and artifact constraints stay with `modelship verify` and the PR check.',
    ...(warnings.length > 0 ? ['', 'Warnings:', ...warnings.map((w) => `- ${w}`)] : []),
  ];
  const yaml = built.documents
    .map((d, i) => {
      const doc = new Document(d, { aliasDuplicateObjects: false });
      if (i === 0) doc.commentBefore = header.map((l) => (l ? ` ${l}` : '')).join('\n');
      return doc.toString({ lineWidth: 0 });
    })
    .join('---\n');
  return { documents: built.documents, yaml, warnings };
}
