import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { HashTee } from '../hash-pool.js';
import type { LayerStream } from '../modelpack/tar.js';
import type { ModelFile } from '../modelpack/types.js';
import { FileScanner } from './file-scan.js';
import { scanLocalFile } from './local.js';
import { buildScanPredicate, type ScanPredicate, type ScannedFile } from './predicate.js';
import type { FileScanResult } from './report.js';

interface Running {
  scanner: FileScanner;
  /** The scanner saw the whole file, start to end, in one read. */
  complete: boolean;
}

/**
 * `pack --scan`: each file is scanned on the read pack makes anyway, so scanning costs no
 * second read of the model. The three ways pack reads a file each feed the scanner:
 * - hash pool (a layout on the same device): the worker hands the scanner the chunks it
 *   asks for (hash-pool.ts, `HashTee`); hashing continues at full speed past the header of a
 *   safetensors or GGUF file, which is all the scanner needs;
 * - an upload or copy stream (registries, other devices, tar layers): every chunk passes
 *   through `tap` / `tapLayer` on its way to the store;
 * - no read at all (a cached or Git LFS digest, and a store that already had the blob or
 *   hard-links it): `finish` reads the file then, once, with positional reads of only the
 *   bytes the scanner asks for (for safetensors and GGUF, the header).
 * A retried upload opens the file again: the scan starts over with it.
 */
export class PackScan {
  private readonly running = new Map<ModelFile, Running>();

  private start(file: ModelFile): FileScanner {
    const scanner = new FileScanner({ path: file.path, size: file.size, kind: file.kind });
    this.running.set(file, { scanner, complete: false });
    return scanner;
  }

  private done(file: ModelFile, scanner: FileScanner, bytes: number): void {
    const r = this.running.get(file);
    if (r?.scanner !== scanner) return;
    scanner.end(bytes);
    r.complete = bytes === file.size;
  }

  private isComplete(file: ModelFile): boolean {
    return this.running.get(file)?.complete === true;
  }

  /** For the hash pool: the scanner is told the file's size once the hash is done (`hashed`). */
  hashTee(file: ModelFile): HashTee | undefined {
    if (this.isComplete(file)) return undefined;
    const scanner = this.start(file);
    return { write: (chunk, offset) => scanner.write(chunk, offset), needFrom: () => scanner.needFrom() };
  }

  hashed(file: ModelFile, size: number): void {
    const r = this.running.get(file);
    if (r && !r.complete) this.done(file, r.scanner, size);
  }

  /** `stream` (the file's bytes) with every chunk also pushed to a fresh scan of `file`. */
  tap(file: ModelFile, stream: Readable): Readable {
    if (this.isComplete(file)) return stream;
    const scanner = this.start(file);
    let n = 0;
    const tap = new Transform({
      transform: (chunk: Buffer, _e, cb: TransformCallback) => {
        scanner.write(chunk, n);
        n += chunk.length;
        cb(null, chunk);
      },
      flush: (cb: TransformCallback) => {
        this.done(file, scanner, n);
        cb();
      },
    });
    stream.on('error', (e) => tap.destroy(e));
    return stream.pipe(tap);
  }

  /** A tar layer stream of `file`: the file's own bytes are scanned as the tar is produced. */
  tapLayer(file: ModelFile, layer: LayerStream): void {
    if (this.isComplete(file)) return;
    const scanner = this.start(file);
    let n = 0;
    layer.progress((bytes, chunk) => {
      if (chunk) scanner.write(chunk, n);
      n += bytes;
    });
    // The diffId resolves once the tar has ended, i.e. after the file's last byte.
    layer.diffId().then(
      () => this.done(file, scanner, n),
      () => {},
    );
  }

  /**
   * The scan predicate of the packed files, in layer order. Files no read covered completely
   * are read now, once each, as far as their scanner asks.
   */
  async finish(layers: readonly { file: ModelFile; digest: string; raw: boolean }[]): Promise<ScanPredicate> {
    const files: ScannedFile[] = [];
    for (const { file, digest, raw } of layers) {
      const r = this.running.get(file);
      const result: FileScanResult = r?.complete
        ? r.scanner.result()
        : await scanLocalFile(file.absPath, { path: file.path, kind: file.kind });
      files.push({
        path: file.path,
        layer: digest,
        ...(raw ? { digest } : {}),
        size: file.size,
        ...result,
      });
    }
    return buildScanPredicate(files);
  }
}
