/** OCI and ModelPack identifiers (docs/decisions.md, "Identifier families"). */
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const OCI_EMPTY_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
export const DOCKER_MANIFEST_V2 = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

export const MANIFEST_MEDIA_TYPES = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST_V2, DOCKER_MANIFEST_LIST];

/** An OCI image config and its uncompressed tar layers: what container runtimes unpack (the modelcar variant). */
export const OCI_IMAGE_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const DOCKER_IMAGE_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
/** Image layer media types a base image may use (OCI and Docker, plain or compressed). */
export const IMAGE_LAYER_MEDIA_TYPES = [
  OCI_LAYER_TAR,
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
];

export const ANNOTATION_TITLE = 'org.opencontainers.image.title';
export const ANNOTATION_CREATED = 'org.opencontainers.image.created';
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
export const ANNOTATION_VERSION = 'org.opencontainers.image.version';
export const ANNOTATION_BASE_NAME = 'org.opencontainers.image.base.name';
export const ANNOTATION_BASE_DIGEST = 'org.opencontainers.image.base.digest';

/** `cncf` is the ModelPack spec (v0.0.7+); `cnai` is what released Harbor and older modctl read. */
export type IdentifierFamily = 'cncf' | 'cnai';
export const IDENTIFIER_FAMILIES: readonly IdentifierFamily[] = ['cncf', 'cnai'];

export type LayerKind = 'weight' | 'weight.config' | 'doc' | 'code' | 'dataset';

export type LayerEncoding = 'raw' | 'tar' | 'tar+gzip' | 'tar+zstd';
export const LAYER_ENCODINGS: readonly LayerEncoding[] = ['raw', 'tar', 'tar+gzip', 'tar+zstd'];

export function modelManifestArtifactType(family: IdentifierFamily): string {
  return `application/vnd.${family}.model.manifest.v1+json`;
}

export function modelConfigMediaType(family: IdentifierFamily): string {
  return `application/vnd.${family}.model.config.v1+json`;
}

export function layerMediaType(family: IdentifierFamily, kind: LayerKind, encoding: LayerEncoding): string {
  // The bare name is the tar type; raw carries a `.raw` suffix (docs/decisions.md, "Identifier families").
  const suffix = encoding === 'tar' ? '.tar' : `.${encoding}`;
  return `application/vnd.${family}.model.${kind}.v1${suffix}`;
}

export function annotationKey(
  family: IdentifierFamily,
  key: 'filepath' | 'file.metadata+json' | 'file.mediatype.untested',
): string {
  return `org.${family}.model.${key}`;
}

export interface ParsedLayerMediaType {
  family: IdentifierFamily;
  kind: LayerKind;
  encoding: LayerEncoding;
}

const LAYER_RE =
  /^application\/vnd\.(cncf|cnai)\.model\.(weight\.config|weight|doc|code|dataset)\.v1\.(raw|tar|tar\+gzip|tar\+zstd)$/;

/** Reads both identifier families. Returns undefined for anything else. */
export function parseLayerMediaType(mediaType: string): ParsedLayerMediaType | undefined {
  const m = LAYER_RE.exec(mediaType);
  if (!m) return undefined;
  return { family: m[1] as IdentifierFamily, kind: m[2] as LayerKind, encoding: m[3] as LayerEncoding };
}

export function isModelManifestArtifactType(t: string | undefined): t is string {
  return t === modelManifestArtifactType('cncf') || t === modelManifestArtifactType('cnai');
}

export function isModelConfigMediaType(t: string | undefined): boolean {
  return t === modelConfigMediaType('cncf') || t === modelConfigMediaType('cnai');
}

/** The filepath annotation of a layer in either family, preferring the title (what CRI-O tries first). */
export function layerFilepath(annotations: Record<string, string> | undefined): string | undefined {
  if (!annotations) return undefined;
  return (
    annotations[annotationKey('cncf', 'filepath')] ??
    annotations[annotationKey('cnai', 'filepath')] ??
    annotations[ANNOTATION_TITLE]
  );
}
