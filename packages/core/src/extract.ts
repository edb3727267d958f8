import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import tarStream from 'tar-stream';
import { gunzip, zstdDecompress } from './compression.js';
import { ModelshipError } from './errors.js';
import { unsafePathReason } from './safe-path.js';
import { parseLayerMediaType, layerFilepath, type LayerEncoding } from './mediatypes.js';
import type { Descriptor } from './oci.js';

/**
 * Resolves a path taken from an artifact (annotation or tar entry) under `root`, refusing what
 * safe-path.ts `unsafePathReason` refuses (absolute, `..`, backslashes, control characters,
 * `.git`): a hostile manifest must not write outside the directory the user chose, nor into
 * a git directory there.
 */
export function safeJoin(root: string, untrusted: string, what: string): string {
  const why = unsafePathReason(untrusted);
  if (why)
    throw new ModelshipError('INVALID', `${what}: refusing unsafe path ${JSON.stringify(untrusted)} (${why})`, {
      hint: 'the artifact names a file outside the extraction directory or inside a .git directory; it may be malicious',
    });
  const parts = untrusted.split('/').filter((p) => p !== '' && p !== '.');
  const abs = resolve(root, ...parts);
  const rel = relative(resolve(root), abs);
  if (rel.startsWith('..') || isAbsolute(rel) || rel === '')
    throw new ModelshipError('INVALID', `${what}: refusing unsafe path "${untrusted}"`);
  return abs;
}

/** File mode from the ModelPack metadata annotation: only 0644 or 0755, never setuid etc. */
export function modeFromAnnotations(annotations: Record<string, string> | undefined): number {
  const raw = annotations?.['org.cncf.model.file.metadata+json'] ?? annotations?.['org.cnai.model.file.metadata+json'];
  if (!raw) return 0o644;
  try {
    const m = JSON.parse(raw) as { mode?: unknown };
    return typeof m.mode === 'number' && (m.mode & 0o111) !== 0 ? 0o755 : 0o644;
  } catch {
    return 0o644;
  }
}

/** The uncompressed tar stream of a tar / tar+gzip / tar+zstd layer. */
export function decompressed(content: Readable, encoding: LayerEncoding, what: string): Readable {
  if (encoding === 'tar+gzip') return gunzip(content);
  if (encoding === 'tar+zstd') return zstdDecompress(content, what);
  return content;
}

async function writeAtomically(target: string, source: Readable, mode: number): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  const tmp = join(dirname(target), `.modelship-${randomBytes(6).toString('hex')}.tmp`);
  try {
    await pipeline(source, createWriteStream(tmp, { mode }));
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

export interface ExtractLimits {
  /** Refuse a tar layer expanding past this many bytes (decompression bombs). Default 4x the layer + 1 GiB for compressed, the layer size for plain tar. */
  maxExpandedBytes?: number;
}

/**
 * Writes one ModelPack layer under `root`: raw layers to their filepath annotation, tar layers
 * entry by entry (regular files and directories only). `content` must already be verified
 * against the descriptor (ContentStore.fetch does that).
 */
export async function extractLayer(
  root: string,
  desc: Descriptor,
  content: Readable,
  limits: ExtractLimits = {},
): Promise<string[]> {
  const parsed = parseLayerMediaType(desc.mediaType);
  const encoding: LayerEncoding = parsed?.encoding ?? 'raw';
  const written: string[] = [];
  if (encoding === 'raw') {
    const fp = layerFilepath(desc.annotations);
    if (!fp)
      throw new ModelshipError('INVALID', `layer ${desc.digest} has no org.cncf.model.filepath annotation`, {
        hint: 'cannot tell where to write this raw layer; pull into an OCI layout instead (--output)',
      });
    const target = safeJoin(root, fp, `layer ${desc.digest}`);
    await writeAtomically(target, content, modeFromAnnotations(desc.annotations));
    written.push(relative(root, target).split(sep).join('/'));
    return written;
  }
  const cap = limits.maxExpandedBytes ?? (encoding === 'tar' ? desc.size : desc.size * 4 + 1024 ** 3);
  let expanded = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _e, cb) {
      expanded += chunk.length;
      if (expanded > cap)
        return cb(
          new ModelshipError(
            'INVALID',
            `layer ${desc.digest} expands past ${cap} bytes; refusing (decompression bomb?)`,
          ),
        );
      cb(null, chunk);
    },
  });
  const extract = tarStream.extract();
  const done = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      if (h.type === 'directory') {
        await mkdir(safeJoin(root, h.name.replace(/\/$/, ''), `layer ${desc.digest}`), { recursive: true });
        entry.resume();
        continue;
      }
      if (h.type !== 'file' && h.type !== 'contiguous-file')
        throw new ModelshipError('INVALID', `layer ${desc.digest}: refusing tar entry "${h.name}" of type ${h.type}`, {
          hint: 'ModelPack layers hold regular files; links and devices are not extracted',
        });
      const target = safeJoin(root, h.name, `layer ${desc.digest}`);
      await writeAtomically(target, entry as unknown as Readable, (h.mode ?? 0o644) & 0o111 ? 0o755 : 0o644);
      written.push(relative(root, target).split(sep).join('/'));
    }
  })().catch((e: unknown) => {
    // Stop the download too: a refused entry ends the whole layer.
    extract.destroy(e as Error);
    throw e;
  });
  await Promise.all([pipeline(decompressed(content, encoding, `layer ${desc.digest}`), counter, extract), done]);
  return written;
}
