import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { sha256Digest } from './digest.js';
import { ModelshipError } from './errors.js';
import { isManifestMediaType, summarizeManifest } from './manifest.js';
import type { Descriptor } from './oci.js';
import type {
  BlobSource,
  ContentStore,
  DryRunLog,
  DryRunWrite,
  IngestResult,
  LocalBlobFiles,
  MountSource,
  PushOptions,
  PushResult,
  ReadOnlyStore,
} from './store.js';

/**
 * A ContentStore that writes nothing (`--dry-run`): each push, ingest and tag is logged with
 * whether the real target already has the content, and reads go to the real target. An
 * ingest still reads its stream once, to learn the digest it would store; a push with a known
 * descriptor reads nothing. Pack and copy run unchanged against it, so a dry run reports what
 * the real run would write, by the same code. Only manifests are kept (small: a later read
 * of one finds it); blob bytes are never held. Its `dryRun` member is the store capability
 * that tells a caller nothing is written (promote then signs no record).
 */
export class DryRunStore implements ContentStore {
  readonly location: string;
  readonly mountSource?: MountSource;
  readonly localFiles?: LocalBlobFiles;
  readonly checkLayerSize?: (layer: string, size: number) => void;
  readonly dryRun: DryRunLog = { writes: [], tags: [] };
  private readonly planned = new Map<string, Buffer | undefined>();

  /** `target`: the store a real run would write to; undefined when it does not exist yet (a new layout). */
  constructor(
    private readonly target: ContentStore | undefined,
    location: string,
  ) {
    this.location = location;
    if (target?.mountSource) this.mountSource = target.mountSource;
    // The layout's directory still matters (pack never packs its own output), and hashing
    // files in the worker pool before a "link" still saves reading them twice.
    if (target?.localFiles) this.localFiles = target.localFiles;
    // A dry run says what a real one would refuse.
    if (target?.checkLayerSize) this.checkLayerSize = target.checkLayerSize.bind(target);
  }

  async exists(desc: Descriptor): Promise<boolean> {
    return this.planned.has(desc.digest) || ((await this.target?.exists(desc)) ?? false);
  }

  async fetch(desc: Descriptor): Promise<Readable> {
    return this.readTarget().fetch(desc);
  }

  async fetchBytes(desc: Descriptor, maxBytes?: number): Promise<Buffer> {
    const held = this.planned.get(desc.digest);
    if (held) return held;
    return this.readTarget().fetchBytes(desc, maxBytes);
  }

  async resolve(reference: string): Promise<Descriptor> {
    const tagged = this.dryRun.tags.find((t) => t.tag === reference);
    if (tagged) return tagged.descriptor;
    return this.readTarget().resolve(reference);
  }

  async referrers(desc: Descriptor, artifactType?: string): Promise<Descriptor[]> {
    return (await this.target?.referrers(desc, artifactType)) ?? [];
  }

  private readTarget(): ReadOnlyStore {
    if (!this.target)
      throw new ModelshipError('NOT_FOUND', `${this.location} does not exist yet (dry run: nothing was written)`);
    return this.target;
  }

  private async log(desc: Descriptor, bytes: Buffer | undefined, options: PushOptions = {}): Promise<PushResult> {
    const present = await this.exists(desc);
    const manifest = isManifestMediaType(desc.mediaType);
    const subject = bytes && manifest ? summarizeManifest(bytes)?.subject : undefined;
    const entry: DryRunWrite = {
      descriptor: { mediaType: desc.mediaType, digest: desc.digest, size: desc.size },
      kind: subject ? 'referrer' : manifest ? 'manifest' : 'blob',
      present,
    };
    if (!present && options.mountFrom?.length) entry.mountFrom = [...options.mountFrom];
    if (subject) entry.subject = subject.digest;
    if (!this.dryRun.writes.some((w) => w.descriptor.digest === desc.digest)) this.dryRun.writes.push(entry);
    if (!present) this.planned.set(desc.digest, manifest ? bytes : undefined);
    return { uploaded: !present };
  }

  async push(desc: Descriptor, source: BlobSource | Buffer, options?: PushOptions): Promise<PushResult> {
    if (Buffer.isBuffer(source)) {
      if (source.length !== desc.size || sha256Digest(source) !== desc.digest)
        throw new ModelshipError('INVALID', `content for ${desc.digest} does not match its descriptor`);
      return this.log(desc, source, options);
    }
    return this.log(desc, undefined, options);
  }

  async ingest(mediaType: string, stream: Readable, options?: PushOptions): Promise<IngestResult> {
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of stream) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    if (options?.size !== undefined && size !== options.size)
      throw new ModelshipError('CONFLICT', `the content was ${size} bytes, ${options.size} were expected`, {
        hint: 'wait until the file is fully written, then re-run',
      });
    const descriptor: Descriptor = { mediaType, digest: `sha256:${hash.digest('hex')}`, size };
    return { descriptor, ...(await this.log(descriptor, undefined, options)) };
  }

  async tag(desc: Descriptor, tag: string): Promise<void> {
    // What the tag names today, if anything: a dry run says whether it would move.
    const current = await this.target?.resolve(tag).then(
      (d) => d.digest,
      (e: unknown) => {
        if (e instanceof ModelshipError && e.code === 'NOT_FOUND') return undefined;
        throw e;
      },
    );
    this.dryRun.tags.push({
      tag,
      descriptor: { mediaType: desc.mediaType, digest: desc.digest, size: desc.size },
      ...(current ? { current } : {}),
    });
  }

  async close(): Promise<void> {
    await this.target?.close();
  }
}
