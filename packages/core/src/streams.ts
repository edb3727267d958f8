import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { ModelshipError } from './errors.js';

/**
 * Pass-through that reports the running byte count. Use it instead of a 'data' listener: a
 * listener switches the source into flowing mode before the consumer is attached, and the
 * bytes that flow meanwhile are lost.
 */
export class ByteCounter extends Transform {
  bytes = 0;

  constructor(private readonly onBytes: (total: number, delta: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    this.onBytes(this.bytes, chunk.length);
    cb(null, chunk);
  }
}

/** `source` piped through a ByteCounter; errors of the source are forwarded. */
export function countBytes(source: Readable, onBytes: (total: number, delta: number) => void): Readable {
  const counter = new ByteCounter(onBytes);
  source.on('error', (e) => counter.destroy(e));
  return source.pipe(counter);
}

/**
 * Reads a stream into memory, refusing more than `max` bytes: anything parsed from the network
 * (manifests, token answers, API replies) is capped before it is parsed, so a hostile or broken
 * server cannot make us buffer without bound.
 */
export async function readCapped(
  stream: Readable | AsyncIterable<Uint8Array>,
  max: number,
  what: string,
  hint = 'manifests, configs and API answers are small; this content is not one',
): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of stream) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    n += b.length;
    if (n > max) {
      (stream as Readable).destroy?.();
      throw new ModelshipError('INVALID', `${what} is larger than ${max} bytes`, { hint });
    }
    parts.push(b);
  }
  return Buffer.concat(parts);
}

/** Most we read of an HTTP answer that is not a manifest (token, OIDC, API replies, error bodies). */
export const MAX_API_BODY = 1024 * 1024;
