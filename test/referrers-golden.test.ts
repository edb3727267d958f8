/**
 * Golden-field tests: every referrer modelship writes (a key signature, each attestation type, a
 * custom predicate, the promotion record, and the copies a promotion makes) is checked field by
 * field against what the Go verifiers clusters run read, and each verifier's discovery and
 * selection code is re-implemented below (named after the function it copies) and run over the
 * real docker-registry fallback index and the real OCI layout. The values asserted are the
 * consumers' literals, never modelship's constants, so a change on either side shows here.
 *
 * What each consumer requires (source read 2026-12, file and commit):
 *
 * go-containerregistry v0.21.7 (c68d899782693b63b7549166812aa996f17a660c; cosign pins v0.21.7,
 * Kyverno v0.21.9, same code), used by all three for discovery:
 * - pkg/v1/remote/referrers.go fetchReferrers: `GET /v2/<repo>/referrers/<digest>` (Accept OCI
 *   index); on 404/400/406, or a 200 that is not `application/vnd.oci.image.index.v1+json`, the
 *   tag `sha256-<hex>` fetched with Accept OCI index only; 404 there = no referrers. A filter
 *   (`WithFilter("artifactType", t)`) keeps entries whose `artifactType` equals t exactly.
 * - pkg/v1/manifest.go / hash.go: every index entry decodes as a v1.Descriptor (`mediaType`,
 *   `size`, `digest` = `sha256:` + 64 lower-case hex, `artifactType`, `annotations`), or the
 *   whole index fails to parse.
 * - pkg/v1/remote/image.go, descriptor.go (Image), fetcher.go (fetchManifest): the referrer is
 *   fetched by digest, its bytes must hash to that digest, and the served Content-Type must be
 *   an image manifest (an index is resolved by platform instead); layers are read by digest and
 *   checked against digest and size.
 *
 * cosign v3 (sigstore/cosign d6d86c224e5899b54f56cbb063b79dc43abc11c2):
 * - pkg/cosign/verify.go GetBundles (line 1727): `Referrers(digest, "")`, no artifactType
 *   filter; every entry fetched as `<repo>@<entry digest>`; one that fails `Bundle` is skipped;
 *   none left = "no valid bundles exist in registry". Kyverno's ImageValidatingPolicy calls it
 *   too (kyverno pkg/image/verifiers/ivpol/cosign/verifier.go buildCheckOptsWithBundleDetection).
 * - pkg/oci/remote/signatures.go Bundle: exactly one layer; its mediaType starts with
 *   `application/vnd.dev.sigstore.bundle`; strict `protojson.Unmarshal` into the protobuf-specs
 *   Bundle; sigstore-go `NewBundle`; `MinVersion("v0.3")`.
 * - pkg/cosign/verifiers.go IntotoSubjectClaimVerifier: the DSSE payload is an in-toto v1
 *   statement (pkg/cosign/attestation Statement.UnmarshalJSON = strict protojson) with a subject
 *   `digest.sha256` equal to the manifest digest, and `-a k=v` found in that subject's
 *   annotations (verify.go correctAnnotations).
 * - pkg/policy/attestation.go AttestationToPayloadJSON + cmd/cosign/cli/options/predicate.go
 *   PredicateTypeMap: `verify-attestation --type` keeps statements whose `predicateType` equals
 *   the mapped URI (`slsaprovenance1` = https://slsa.dev/provenance/v1) or the URI given.
 * - pkg/oci/remote/write.go WriteReferrer/WriteAttestationNewBundleFormat (what cosign itself
 *   writes, the shape copied): OCI image manifest, `artifactType`
 *   `application/vnd.dev.sigstore.bundle.v0.3+json`, config `application/vnd.oci.empty.v1+json`
 *   (the `{}` blob), one bundle layer, `subject` = {mediaType, digest, size} of the signed
 *   manifest, annotations `dev.sigstore.bundle.content: dsse-envelope`,
 *   `dev.sigstore.bundle.predicateType: <statement predicateType>`,
 *   `org.opencontainers.image.created: <RFC 3339, UTC, seconds>`.
 * - pkg/cosign/verify.go getLocalBundleDescriptors (`--local-image`): the target is the
 *   index.json entry annotated `kind: dev.cosignproject.cosign/image` (written by the layout
 *   code, tested with it); then every file under blobs/sha256 that parses as a manifest whose
 *   `subject.digest` is the target contributes each layer whose mediaType starts with
 *   `application/vnd.dev.sigstore.bundle`, read as blobs/sha256/<hex> and parsed as above.
 * - pkg/oci/remote/write.go WriteSignedImageIndexImages (`cosign load --dir`): re-pushes the
 *   layout's manifests whose `subject.digest` is the image and whose annotations carry a
 *   non-empty `dev.sigstore.bundle.predicateType`; others stay behind.
 *
 * sigstore-go (sigstore/sigstore-go 4594ab4c779d08be1f4419803a8249188f35ed5f) pkg/bundle/bundle.go
 * NewBundle/UnmarshalJSON/validate: mediaType `application/vnd.dev.sigstore.bundle.v0.3+json`
 * (version ≥ v0.1, < v0.4); tlog entries need an inclusion proof from v0.2; no X.509 chain from
 * v0.3; content is `dsseEnvelope` or `messageSignature`; verification material is `publicKey`,
 * `certificate` or `x509CertificateChain`. Field names: protobuf-specs protos (test/helpers/protojson.ts).
 *
 * Kyverno `type: SigstoreBundle` (kyverno/kyverno 111e07bbecc66abfde36ab99969af22d7a961003)
 * pkg/image/verifiers/cpol/cosign/sigstore.go fetchBundles: `remote.Referrers` unfiltered; more
 * than 50 entries is an error; entries whose **index-entry** `artifactType` does not start with
 * `application/vnd.dev.sigstore.bundle` are skipped (so the fallback entry must carry it);
 * `remote.Image`, layer 0 (none = error), ≤ 10 MB, sigstore-go `UnmarshalJSON` (an error aborts
 * the whole fetch); with a predicate type, DSSE `payloadType` must be
 * `application/vnd.in-toto+json` and the statement's `predicateType` equal to it.
 *
 * gh `attestation verify --bundle-from-oci` (cli/cli): pkg/cmd/attestation/artifact/oci/client.go
 * GetAttestations (148fd5f565be41d5e188e1e3a5490d71273f9795): `remote.Referrers` unfiltered;
 * index-entry `artifactType` prefix `application/vnd.dev.sigstore.bundle`; `remote.Image`; layer
 * 0 (none = error); sigstore-go `UnmarshalJSON`, an error aborts. Predicate selection:
 * pkg/cmd/attestation/verification/attestation.go FilterAttestations
 * (44ee17760709bedf1cad7e452e61751489b81a33): DSSE `payloadType` `application/vnd.in-toto+json`,
 * statement `predicateType` equal; SLSA v1 (https://slsa.dev/provenance/v1) is what gh verifies
 * when none is given.
 *
 * Not asserted here (owned elsewhere): DSSE `keyid` and `publicKey.hint` values, tlog entries,
 * and the layout's `kind` annotation. Offline key signing passes `--no-tlog` explicitly.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SerializedBundleJson } from '@modelship/core';
import { packSample, runCli } from './helpers/cli.js';
import { protoField, protojsonUnmarshal } from './helpers/protojson.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { tempDir } from './helpers/tmp.js';
import { verifyWithKey } from './helpers/verify.js';

// ---- the consumers' literals -----------------------------------------------------------------

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
/** sha256 of `{}`, the config blob cosign's writeEmptyConfigLayer pushes. */
const EMPTY_JSON_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
const BUNDLE_PREFIX = 'application/vnd.dev.sigstore.bundle';
const BUNDLE_V03 = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const IN_TOTO_PAYLOAD = 'application/vnd.in-toto+json';
const COSIGN_SIGN = 'https://sigstore.dev/cosign/sign/v1';
const SLSA_V1 = 'https://slsa.dev/provenance/v1';
const MOF = 'https://modelship.dev/attestations/mof/v0.1';
const FILES = 'https://model_signing/signature/v1.0';
const EVAL = 'https://example.com/attestations/eval/v1';
const PROMOTION = 'https://modelship.dev/attestations/promotion/v0.1';
/** Go's time.RFC3339 of a UTC time (cosign: `time.Now().UTC().Format(time.RFC3339)`). */
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

// ---- what a Go client sees of a repository --------------------------------------------------

interface Answer {
  status: number;
  contentType: string;
  body: Buffer;
}
/** Raw answers to `GET /v2/<repo>/<path>`: what go-containerregistry's transport gets. */
interface Wire {
  get(path: string, accept: string): Promise<Answer>;
}

function registryWire(reg: TestRegistry, repo: string): Wire {
  return {
    async get(path, accept) {
      const res = await fetch(`${reg.url}/v2/${repo}/${path}`, { headers: { accept } });
      const body = Buffer.from(await res.arrayBuffer());
      return { status: res.status, contentType: res.headers.get('content-type') ?? '', body };
    },
  };
}

/** `wire` with some answers replaced: how the negative controls show a consumer rejecting a shape. */
function overlay(wire: Wire, answers: Map<string, Answer>): Wire {
  return { get: async (path, accept) => answers.get(path) ?? wire.get(path, accept) };
}

// ---- go-containerregistry v0.21.7 -----------------------------------------------------------

interface GoDescriptor {
  mediaType: string;
  size: number;
  digest: string;
  artifactType: string;
  annotations: Record<string, string>;
}

/** Re-implementation of go-containerregistry's v1.Hash parse (pkg/v1/hash.go). */
function ggcrHash(v: unknown): string {
  if (typeof v !== 'string') throw new Error(`cannot parse hash: ${JSON.stringify(v)}`);
  const i = v.indexOf(':');
  const [algo, body] = [v.slice(0, i), v.slice(i + 1)];
  if (i <= 0 || !body) throw new Error(`cannot parse hash: "${v}"`);
  if (!/^[0-9a-f]+$/.test(body)) throw new Error(`found non-hex character in hash: ${v}`);
  if (algo !== 'sha256') throw new Error(`unsupported hash: "${algo}"`);
  if (body.length !== 64) throw new Error(`wrong number of hex digits for sha256: ${body}`);
  return v;
}

/** Re-implementation of Go's encoding/json into go-containerregistry's v1.Descriptor (pkg/v1/manifest.go). */
function ggcrDescriptor(v: unknown): GoDescriptor {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('descriptor is not an object');
  const d = v as Record<string, unknown>;
  const str = (k: string): string => {
    if (d[k] === undefined || d[k] === null) return '';
    if (typeof d[k] !== 'string') throw new Error(`json: cannot unmarshal ${typeof d[k]} into Descriptor.${k}`);
    return d[k];
  };
  if (d['size'] !== undefined && !Number.isInteger(d['size'])) throw new Error('json: cannot unmarshal size');
  const annotations = (d['annotations'] ?? {}) as Record<string, unknown>;
  if (typeof annotations !== 'object' || Object.values(annotations).some((x) => typeof x !== 'string'))
    throw new Error('json: cannot unmarshal annotations into map[string]string');
  return {
    mediaType: str('mediaType'),
    size: (d['size'] as number | undefined) ?? 0,
    digest: ggcrHash(d['digest']),
    artifactType: str('artifactType'),
    annotations: annotations as Record<string, string>,
  };
}

/** Re-implementation of go-containerregistry's remote.Referrers / fetchReferrers (pkg/v1/remote/referrers.go). */
async function ggcrReferrers(wire: Wire, digest: string, artifactType?: string): Promise<GoDescriptor[]> {
  const api = await wire.get(`referrers/${digest}`, OCI_INDEX);
  if (![200, 404, 400, 406].includes(api.status)) throw new Error(`GET referrers/${digest}: ${api.status}`);
  let body: Buffer;
  if (api.status === 200 && api.contentType === OCI_INDEX) body = api.body;
  else {
    const tag = await wire.get(`manifests/${digest.replace(':', '-')}`, OCI_INDEX);
    if (tag.status === 404) return []; // "no attachments yet"
    if (tag.status !== 200) throw new Error(`GET manifests/${digest.replace(':', '-')}: ${tag.status}`);
    body = tag.body;
  }
  const index = JSON.parse(body.toString('utf8')) as { manifests?: unknown };
  if (index.manifests !== undefined && index.manifests !== null && !Array.isArray(index.manifests))
    throw new Error('json: cannot unmarshal manifests');
  const entries = ((index.manifests as unknown[] | null) ?? []).map(ggcrDescriptor);
  // filterReferrersResponse: exact equality on the entry's artifactType.
  return artifactType === undefined ? entries : entries.filter((e) => e.artifactType === artifactType);
}

interface GoImage {
  raw: Buffer;
  contentType: string;
  layers: { descriptor: GoDescriptor; read(): Promise<Buffer> }[];
}

/** Re-implementation of go-containerregistry's remote.Image (remote.Get + Descriptor.Image + fetchManifest) and its layer reads. */
async function ggcrImage(wire: Wire, digest: string): Promise<GoImage> {
  const accept = [DOCKER_MANIFEST, OCI_MANIFEST, DOCKER_LIST, OCI_INDEX].join(',');
  const a = await wire.get(`manifests/${digest}`, accept);
  if (a.status !== 200) throw new Error(`GET manifests/${digest}: ${a.status}`);
  if (sha256(a.body) !== digest)
    throw new Error(`manifest digest: "${sha256(a.body)}" does not match requested digest: "${digest}"`);
  if (a.contentType === OCI_INDEX || a.contentType === DOCKER_LIST)
    throw new Error(`${digest} is served as an index: Image() would resolve a platform child, not read it`);
  const m = JSON.parse(a.body.toString('utf8')) as { layers?: unknown[] };
  const layers = (m.layers ?? []).map(ggcrDescriptor).map((descriptor) => ({
    descriptor,
    read: async (): Promise<Buffer> => {
      const b = await wire.get(`blobs/${descriptor.digest}`, '*/*');
      if (b.status !== 200) throw new Error(`GET blobs/${descriptor.digest}: ${b.status}`);
      // verify.ReadCloser: digest and size are checked while reading.
      if (sha256(b.body) !== descriptor.digest || b.body.length !== descriptor.size)
        throw new Error(`error verifying ${descriptor.digest}`);
      return b.body;
    },
  }));
  return { raw: a.body, contentType: a.contentType, layers };
}

// ---- sigstore-go 4594ab4 ----------------------------------------------------------------------

const BUNDLE = 'dev.sigstore.bundle.v1.Bundle';
const VERIFICATION_MATERIAL = 'dev.sigstore.bundle.v1.VerificationMaterial';

interface GoBundle {
  version: string;
  json: Record<string, unknown>;
}

function semverCompare(a: string, b: string): number {
  const parts = (v: string): number[] => v.replace(/^v/, '').split(/[.+-]/).slice(0, 3).map(Number);
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) < (y[i] ?? 0) ? -1 : 1;
  return 0;
}

/** Re-implementation of sigstore-go getBundleVersion (pkg/bundle/bundle.go). */
function sigstoreGoBundleVersion(mediaType: string): string {
  const base = 'application/vnd.dev.sigstore.bundle';
  const legacy: Record<string, string> = {
    [`${base}+json;version=0.1`]: 'v0.1',
    [`${base}+json;version=0.2`]: 'v0.2',
    [`${base}+json;version=0.3`]: 'v0.3',
  };
  if (legacy[mediaType]) return legacy[mediaType];
  if (mediaType.startsWith(`${base}.v`) && mediaType.endsWith('+json')) {
    const version = mediaType.slice(base.length + 1, -'+json'.length);
    if (/^v\d+(\.\d+){0,2}$/.test(version)) return version;
    throw new Error(`unsupported media type: invalid bundle version: ${version}`);
  }
  throw new Error(`unsupported media type: ${mediaType}`);
}

/** Re-implementation of sigstore-go Bundle.UnmarshalJSON: strict protojson, then validate() (pkg/bundle/bundle.go). */
function sigstoreGoBundle(bytes: Buffer): GoBundle {
  const pb = protojsonUnmarshal(bytes, BUNDLE);
  const version = sigstoreGoBundleVersion(String(protoField(pb, BUNDLE, 'media_type') ?? ''));
  if (semverCompare(version, 'v0.1') < 0) throw new Error(`bundle version ${version} is not supported`);
  const vm = protoField(pb, BUNDLE, 'verification_material') as Record<string, unknown> | undefined;
  const entries = ((vm && protoField(vm, VERIFICATION_MATERIAL, 'tlog_entries')) ?? []) as Record<string, unknown>[];
  const has = (k: string): boolean => entries.some((e) => e[k] !== undefined && e[k] !== null);
  if (semverCompare(version, 'v0.1') === 0) {
    if (entries.length && !has('inclusionPromise')) throw new Error('inclusion promises missing in bundle');
  } else if (entries.length && !has('inclusionProof')) throw new Error('inclusion proof missing in bundle');
  if (semverCompare(version, 'v0.3') >= 0 && vm && protoField(vm, VERIFICATION_MATERIAL, 'x509_certificate_chain'))
    throw new Error('verification material cannot be X.509 certificate chain (for bundle v0.3)');
  if (semverCompare(version, 'v0.4') >= 0) throw new Error(`bundle version ${version} is not yet supported`);
  if (!protoField(pb, BUNDLE, 'dsse_envelope') && !protoField(pb, BUNDLE, 'message_signature'))
    throw new Error('missing bundle content');
  const material =
    vm && ['public_key', 'x509_certificate_chain', 'certificate'].some((k) => protoField(vm, VERIFICATION_MATERIAL, k));
  if (!material) throw new Error('missing verification material');
  return { version, json: pb };
}

/** The DSSE envelope of a parsed bundle (payload still base64), or undefined. */
function dsseOf(b: GoBundle): { payload: string; payloadType: string } | undefined {
  const env = protoField(b.json, BUNDLE, 'dsse_envelope') as Record<string, unknown> | undefined;
  if (!env) return undefined;
  return { payload: String(env['payload'] ?? ''), payloadType: String(env['payloadType'] ?? '') };
}

// ---- cosign v3 d6d86c2 ------------------------------------------------------------------------

interface Found extends GoBundle {
  /** The referrer manifest the bundle came from. */
  referrer: string;
}

/** Re-implementation of cosign ociremote.Bundle (pkg/oci/remote/signatures.go). */
async function cosignBundle(wire: Wire, referrer: string): Promise<GoBundle> {
  const img = await ggcrImage(wire, referrer);
  if (img.layers.length !== 1) throw new Error('expected exactly one layer');
  if (!img.layers[0]!.descriptor.mediaType.startsWith(BUNDLE_PREFIX)) throw new Error('expected bundle layer');
  const b = sigstoreGoBundle(await img.layers[0]!.read());
  if (semverCompare(b.version, 'v0.3') < 0) throw new Error('bundle version too old');
  return b;
}

/** Re-implementation of cosign GetBundles (pkg/cosign/verify.go): every referrer, non-bundles skipped. */
async function cosignGetBundles(wire: Wire, digest: string): Promise<Found[]> {
  const found: Found[] = [];
  for (const entry of await ggcrReferrers(wire, digest, undefined)) {
    try {
      found.push({ referrer: entry.digest, ...(await cosignBundle(wire, entry.digest)) });
    } catch {
      // "There may be non-Sigstore referrers in the index, so we can ignore them."
    }
  }
  if (found.length === 0) throw new Error('no valid bundles exist in registry');
  return found;
}

/** Re-implementation of cosign attestation.Statement.UnmarshalJSON (pkg/cosign/attestation/attestation.go). */
function cosignStatement(b: GoBundle): Record<string, unknown> {
  const env = dsseOf(b);
  if (!env) throw new Error('bundle does not contain a DSSE envelope');
  return protojsonUnmarshal(Buffer.from(env.payload, 'base64'), 'in_toto_attestation.v1.Statement');
}

/** Re-implementation of cosign IntotoSubjectClaimVerifier (pkg/cosign/verifiers.go) with correctAnnotations (verify.go). */
function cosignIntotoSubjectClaim(b: GoBundle, digest: string, annotations: Record<string, string> = {}): void {
  const st = cosignStatement(b);
  for (const subj of (st['subject'] ?? []) as {
    digest?: Record<string, string>;
    annotations?: Record<string, unknown>;
  }[]) {
    const hex = subj.digest?.['sha256'];
    if (hex === undefined || `sha256:${hex}` !== digest) continue;
    if (Object.entries(annotations).some(([k, v]) => subj.annotations?.[k] !== v))
      throw new Error('missing or incorrect annotation');
    return;
  }
  throw new Error('no matching subject digest found');
}

/** cosign options.PredicateTypeMap (cmd/cosign/cli/options/predicate.go), the entries used here. */
const COSIGN_PREDICATE_TYPE_MAP: Record<string, string> = {
  custom: 'https://cosign.sigstore.dev/attestation/v1',
  slsaprovenance: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance1: 'https://slsa.dev/provenance/v1',
};

/**
 * What `cosign verify-attestation --type T` keeps of the bundles GetBundles found: the subject
 * claim (IntotoSubjectClaimVerifier), then policy.AttestationToPayloadJSON's predicate match
 * (pkg/policy/attestation.go). `cosign verify` (no --type) keeps every bundle passing the claim.
 */
function cosignSelect(found: Found[], digest: string, type?: string, annotations?: Record<string, string>): string[] {
  const uri = type === undefined ? undefined : (COSIGN_PREDICATE_TYPE_MAP[type] ?? type);
  return found
    .filter((b) => {
      try {
        cosignIntotoSubjectClaim(b, digest, annotations);
      } catch {
        return false;
      }
      return (
        uri === undefined ||
        protoField(cosignStatement(b), 'in_toto_attestation.v1.Statement', 'predicate_type') === uri
      );
    })
    .map((b) => b.referrer);
}

/**
 * Re-implementation of the blob scan of cosign getLocalBundleDescriptors and GetLocalBundles
 * (pkg/cosign/verify.go), given the target digest it takes from index.json.
 */
function cosignLocalBundles(layout: string, target: string): Found[] {
  const dir = join(layout, 'blobs', 'sha256');
  const found: Found[] = [];
  for (const name of readdirSync(dir)) {
    let m: { subject?: { digest?: string }; layers?: { mediaType?: string; digest?: string }[] };
    try {
      m = JSON.parse(readFileSync(join(dir, name), 'utf8')) as typeof m; // v1.ParseManifest
    } catch {
      continue;
    }
    if (typeof m !== 'object' || m === null || m.subject?.digest !== target) continue;
    for (const layer of m.layers ?? []) {
      if (!layer.mediaType?.startsWith(BUNDLE_PREFIX)) continue;
      try {
        const b = sigstoreGoBundle(readFileSync(join(dir, ggcrHash(layer.digest).slice(7))));
        if (semverCompare(b.version, 'v0.3') >= 0) found.push({ referrer: `sha256:${name}`, ...b });
      } catch {
        // "Invalid bundles are logged and skipped."
      }
    }
  }
  return found;
}

/**
 * Re-implementation of the referrer scan in cosign WriteSignedImageIndexImages (pkg/oci/remote/write.go,
 * `cosign load`): the layout's manifests about `target` that it pushes again.
 */
function cosignLoadReferrers(layout: string, target: string): string[] {
  const dir = join(layout, 'blobs', 'sha256');
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    let m: { subject?: { digest?: string }; annotations?: Record<string, string> };
    try {
      m = JSON.parse(readFileSync(join(dir, name), 'utf8')) as typeof m;
    } catch {
      continue;
    }
    if (typeof m !== 'object' || m === null || m.subject?.digest !== target) continue;
    if (m.annotations?.['dev.sigstore.bundle.predicateType']) out.push(`sha256:${name}`);
  }
  return out;
}

// ---- Kyverno 111e07b ---------------------------------------------------------------------------

/** Re-implementation of Kyverno fetchBundles (pkg/image/verifiers/cpol/cosign/sigstore.go). */
async function kyvernoFetchBundles(wire: Wire, digest: string, predicateType = ''): Promise<Found[]> {
  const referrers = await ggcrReferrers(wire, digest);
  if (referrers.length > 50) throw new Error('failed to fetch referrers: too many referrers found, max limit is 50');
  const bundles: Found[] = [];
  for (const entry of referrers) {
    if (!entry.artifactType.startsWith(BUNDLE_PREFIX)) continue;
    const img = await ggcrImage(wire, entry.digest);
    if (img.layers.length === 0) throw new Error('layers not found');
    const layer = img.layers[0]!;
    if (layer.descriptor.size > 10 * 1000 * 1000) throw new Error('layer size exceeds 10 MB');
    bundles.push({ referrer: entry.digest, ...sigstoreGoBundle(await layer.read()) });
  }
  if (!predicateType) return bundles;
  return bundles.filter((b) => {
    const env = dsseOf(b);
    if (!env || env.payloadType !== IN_TOTO_PAYLOAD) return false;
    try {
      // encoding/json into in-toto-golang's in_toto.Statement: lenient, unknown fields ignored.
      const st = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8')) as { predicateType?: unknown };
      return st.predicateType === predicateType;
    } catch {
      return false;
    }
  });
}

// ---- gh (cli/cli) ------------------------------------------------------------------------------

/** Re-implementation of gh LiveClient.GetAttestations (pkg/cmd/attestation/artifact/oci/client.go). */
async function ghGetAttestations(wire: Wire, digest: string): Promise<Found[]> {
  const out: Found[] = [];
  for (const entry of await ggcrReferrers(wire, digest)) {
    if (!entry.artifactType.startsWith(BUNDLE_PREFIX)) continue;
    const img = await ggcrImage(wire, entry.digest);
    if (img.layers.length === 0) throw new Error('error getting referrer image: no layers found');
    out.push({ referrer: entry.digest, ...sigstoreGoBundle(await img.layers[0]!.read()) });
  }
  return out;
}

/** Re-implementation of gh FilterAttestations (pkg/cmd/attestation/verification/attestation.go). */
function ghFilterAttestations(predicateType: string, atts: Found[]): string[] {
  return atts
    .filter((a) => {
      const env = dsseOf(a);
      if (!env || env.payloadType !== IN_TOTO_PAYLOAD) return false;
      try {
        const st = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8')) as { predicateType?: unknown };
        return st.predicateType === predicateType;
      } catch {
        return false;
      }
    })
    .map((a) => a.referrer);
}

// ---- the golden shape --------------------------------------------------------------------------

interface Stored {
  /** A manifest's bytes and, from a registry, the Content-Type it is served with. */
  manifest(digest: string): Promise<{ bytes: Buffer; contentType?: string }>;
  blob(digest: string): Promise<Buffer>;
}

function registryStored(wire: Wire): Stored {
  const ok = (a: Answer, what: string): Answer => {
    if (a.status !== 200) throw new Error(`GET ${what}: ${a.status}`);
    return a;
  };
  return {
    manifest: async (d) => {
      const a = ok(await wire.get(`manifests/${d}`, `${OCI_MANIFEST}, ${OCI_INDEX}`), d);
      return { bytes: a.body, contentType: a.contentType };
    },
    blob: async (d) => ok(await wire.get(`blobs/${d}`, '*/*'), d).body,
  };
}

function layoutStored(dir: string): Stored {
  const read = (d: string): Buffer => readFileSync(join(dir, 'blobs', 'sha256', d.slice('sha256:'.length)));
  return { manifest: async (d) => ({ bytes: read(d) }), blob: async (d) => read(d) };
}

interface Subject {
  mediaType: string;
  digest: string;
  size: number;
}

/**
 * Checks one referrer field by field against cosign's WriteAttestationNewBundleFormat shape and
 * what the readers above take from it; returns the parsed manifest.
 */
async function expectBundleReferrer(
  stored: Stored,
  referrer: string,
  subject: Subject,
  predicateType: string,
  publicKeyPem: string,
  since: number,
): Promise<Record<string, unknown>> {
  const { bytes, contentType } = await stored.manifest(referrer);
  expect(sha256(bytes)).toBe(referrer);
  if (contentType !== undefined) expect(contentType).toBe(OCI_MANIFEST);
  const m = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  expect(m).toEqual({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: BUNDLE_V03,
    config: { mediaType: OCI_EMPTY, digest: EMPTY_JSON_DIGEST, size: 2 },
    layers: [
      { mediaType: BUNDLE_V03, digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), size: expect.any(Number) },
    ],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: {
      'dev.sigstore.bundle.content': 'dsse-envelope',
      'dev.sigstore.bundle.predicateType': predicateType,
      'org.opencontainers.image.created': expect.stringMatching(RFC3339_UTC),
    },
  });
  const created = Date.parse((m['annotations'] as Record<string, string>)['org.opencontainers.image.created']!);
  expect(created).toBeGreaterThanOrEqual(Math.floor(since / 1000) * 1000);
  expect(created).toBeLessThanOrEqual(Date.now());
  expect((await stored.blob(EMPTY_JSON_DIGEST)).toString('utf8')).toBe('{}');

  const layer = (m['layers'] as GoDescriptor[])[0]!;
  const bundleBytes = await stored.blob(layer.digest);
  expect(sha256(bundleBytes)).toBe(layer.digest);
  expect(bundleBytes.length).toBe(layer.size);
  const bundle = sigstoreGoBundle(bundleBytes);
  expect(protoField(bundle.json, BUNDLE, 'media_type')).toBe(BUNDLE_V03);
  expect(bundle.version).toBe('v0.3');
  expect(dsseOf(bundle)?.payloadType).toBe(IN_TOTO_PAYLOAD);
  const st = cosignStatement(bundle);
  expect(st['_type']).toBe('https://in-toto.io/Statement/v1');
  expect(st['predicateType']).toBe(predicateType);
  expect(() => cosignIntotoSubjectClaim(bundle, subject.digest)).not.toThrow();
  // The signature itself (keyid and hint are another test's business).
  verifyWithKey(JSON.parse(bundleBytes.toString('utf8')) as SerializedBundleJson, publicKeyPem);
  return m;
}

/** The referrers-index entry distribution-spec 1.1 prescribes for a manifest (artifactType, annotations). */
function specEntry(referrer: string, bytes: Buffer, m: Record<string, unknown>): GoDescriptor {
  return {
    mediaType: m['mediaType'] as string,
    digest: referrer,
    size: bytes.length,
    artifactType: m['artifactType'] as string,
    annotations: m['annotations'] as Record<string, string>,
  };
}

const byDigest = <T extends { digest: string }>(xs: T[]): T[] =>
  [...xs].sort((a, b) => a.digest.localeCompare(b.digest));

// ---- producing the referrers with the real CLI -----------------------------------------------

const tmp = tempDir('modelship-golden-');
afterAll(() => tmp.cleanup());

function keyPair(name: string): { key: string; pub: string; pem: string } {
  const kp = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const key = join(tmp.dir, `${name}.key`);
  const pub = join(tmp.dir, `${name}.pub`);
  const pem = kp.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  writeFileSync(key, kp.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(pub, pem);
  return { key, pub, pem };
}

const release = keyPair('release');
const promoter = keyPair('promoter');
const evalPredicate = join(tmp.dir, 'eval.json');
writeFileSync(evalPredicate, JSON.stringify({ benchmark: 'mmlu', score: 0.42 }));
const policy = join(tmp.dir, 'policy.yaml');
writeFileSync(policy, `version: 1\nsigners:\n  - key: { path: ${release.pub} }\n`);

/** A written referrer: its manifest digest, the predicate type it carries, the key that signed it. */
interface Written {
  referrer: string;
  predicateType: string;
  pem: string;
}

async function cli(args: string[], extra: string[]): Promise<Record<string, unknown>> {
  const r = await runCli([...args, ...extra, '--json']);
  if (r.status !== 0) throw new Error(`modelship ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/**
 * Signs `ref` with a key (`sign -a team=ml`), attests slsa, mof and files, attests a custom
 * predicate, then promotes it to `dest`: every kind of referrer modelship writes.
 */
async function writeEveryReferrer(
  ref: string,
  dest: string,
  extra: string[],
): Promise<{ source: Written[]; record: Written }> {
  const key = ['--key', release.key, '--no-tlog'];
  const signed = await cli(['sign', ref, ...key, '-a', 'team=ml'], extra);
  const attested = await cli(['attest', ref, '--type', 'slsa,mof,files', ...key], extra);
  const custom = await cli(
    ['attest', ref, '--type', '', '--predicate-type', EVAL, '--predicate', evalPredicate, ...key],
    extra,
  );
  const promoted = await cli(
    ['promote', ref, dest, '--policy', policy, '--key', promoter.key, '--no-tlog', '--no-progress'],
    extra,
  );
  const atts = [
    ...(attested['attestations'] as { predicateType: string; referrerDigest: string }[]),
    ...(custom['attestations'] as { predicateType: string; referrerDigest: string }[]),
  ];
  return {
    source: [
      { referrer: signed['referrerDigest'] as string, predicateType: COSIGN_SIGN, pem: release.pem },
      ...atts.map((a) => ({ referrer: a.referrerDigest, predicateType: a.predicateType, pem: release.pem })),
    ],
    record: {
      referrer: (promoted['record'] as { referrerDigest: string }).referrerDigest,
      predicateType: PROMOTION,
      pem: promoter.pem,
    },
  };
}

const ALL_TYPES = [COSIGN_SIGN, SLSA_V1, MOF, FILES, EVAL];

// ---- on a registry without the referrers API ---------------------------------------------------

describe('referrers on docker-registry 2.8 (no referrers API: the sha256-<hex> fallback tag)', () => {
  let reg: TestRegistry;
  let subject: Subject;
  let written: { source: Written[]; record: Written };
  let since: number;
  const src = (): Wire => registryWire(reg, 'golden/model');
  const prod = (): Wire => registryWire(reg, 'golden/prod');
  const promoted = (): Written[] => [...written.source, written.record];
  const digests = (ws: Written[]): string[] => ws.map((w) => w.referrer).sort();
  const of = (type: string): string[] => written.source.filter((w) => w.predicateType === type).map((w) => w.referrer);

  beforeAll(async () => {
    reg = await startRegistry();
    since = Date.now();
    const digest = await packSample(tmp.dir, `${reg.host}/golden/model:v1`);
    const head = await fetch(`${reg.url}/v2/golden/model/manifests/${digest}`, { headers: { accept: OCI_MANIFEST } });
    subject = {
      mediaType: head.headers.get('content-type')!,
      digest,
      size: Buffer.from(await head.arrayBuffer()).length,
    };
    written = await writeEveryReferrer(`${reg.host}/golden/model@${digest}`, `${reg.host}/golden/prod:v1`, [
      '--plain-http',
    ]);
  }, 180_000);
  afterAll(async () => reg?.cleanup());

  it('the registry answers 404 on the referrers API, so every consumer reads the fallback tag', async () => {
    for (const wire of [src(), prod()])
      expect((await wire.get(`referrers/${subject.digest}`, OCI_INDEX)).status).toBe(404);
  });

  it('the fallback tag holds an OCI index with one entry per referrer, each with the artifactType and annotations of its manifest', async () => {
    for (const [wire, ws] of [
      [src(), written.source],
      [prod(), promoted()],
    ] as const) {
      const a = await wire.get(`manifests/sha256-${subject.digest.slice(7)}`, OCI_INDEX);
      expect(a.status).toBe(200);
      expect(a.contentType).toBe(OCI_INDEX);
      const index = JSON.parse(a.body.toString('utf8')) as Record<string, unknown>;
      expect(index).toEqual({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: expect.any(Array) });
      const expected: GoDescriptor[] = [];
      for (const w of ws) {
        const { bytes } = await registryStored(wire).manifest(w.referrer);
        expected.push(specEntry(w.referrer, bytes, JSON.parse(bytes.toString('utf8')) as Record<string, unknown>));
      }
      expect(byDigest(index['manifests'] as GoDescriptor[])).toEqual(byDigest(expected));
      // Clients that filter exactly (go-containerregistry WithFilter("artifactType", …), a
      // registry's ?artifactType=) keep every entry under the v0.3 bundle type, and only those.
      expect((await ggcrReferrers(wire, subject.digest, BUNDLE_V03)).map((e) => e.digest).sort()).toEqual(digests(ws));
      expect(await ggcrReferrers(wire, subject.digest, 'application/vnd.dev.sigstore.bundle+json;version=0.3')).toEqual(
        [],
      );
      for (const e of expected) {
        expect(e.artifactType).toBe(BUNDLE_V03);
        expect(Object.keys(e.annotations).sort()).toEqual([
          'dev.sigstore.bundle.content',
          'dev.sigstore.bundle.predicateType',
          'org.opencontainers.image.created',
        ]);
      }
    }
  });

  it('every referrer (signature, slsa, mof, files, custom, promotion record and the promoted copies) has cosign’s bundle shape', async () => {
    expect(written.source.map((w) => w.predicateType)).toEqual(ALL_TYPES);
    for (const w of written.source)
      await expectBundleReferrer(registryStored(src()), w.referrer, subject, w.predicateType, w.pem, since);
    for (const w of promoted())
      await expectBundleReferrer(registryStored(prod()), w.referrer, subject, w.predicateType, w.pem, since);
  });

  it('cosign GetBundles finds every bundle; verify -a and verify-attestation --type select the right ones', async () => {
    for (const [wire, ws] of [
      [src(), written.source],
      [prod(), promoted()],
    ] as const) {
      const found = await cosignGetBundles(wire, subject.digest);
      expect(found.map((b) => b.referrer).sort()).toEqual(digests(ws));
      expect(cosignSelect(found, subject.digest).sort()).toEqual(digests(ws));
      expect(cosignSelect(found, subject.digest, undefined, { team: 'ml' })).toEqual(of(COSIGN_SIGN));
      expect(cosignSelect(found, subject.digest, undefined, { team: 'other' })).toEqual([]);
      expect(cosignSelect(found, subject.digest, 'slsaprovenance1')).toEqual(of(SLSA_V1));
      for (const w of ws) expect(cosignSelect(found, subject.digest, w.predicateType)).toEqual([w.referrer]);
      expect(cosignSelect(found, subject.digest, 'custom')).toEqual([]);
      expect(cosignSelect(found, `sha256:${'0'.repeat(64)}`)).toEqual([]);
    }
  });

  it('Kyverno SigstoreBundle finds every bundle and each predicate type', async () => {
    for (const [wire, ws] of [
      [src(), written.source],
      [prod(), promoted()],
    ] as const) {
      expect((await kyvernoFetchBundles(wire, subject.digest)).map((b) => b.referrer).sort()).toEqual(digests(ws));
      for (const w of ws)
        expect((await kyvernoFetchBundles(wire, subject.digest, w.predicateType)).map((b) => b.referrer)).toEqual([
          w.referrer,
        ]);
      expect(await kyvernoFetchBundles(wire, subject.digest, 'https://slsa.dev/provenance/v0.2')).toEqual([]);
    }
  });

  it('gh attestation verify --bundle-from-oci finds every bundle and the SLSA v1 one it verifies by default', async () => {
    for (const [wire, ws] of [
      [src(), written.source],
      [prod(), promoted()],
    ] as const) {
      const atts = await ghGetAttestations(wire, subject.digest);
      expect(atts.map((a) => a.referrer).sort()).toEqual(digests(ws));
      expect(ghFilterAttestations(SLSA_V1, atts)).toEqual(of(SLSA_V1));
      for (const w of ws) expect(ghFilterAttestations(w.predicateType, atts)).toEqual([w.referrer]);
    }
  });

  // The re-implementations are only worth something if they reject what the consumers reject:
  // each shape below is modelship's real output with one field changed, served in place of it.
  describe('negative controls: one field changed in the real output', () => {
    /**
     * Serves `edit`ed copies of one referrer (bundle → manifest → fallback index entry), each
     * under its new digest, as a registry would after such a push.
     */
    async function tampered(
      w: Written,
      edit: {
        bundle?: (b: Record<string, unknown>) => void;
        manifest?: (m: Record<string, unknown>) => void;
        entry?: (e: Record<string, unknown>) => void;
        contentType?: string;
      },
    ): Promise<{ wire: Wire; referrer: string }> {
      const wire = src();
      const stored = registryStored(wire);
      const answers = new Map<string, Answer>();
      const m = JSON.parse((await stored.manifest(w.referrer)).bytes.toString('utf8')) as Record<string, unknown>;
      const layer = (m['layers'] as Record<string, unknown>[])[0]!;
      if (edit.bundle) {
        const b = JSON.parse((await stored.blob(layer['digest'] as string)).toString('utf8')) as Record<
          string,
          unknown
        >;
        edit.bundle(b);
        const bytes = Buffer.from(JSON.stringify(b));
        Object.assign(layer, { digest: sha256(bytes), size: bytes.length });
        answers.set(`blobs/${sha256(bytes)}`, { status: 200, contentType: 'application/octet-stream', body: bytes });
      }
      edit.manifest?.(m);
      const bytes = Buffer.from(JSON.stringify(m));
      const referrer = sha256(bytes);
      answers.set(`manifests/${referrer}`, { status: 200, contentType: edit.contentType ?? OCI_MANIFEST, body: bytes });
      const tag = `manifests/sha256-${subject.digest.slice(7)}`;
      const index = JSON.parse((await wire.get(tag, OCI_INDEX)).body.toString('utf8')) as {
        manifests: Record<string, unknown>[];
      };
      const entry = specEntry(referrer, bytes, m) as unknown as Record<string, unknown>;
      edit.entry?.(entry);
      index.manifests = index.manifests.map((e) => (e['digest'] === w.referrer ? entry : e));
      answers.set(tag, { status: 200, contentType: OCI_INDEX, body: Buffer.from(JSON.stringify(index)) });
      return { wire: overlay(wire, answers), referrer };
    }
    const slsa = (): Written => written.source.find((w) => w.predicateType === SLSA_V1)!;
    const others = (): string[] => digests(written.source.filter((w) => w.predicateType !== SLSA_V1));

    it('unchanged (the overlay itself changes nothing): all three consumers find all five', async () => {
      const t = await tampered(slsa(), {});
      expect(t.referrer).toBe(slsa().referrer);
      expect((await cosignGetBundles(t.wire, subject.digest)).length).toBe(5);
      expect((await kyvernoFetchBundles(t.wire, subject.digest)).length).toBe(5);
      expect((await ghGetAttestations(t.wire, subject.digest)).length).toBe(5);
    });

    it('an index entry typed as the empty config with no annotations (ggcr < 0.22.1 wrote those) is invisible to Kyverno and gh', async () => {
      const t = await tampered(slsa(), {
        entry: (e) => {
          e['artifactType'] = OCI_EMPTY;
          delete e['annotations'];
        },
      });
      expect((await kyvernoFetchBundles(t.wire, subject.digest, SLSA_V1)).length).toBe(0);
      expect(ghFilterAttestations(SLSA_V1, await ghGetAttestations(t.wire, subject.digest))).toEqual([]);
      // cosign does not filter on the entry, so it still finds it.
      expect(cosignSelect(await cosignGetBundles(t.wire, subject.digest), subject.digest, SLSA_V1)).toEqual([
        t.referrer,
      ]);
    });

    it('a second layer, or a layer not typed as a bundle, makes cosign skip the referrer', async () => {
      for (const manifest of [
        (m: Record<string, unknown>) => {
          const l = m['layers'] as unknown[];
          l.push(l[0]);
        },
        (m: Record<string, unknown>) => {
          (m['layers'] as Record<string, unknown>[])[0]!['mediaType'] = 'application/json';
        },
      ]) {
        const t = await tampered(slsa(), { manifest });
        const found = await cosignGetBundles(t.wire, subject.digest);
        expect(found.map((b) => b.referrer).sort()).toEqual(others());
        // Kyverno reads layer 0 whatever its type.
        expect((await kyvernoFetchBundles(t.wire, subject.digest, SLSA_V1)).map((b) => b.referrer)).toEqual([
          t.referrer,
        ]);
      }
    });

    it('a referrer served with an index Content-Type is not read as an image: cosign skips it, Kyverno fails', async () => {
      const t = await tampered(slsa(), { contentType: OCI_INDEX });
      expect((await cosignGetBundles(t.wire, subject.digest)).map((b) => b.referrer).sort()).toEqual(others());
      await expect(kyvernoFetchBundles(t.wire, subject.digest)).rejects.toThrow(/served as an index/);
    });

    it('a bundle field protojson does not know, or two verification materials, is refused by all three', async () => {
      for (const [bundle, error] of [
        [(b: Record<string, unknown>) => void (b['x-modelship'] = true), /unknown field "x-modelship"/],
        [
          (b: Record<string, unknown>) =>
            void ((b['verificationMaterial'] as Record<string, unknown>)['keyHint'] = 'x'),
          /unknown field "keyHint"/,
        ],
        [
          (b: Record<string, unknown>) =>
            void ((b['verificationMaterial'] as Record<string, unknown>)['certificate'] = { rawBytes: 'AAAA' }),
          /oneof .*content is already set/,
        ],
      ] as const) {
        const t = await tampered(slsa(), { bundle });
        expect((await cosignGetBundles(t.wire, subject.digest)).map((b) => b.referrer).sort()).toEqual(others());
        await expect(kyvernoFetchBundles(t.wire, subject.digest)).rejects.toThrow(error);
        await expect(ghGetAttestations(t.wire, subject.digest)).rejects.toThrow(error);
      }
    });

    it('a v0.2 bundle is skipped by cosign (MinVersion v0.3) but read by Kyverno and gh', async () => {
      const t = await tampered(slsa(), {
        bundle: (b) => void (b['mediaType'] = 'application/vnd.dev.sigstore.bundle+json;version=0.2'),
      });
      expect((await cosignGetBundles(t.wire, subject.digest)).map((b) => b.referrer).sort()).toEqual(others());
      expect((await kyvernoFetchBundles(t.wire, subject.digest, SLSA_V1)).map((b) => b.referrer)).toEqual([t.referrer]);
      expect(ghFilterAttestations(SLSA_V1, await ghGetAttestations(t.wire, subject.digest))).toEqual([t.referrer]);
    });

    it('a statement with an unknown field, or over another digest, fails cosign’s subject claim', async () => {
      for (const edit of [
        (st: Record<string, unknown>) => void (st['extra'] = 1),
        (st: Record<string, unknown>) => {
          (st['subject'] as { digest: Record<string, string> }[])[0]!.digest['sha256'] = '0'.repeat(64);
        },
      ]) {
        const t = await tampered(slsa(), {
          bundle: (b) => {
            const env = b['dsseEnvelope'] as { payload: string };
            const st = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8')) as Record<string, unknown>;
            edit(st);
            env.payload = Buffer.from(JSON.stringify(st)).toString('base64');
          },
        });
        const found = await cosignGetBundles(t.wire, subject.digest);
        expect(found.length).toBe(5);
        expect(cosignSelect(found, subject.digest, SLSA_V1)).toEqual([]);
      }
    });
  });
});

// ---- in an OCI layout --------------------------------------------------------------------------

describe('referrers in an OCI image layout (cosign --local-image)', () => {
  let source: string;
  let dest: string;
  let subject: Subject;
  let written: { source: Written[]; record: Written };
  let since: number;

  beforeAll(async () => {
    source = join(tmp.dir, 'layout');
    dest = join(tmp.dir, 'layout-prod');
    since = Date.now();
    const digest = await packSample(tmp.dir, `oci:${source}:v1`);
    subject = {
      mediaType: OCI_MANIFEST,
      digest,
      size: readFileSync(join(source, 'blobs', 'sha256', digest.slice(7))).length,
    };
    written = await writeEveryReferrer(`oci:${source}@${digest}`, `oci:${dest}:v1`, []);
  }, 180_000);

  const layouts = (): [string, Written[]][] => [
    [source, written.source],
    [dest, [...written.source, written.record]],
  ];

  it('every referrer blob has cosign’s bundle shape and is listed in index.json with its artifactType', async () => {
    expect(written.source.map((w) => w.predicateType)).toEqual(ALL_TYPES);
    for (const [dir, ws] of layouts()) {
      const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: GoDescriptor[] };
      for (const w of ws) {
        const m = await expectBundleReferrer(layoutStored(dir), w.referrer, subject, w.predicateType, w.pem, since);
        const size = readFileSync(join(dir, 'blobs', 'sha256', w.referrer.slice(7))).length;
        expect(index.manifests.filter((e) => e.digest === w.referrer)).toEqual([
          expect.objectContaining({
            mediaType: OCI_MANIFEST,
            digest: w.referrer,
            size,
            artifactType: m['artifactType'],
          }),
        ]);
      }
    }
  });

  it('cosign’s local blob scan finds every bundle, verify-attestation --type selects each predicate, and cosign load takes them all', () => {
    for (const [dir, ws] of layouts()) {
      const found = cosignLocalBundles(dir, subject.digest);
      expect(found.map((b) => b.referrer).sort()).toEqual(ws.map((w) => w.referrer).sort());
      for (const w of ws) expect(cosignSelect(found, subject.digest, w.predicateType)).toEqual([w.referrer]);
      expect(cosignSelect(found, subject.digest, 'slsaprovenance1')).toEqual(
        ws.filter((w) => w.predicateType === SLSA_V1).map((w) => w.referrer),
      );
      expect(cosignLoadReferrers(dir, subject.digest).sort()).toEqual(ws.map((w) => w.referrer).sort());
    }
  });
});
