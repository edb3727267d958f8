import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { ModelshipError } from './errors.js';

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${sha256Hex(data)}`;
}

/** Pass-through that hashes and counts what flows by. */
export class HashingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }

  /** Valid once the stream has ended. */
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

/**
 * Pass-through that fails at the end when the bytes do not hash to `expected` or the size
 * differs, so a consumer never commits tampered or truncated content.
 */
export class VerifyingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;

  constructor(
    private readonly expectedDigest: string,
    private readonly expectedSize: number,
    private readonly what: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.expectedSize) {
      cb(
        new ModelshipError('INVALID', `${this.what}: more than the expected ${this.expectedSize} bytes`, {
          hint: 'the content does not match its descriptor; it may have been tampered with',
        }),
      );
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.bytes !== this.expectedSize) {
      cb(new ModelshipError('INVALID', `${this.what}: got ${this.bytes} bytes, expected ${this.expectedSize}`));
      return;
    }
    const got = `sha256:${this.hash.digest('hex')}`;
    if (got !== this.expectedDigest) {
      cb(
        new ModelshipError('INVALID', `${this.what}: digest mismatch: got ${got}, expected ${this.expectedDigest}`, {
          hint: 'the content does not match its descriptor; it may have been tampered with',
        }),
      );
      return;
    }
    cb();
  }
}
