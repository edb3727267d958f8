import { randomBytes } from 'node:crypto';

/** A valid safetensors file whose one U8 tensor is `bytes` random bytes: weights of a distinct digest each time. */
export function randomSafetensors(bytes: number): Buffer {
  let header = JSON.stringify({ w: { dtype: 'U8', shape: [bytes], data_offsets: [0, bytes] } });
  header += ' '.repeat((8 - (header.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([len, Buffer.from(header), randomBytes(bytes)]);
}
