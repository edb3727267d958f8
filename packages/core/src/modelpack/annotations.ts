import { annotationKey, ANNOTATION_TITLE, type IdentifierFamily } from '../mediatypes.js';
import type { ModelFile } from './types.js';

/** ModelPack FileMetadata (`org.<family>.model.file.metadata+json`), in the Go struct's field order. */
export interface FileMetadata {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: string;
  typeflag: number;
}

const EPOCH = '1970-01-01T00:00:00Z';
const TYPEFLAG_REG = 48; // '0': regular file

/** 0644, or 0755 when any execute bit is set: the only two modes a reproducible layer carries. */
export function normalizedMode(mode: number): number {
  return mode & 0o111 ? 0o755 : 0o644;
}

function rfc3339Seconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

/** What the annotations read of a file (a converted artifact's files have no stat). */
export type AnnotatedFile = Pick<ModelFile, 'path' | 'size' | 'mode' | 'untested'> &
  Partial<Pick<ModelFile, 'mtimeMs' | 'uid' | 'gid'>>;

export function fileMetadata(file: AnnotatedFile, realMetadata = false): FileMetadata {
  const name = file.path.slice(file.path.lastIndexOf('/') + 1);
  if (!realMetadata) {
    return {
      name,
      mode: normalizedMode(file.mode),
      uid: 0,
      gid: 0,
      size: file.size,
      mtime: EPOCH,
      typeflag: TYPEFLAG_REG,
    };
  }
  return {
    name,
    mode: file.mode & 0o7777,
    uid: file.uid ?? 0,
    gid: file.gid ?? 0,
    size: file.size,
    mtime: rfc3339Seconds(file.mtimeMs ?? 0),
    typeflag: TYPEFLAG_REG,
  };
}

/**
 * Layer annotations: the spec's filepath/metadata/untested keys plus
 * `org.opencontainers.image.title`, which CRI-O tries first and ORAS and Podman use to name
 * the file. Metadata is constant by default so mtimes and owners never change a manifest;
 * `realMetadata` reproduces modctl's on-disk values. Keys are returned sorted.
 */
export function layerAnnotations(
  file: AnnotatedFile,
  family: IdentifierFamily,
  options: { realMetadata?: boolean } = {},
): Record<string, string> {
  const entries: [string, string][] = [
    [annotationKey(family, 'filepath'), file.path],
    [annotationKey(family, 'file.metadata+json'), JSON.stringify(fileMetadata(file, options.realMetadata === true))],
    [annotationKey(family, 'file.mediatype.untested'), file.untested ? 'true' : 'false'],
    [ANNOTATION_TITLE, file.path],
  ];
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return Object.fromEntries(entries);
}
