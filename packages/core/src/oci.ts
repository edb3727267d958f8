/** OCI descriptor, manifest and index shapes (image-spec v1.1). */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
  data?: string;
  urls?: string[];
  /** Index entries: the platform the manifest is for (image-spec image-index.md). */
  platform?: Platform;
}

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface Index {
  schemaVersion: 2;
  mediaType: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}

export function digestHex(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1);
}

/** The tag where referrers live when a registry lacks the referrers API (distribution-spec 1.1 tag schema). */
export function referrersFallbackTag(digest: string): string {
  const [alg, enc] = digest.split(':') as [string, string];
  return `${alg.slice(0, 32)}-${enc.slice(0, 64)}`.replace(/[^a-zA-Z0-9._-]/g, '-');
}

/** True for a tag of the `referrersFallbackTag` shape: it names a list of referrers, not an artifact. */
export function isReferrersFallbackTag(tag: string): boolean {
  return /^sha256-[0-9a-f]{64}$/.test(tag);
}
