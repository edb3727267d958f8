import type { SbomFormat } from '../attest/sbom/index.js';
import type { IdentifierFamily } from '../mediatypes.js';
import type { TrustedIdentity } from '../notation/dn.js';
import type { ScanVerdict } from '../scan/report.js';

/** The GitHub Actions OIDC issuer that the `github` signer shorthand expands to. */
export const GITHUB_ACTIONS_ISSUER = 'https://token.actions.githubusercontent.com';

/** The GitHub shorthand as written in the policy (kept on the expanded signer for reports and OID checks). */
export interface GithubSignerSpec {
  /** `owner/name`. */
  repository: string;
  /** Workflow path inside the repository, e.g. `.github/workflows/release.yml`. */
  workflow: string;
  /** A literal ref (`refs/heads/main`) or a ref regex (`refs/tags/v.+`); see docs/policy.md. */
  ref: string;
}

/** A keyless (Fulcio certificate) signer: exact OIDC issuer plus an anchored SAN regex. */
export interface KeylessSigner {
  type: 'keyless';
  /** Compared exactly with the certificate's issuer extension (OID 1.3.6.1.4.1.57264.1.8, fallback .1.1). */
  issuer: string;
  /** Anchored regular expression source (`^...$`) matched against the certificate SAN. */
  identity: string;
  /** Present when the signer was written with the `github` shorthand. */
  github?: GithubSignerSpec;
  /** Line of the signer entry in the policy file. */
  line: number;
}

/** A public-key signer: exactly one of `path` (resolved against the policy's directory by loadPolicy) or `pem`. */
export interface KeySigner {
  type: 'key';
  path?: string;
  pem?: string;
  line: number;
}

/**
 * A Notary Project (Notation) signer: X.509 signatures verified as Notation's trust policy does
 * at level strict, against the CA certificates of `trustStore`, by the leaf's subject.
 */
export interface NotationPolicySigner {
  type: 'notation';
  /** PEM/DER file or directory of CA certificates (resolved against the policy's directory by loadPolicy). */
  trustStore: string;
  /** Parsed `trustedIdentities`: `*`, or `x509.subject:` DNs (checked for validity and overlap). */
  identities: TrustedIdentity[];
  line: number;
}

export type PolicySigner = KeylessSigner | KeySigner | NotationPolicySigner;

export interface SlsaRequirement {
  /** Anchored regex matched against `runDetails.builder.id`. */
  builder?: string;
  /** Workflow path, e.g. `.github/workflows/release.yml`, compared exactly. */
  workflow?: string;
  /**
   * `owner/name` (on github.com) or `host/owner/name` of the source repository, compared exactly
   * with `https://host/owner/name` (case-insensitive, as GitHub is). Keyless: the certificate's
   * Source Repository URI.
   */
  sourceRepository?: string;
  /** Anchored regex matched against the source ref, e.g. `^refs/(heads/main|tags/v.+)$`. */
  ref?: string;
  /** Refuse provenance whose runner environment is `self-hosted`. Default false. */
  forbidSelfHosted: boolean;
  /** Where the model came from: the provenance's `model-source` dependency (docs/policy.md). */
  modelSource?: ModelSourceRequirement;
}

export interface ModelSourceRequirement {
  /** `hf://ORG/NAME` (https://huggingface.co/ORG/NAME) or the repository's URL, compared case-insensitively. */
  repository: string;
  /** Full commit ids the source may be at; absent: any, but pinned to a commit. */
  commits?: string[];
}

export interface MofRequirement {
  /** 1 (Class I, strictest) .. 3 (Class III, least). The attested class must be this or better (numerically ≤). */
  minClass: 1 | 2 | 3;
}

export interface LicenseRequirement {
  /** SPDX identifiers that are acceptable; empty means "any not denied". */
  allow: string[];
  /** SPDX identifiers that are refused. */
  deny: string[];
}

export interface ScanRequirement {
  /** Verdicts that fail the check (default `unsafe`). */
  deny: Exclude<ScanVerdict, 'safe'>[];
  /** Accept files the scanner cannot read (`unknown-format`). Default false. */
  allowUnknownFormats: boolean;
}

export interface ArtifactRequirement {
  /** Accepted media-type families; empty means any. */
  identifiers: IdentifierFamily[];
  /** Largest accepted layer size in bytes; undefined means no limit. */
  maxLayerBytes?: number;
}

export interface PolicyRequirements {
  /**
   * Predicate types that must each be carried by at least one verified attestation. Includes
   * the SLSA / MOF predicate types implied by `slsa` / `mof`, de-duplicated, in order.
   */
  predicates: string[];
  slsa?: SlsaRequirement;
  mof?: MofRequirement;
  licenses?: LicenseRequirement;
  artifact?: ArtifactRequirement;
  /** A trusted model scan covering every layer, with no file in a denied verdict. */
  scan?: ScanRequirement;
  /** A trusted SBOM of this artifact in each of these formats. */
  sbom?: SbomFormat[];
}

export interface PolicyTrust {
  /** Pinned trusted_root.json (air-gapped); undefined means a TUF repository (Sigstore's by default). */
  trustedRoot?: string;
  /** Base URL of the TUF repository serving `trusted_root.json`; undefined means Sigstore public-good. */
  tufMirror?: string;
  /** Initial root.json for `tufMirror` (resolved like `trustedRoot`); the public-good root is built in. */
  tufRoot?: string;
  /**
   * Keyless signatures need a transparency-log entry whenever the trusted root has a log.
   * `false` (private deployments) accepts a TSA timestamp instead. Absent or `true`: strict.
   */
  requireTlog?: boolean;
}

export interface PolicyPromote {
  /**
   * Anchored regexes (checked like signer identities) over the normalised destination:
   * `host/repo` with the host lower-cased (Docker Hub as `docker.io/...`), or `oci:` plus the
   * layout's absolute real path. Undefined means any destination.
   */
  destinations?: string[];
}

/** A parsed, validated, defaulted policy (version 1). */
export interface Policy {
  version: 1;
  /** Where the policy came from (file path or a label), as used in error messages. */
  source: string;
  /** `sha256:<hex>` of the policy bytes; promote records it. */
  digest: string;
  signers: PolicySigner[];
  /**
   * At least this many distinct trusted signers (a public key, or a certificate issuer + SAN)
   * must each have a verified signature; bundles by one signer count once. Default 1.
   */
  minSignatures: number;
  require: PolicyRequirements;
  trust: PolicyTrust;
  /** What `promote` demands beyond verification. */
  promote: PolicyPromote;
}

export interface ParsePolicyOptions {
  /** Directory that relative `key.path`, `notation.trustStore`, `trust.trustedRoot` and `trust.tufRoot` are resolved against; unset keeps them as written. */
  baseDir?: string;
}
