import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { ArtifactFacts } from '../attest/facts.js';
import { ModelshipError } from '../errors.js';
import { readTarLayer } from '../extract.js';
import type { ReadOnlyStore } from '../store.js';
import { FileScanner, type FileScanInput } from './file-scan.js';
import type { ScannedFile } from './predicate.js';
import type { FileScanResult } from './report.js';

const READ_SIZE = 1024 * 1024;

/**
 * Scans a local file with positional reads of only what the scanner asks for: a safetensors
 * or GGUF file is read as far as its header, a PyTorch zip member by member. One read of
 * each needed byte, none of the rest.
 */
export async function scanLocalFile(absPath: string, input: Omit<FileScanInput, 'size'>): Promise<FileScanResult> {
  const fh = await open(absPath, 'r').catch((e: unknown) => {
    throw new ModelshipError('INPUT', `cannot read ${absPath} to scan it: ${(e as Error).message}`, { cause: e });
  });
  try {
    const { size } = await fh.stat();
    const scanner = new FileScanner({ ...input, size });
    let pos = 0;
    for (;;) {
      const need = scanner.needFrom();
      if (need === Infinity) break;
      pos = Math.max(pos, need);
      if (pos >= size) break;
      // A fresh buffer per read: parsers may keep a slice of a chunk until the next one.
      const buf = Buffer.allocUnsafe(Math.min(READ_SIZE, size - pos));
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      scanner.write(buf.subarray(0, bytesRead), pos);
      pos += bytesRead;
    }
    scanner.end(size);
    return scanner.result();
  } finally {
    await fh.close();
  }
}

/** Pushes a whole stream through a scanner (every byte is read: a store verifies what it serves at the end). */
export async function scanStream(
  stream: Readable | AsyncIterable<Buffer>,
  input: FileScanInput,
): Promise<FileScanResult> {
  const scanner = new FileScanner(input);
  let n = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    scanner.write(chunk, n);
    n += chunk.length;
  }
  scanner.end(n);
  return scanner.result();
}

/**
 * Scans every layer of an artifact from the store, each blob read once and verified by the
 * store (a raw layer is its file; a tar layer's entries are scanned as they stream by).
 */
export async function scanArtifactLayers(store: ReadOnlyStore, facts: ArtifactFacts): Promise<ScannedFile[]> {
  const out: ScannedFile[] = [];
  for (const [i, layer] of facts.layers.entries()) {
    const desc = facts.manifest.layers[i]!;
    const content = await store.fetch(desc);
    try {
      if (layer.raw) {
        const r = await scanStream(content, { path: layer.path, size: layer.size, kind: layer.kind });
        out.push({ path: layer.path, layer: layer.digest, digest: layer.digest, size: layer.size, ...r });
        continue;
      }
      const entries: ScannedFile[] = [];
      await readTarLayer(desc, content, {
        file: async (name: string, _mode: number, entry: Readable) => {
          const path = name.replace(/^(\.\/)+/, '');
          // The tar header's size is the entry's; streamed through, it is checked by the tar reader.
          const size = (entry as unknown as { header?: { size?: number } }).header?.size ?? 0;
          const r = await scanStream(entry, { path, size, kind: layer.kind });
          entries.push({ path, layer: layer.digest, size, ...r });
        },
      });
      out.push(...entries);
    } finally {
      content.destroy();
    }
  }
  return out;
}
