import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { PassThrough, type Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { ModelshipError } from './errors.js';

/**
 * Compression for tar+gzip / tar+zstd layers, both directions. zstd comes from node:zlib on
 * Node >= 22.15 (the Actions runtime, node24) and from the `zstd` program otherwise (Node 20);
 * the program runs without a shell and is killed when its consumer gives up.
 */
export const GZIP_LEVEL = 6;
const ZSTD_LEVEL = 3;
/** Fixed flags: level 3, no content checksum (the OCI digest covers the blob), one thread. */
const ZSTD_CLI_ARGS = ['-q', '-c', `-${ZSTD_LEVEL}`, '--no-check', '--single-thread'];

type ZstdFactory = (options?: { params: Record<number, number> }) => Transform;

function nodeZstd(kind: 'createZstdCompress' | 'createZstdDecompress'): ZstdFactory | undefined {
  const z = zlib as unknown as Record<string, ZstdFactory | undefined>;
  const f = z[kind];
  return typeof f === 'function' ? f.bind(zlib) : undefined;
}

let zstdPath: string | null | undefined;

/** The `zstd` program on PATH, if any (looked up once). */
function findZstdProgram(): string | undefined {
  if (zstdPath === undefined) {
    zstdPath = null;
    const names = process.platform === 'win32' ? ['zstd.exe'] : ['zstd'];
    for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
      if (!dir) continue;
      for (const n of names) {
        try {
          accessSync(join(dir, n), fsConstants.X_OK);
          zstdPath = join(dir, n);
          break;
        } catch {
          // not here
        }
      }
      if (zstdPath) break;
    }
  }
  return zstdPath ?? undefined;
}

/** Whether tar+zstd layers can be written here (Node ≥ 22.15 zlib, or the zstd program). */
export function zstdAvailable(): boolean {
  return nodeZstd('createZstdCompress') !== undefined || findZstdProgram() !== undefined;
}

function viaProgram(program: string, args: readonly string[], input: Readable, what: string): Readable {
  const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'], shell: false });
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  let stderr = '';
  let failed = false;
  const fail = (err: Error): void => {
    if (failed) return;
    failed = true;
    child.kill();
    input.destroy();
    out.destroy(err);
  };
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  child.on('error', (e) => fail(new ModelshipError('USAGE', `cannot run ${program}: ${e.message}`, { cause: e })));
  child.stdout.pipe(out, { end: false });
  child.on('close', (code, signal) => {
    if (code === 0) out.end();
    else fail(new ModelshipError('INVALID', `zstd failed on ${what} (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
  });
  pipeline(input, child.stdin).catch((e: unknown) => fail(e instanceof Error ? e : new Error(String(e))));
  out.on('close', () => {
    if (!out.writableFinished && !failed) {
      // The consumer gave up early: stop the work behind us.
      failed = true;
      child.kill();
      input.destroy();
    }
  });
  return out;
}

function throughTransform(input: Readable, transform: Transform): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  pipeline(input, transform, out).catch(() => {
    // pipeline has destroyed `out` with the error; the consumer sees it there
  });
  return out;
}

function noZstd(): ModelshipError {
  return new ModelshipError('USAGE', 'tar+zstd layers need Node.js >= 22.15 or the zstd program on PATH', {
    hint: 'install zstd (e.g. apt-get install zstd), upgrade Node.js, or use tar+gzip / tar / raw layers',
  });
}

/** zstd-compresses `input` with fixed settings (level 3, no checksum), so output is reproducible. */
export function zstdCompress(input: Readable, what: string): Readable {
  const factory = nodeZstd('createZstdCompress');
  if (factory) {
    const params: Record<number, number> = {};
    const c = zlib.constants as unknown as Record<string, number>;
    if (c['ZSTD_c_compressionLevel'] !== undefined) params[c['ZSTD_c_compressionLevel']] = ZSTD_LEVEL;
    if (c['ZSTD_c_checksumFlag'] !== undefined) params[c['ZSTD_c_checksumFlag']] = 0;
    return throughTransform(input, factory({ params }));
  }
  const program = findZstdProgram();
  if (!program) throw noZstd();
  return viaProgram(program, ZSTD_CLI_ARGS, input, what);
}

export function zstdDecompress(input: Readable, what: string): Readable {
  const factory = nodeZstd('createZstdDecompress');
  if (factory) return throughTransform(input, factory());
  const program = findZstdProgram();
  if (!program) throw noZstd();
  return viaProgram(program, ['-d', '-q', '-c'], input, what);
}

export function gunzip(input: Readable): Readable {
  return throughTransform(input, zlib.createGunzip());
}
