/**
 * Page-aligned shared buffers, for writes with `O_DIRECT` (blob-file.ts). Direct I/O needs the
 * memory address, the length and the file offset aligned to the device's block; JavaScript
 * cannot see an address, and neither `SharedArrayBuffer` nor `Buffer.allocUnsafeSlow` memory is
 * page-aligned. A shared `WebAssembly.Memory` is: its backing store is mapped whole pages. Its
 * buffer is also a `SharedArrayBuffer`, so a worker can read it in place (trailing-hash.ts).
 *
 * Buffers are carved from slabs (one Memory per SLAB_BUFFERS buffers): each Memory reserves
 * address space well beyond its size, and V8 limits how much of that a process may hold.
 */

/** The alignment direct writes need: 4 KiB covers every block size Linux filesystems use. */
export const DIRECT_ALIGN = 4096;
const WASM_PAGE = 64 * 1024;
const SLAB_BUFFERS = 16;

/** Node has WebAssembly; this project's TypeScript lib (no DOM) does not declare it. */
const wasm = (
  globalThis as unknown as {
    WebAssembly: {
      Memory: new (d: { initial: number; maximum: number; shared: boolean }) => { buffer: SharedArrayBuffer };
    };
  }
).WebAssembly;

/** The backing stores slabs were carved from: a buffer on one of them is page-aligned at offset 0. */
const alignedStores = new WeakSet<ArrayBufferLike>();
const free = new Map<number, Buffer[]>();

/** A page-aligned buffer of `size` bytes (a multiple of 64 KiB), on shared memory. */
export function alignedBuffer(size: number): Buffer {
  const pool = free.get(size) ?? [];
  free.set(size, pool);
  const next = pool.pop();
  if (next) return next;
  if (size % WASM_PAGE !== 0) throw new RangeError(`aligned buffer size ${size} is not a multiple of ${WASM_PAGE}`);
  const pages = (size / WASM_PAGE) * SLAB_BUFFERS;
  let store: ArrayBufferLike;
  try {
    store = new wasm.Memory({ initial: pages, maximum: pages, shared: true }).buffer;
  } catch {
    // No shared wasm memory here (or no address space left for one): unaligned, still shared.
    return Buffer.from(new SharedArrayBuffer(size));
  }
  alignedStores.add(store);
  for (let i = 1; i < SLAB_BUFFERS; i++) pool.push(Buffer.from(store, i * size, size));
  return Buffer.from(store, 0, size);
}

/** Whether `buf` can go to a direct write at an aligned offset as it is. */
export function isDirectWritable(buf: Uint8Array): boolean {
  return alignedStores.has(buf.buffer) && buf.byteOffset % DIRECT_ALIGN === 0 && buf.length % DIRECT_ALIGN === 0;
}
