import { Transform, type Readable, type TransformCallback } from 'node:stream';

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
