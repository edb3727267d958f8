import { Readable } from 'node:stream';
import { sha256Digest } from './digest.js';
import { ModelshipError } from './errors.js';
import { isManifestMediaType, referrerEntry, summarizeManifest } from './manifest.js';
import { isDigest, type Descriptor } from './oci.js';
import type { BlobSource, ContentStore, IngestResult, PushOptions, PushResult, TagEntry } from './store.js';

const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;

/**
 * A content store in memory, for tests (oras-go's content/memory plays the same part): digests
 * and sizes are verified on the way in as the real stores do, a manifest pushed with a
 * `subject` is listed under that subject's referrers, and tags are a map. Beyond the
 * ContentStore contract it lets a test shape what a broken or hostile store would hold:
 * `delete` drops a blob (a GC'd or never-copied child), `setReferrers` replaces a subject's
 * listing verbatim (a stale fallback index, a lying registry). Memory grows with content:
 * never use it for models.
 */
export class MemoryStore implements ContentStore {
  readonly location: string;
  private readonly content = new Map<string, { desc: Descriptor; bytes: Buffer }>();
  private readonly tagged = new Map<string, string>();
  /** subject digest -> its referrers listing, in push order. */
  private readonly bySubject = new Map<string, Descriptor[]>();

  constructor(location = 'memory') {
    this.location = location;
  }

  private check(desc: Descriptor): void {
    if (typeof desc.digest !== 'string' || !isDigest(desc.digest))
      throw new ModelshipError('INVALID', `malformed digest ${JSON.stringify(desc.digest)}`);
    if (!Number.isSafeInteger(desc.size) || desc.size < 0)
      throw new ModelshipError('INVALID', `descriptor ${desc.digest} has an invalid size ${String(desc.size)}`);
  }

  private get(desc: Descriptor): Buffer {
    this.check(desc);
    const held = this.content.get(desc.digest);
    if (!held)
      throw new ModelshipError('NOT_FOUND', `blob ${desc.digest} not found in ${this.location}`, {
        hint: 'push it first',
      });
    if (held.bytes.length !== desc.size)
      throw new ModelshipError('INVALID', `blob ${desc.digest} is ${held.bytes.length} bytes, expected ${desc.size}`);
    return held.bytes;
  }

  async exists(desc: Descriptor): Promise<boolean> {
    this.check(desc);
    return this.content.get(desc.digest)?.bytes.length === desc.size;
  }

  async fetch(desc: Descriptor): Promise<Readable> {
    return Readable.from([this.get(desc)]);
  }

  async fetchBytes(desc: Descriptor, maxBytes: number = DEFAULT_MAX_BYTES): Promise<Buffer> {
    this.check(desc);
    if (desc.size > maxBytes)
      throw new ModelshipError('INVALID', `blob ${desc.digest} is ${desc.size} bytes, over the ${maxBytes}-byte limit`);
    return this.get(desc);
  }

  async push(desc: Descriptor, source: BlobSource | Buffer, options: PushOptions = {}): Promise<PushResult> {
    this.check(desc);
    const present = await this.exists(desc);
    let bytes = this.content.get(desc.digest)?.bytes;
    if (!present) {
      bytes = Buffer.isBuffer(source) ? source : await readAll(await source.open());
      const got = sha256Digest(bytes);
      if (got !== desc.digest || bytes.length !== desc.size)
        throw new ModelshipError(
          'INVALID',
          `content pushed as ${desc.digest} (${desc.size} bytes) is ${got} (${bytes.length} bytes)`,
        );
      this.content.set(desc.digest, { desc: plain(desc), bytes });
      options.onProgress?.(bytes.length);
    }
    if (isManifestMediaType(desc.mediaType)) this.indexReferrer(desc, bytes!);
    return { uploaded: !present };
  }

  async ingest(mediaType: string, stream: Readable, options: PushOptions = {}): Promise<IngestResult> {
    const bytes = await readAll(stream);
    const descriptor: Descriptor = { mediaType, digest: sha256Digest(bytes), size: bytes.length };
    return { descriptor, ...(await this.push(descriptor, bytes, options)) };
  }

  private indexReferrer(desc: Descriptor, bytes: Buffer): void {
    const summary = summarizeManifest(bytes);
    const subject = summary?.subject;
    if (!summary || !subject || !isDigest(subject.digest)) return;
    let list = this.bySubject.get(subject.digest);
    if (!list) this.bySubject.set(subject.digest, (list = []));
    if (!list.some((d) => d.digest === desc.digest)) list.push(referrerEntry(desc, summary));
  }

  async resolve(reference: string): Promise<Descriptor> {
    const digest = isDigest(reference) ? reference : this.tagged.get(reference);
    const held = digest === undefined ? undefined : this.content.get(digest);
    if (!held || !isManifestMediaType(held.desc.mediaType))
      throw new ModelshipError('NOT_FOUND', `manifest ${reference} not found in ${this.location}`, {
        hint: 'push it first',
      });
    return { ...held.desc };
  }

  async tag(desc: Descriptor, tag: string): Promise<void> {
    if (!(await this.exists(desc)) || !isManifestMediaType(desc.mediaType))
      throw new ModelshipError(
        'NOT_FOUND',
        `cannot tag ${desc.digest} as "${tag}": no such manifest in ${this.location}`,
      );
    this.tagged.set(tag, desc.digest);
  }

  async listTags(): Promise<TagEntry[]> {
    const out: TagEntry[] = [];
    for (const [tag, digest] of this.tagged) {
      const held = this.content.get(digest);
      out.push(held ? { tag, descriptor: { ...held.desc } } : { tag });
    }
    return out;
  }

  async referrers(desc: Descriptor, artifactType?: string): Promise<Descriptor[]> {
    this.check(desc);
    const list = (this.bySubject.get(desc.digest) ?? []).map((d) => ({ ...d }));
    return artifactType === undefined ? list : list.filter((d) => d.artifactType === artifactType);
  }

  async close(): Promise<void> {}

  /** Forgets a blob or manifest (what a GC or an interrupted copy leaves); true when it was held. */
  delete(desc: Pick<Descriptor, 'digest'>): boolean {
    return this.content.delete(desc.digest);
  }

  /** Replaces the referrers listing of `subject` verbatim: what a stale or hostile listing says. */
  setReferrers(subject: Pick<Descriptor, 'digest'>, list: Descriptor[]): void {
    this.bySubject.set(
      subject.digest,
      list.map((d) => ({ ...d })),
    );
  }
}

function plain(desc: Descriptor): Descriptor {
  const d: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
  if (desc.artifactType) d.artifactType = desc.artifactType;
  return d;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}
