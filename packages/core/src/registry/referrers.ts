import { setTimeout as sleep } from 'node:timers/promises';
import { sha256Digest } from '../digest.js';
import { ModelshipError } from '../errors.js';
import { OCI_INDEX } from '../mediatypes.js';
import { isDigest, referrersFallbackTag, type Descriptor, type Index } from '../oci.js';

function emptyReferrersIndex(): Index {
  return { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
}

/**
 * Validates what a fallback tag holds. Some registries (GitLab) resolve `sha256-<hex>` as the
 * digest itself, handing back the subject: that must not be read or overwritten as an index.
 */
export function parseFallbackIndex(bytes: Buffer, subjectDigest: string, where: string): Index {
  const bad = (why: string): ModelshipError =>
    new ModelshipError('INVALID', `${where} is not a referrers index (${why})`, {
      hint: 'the registry resolves the fallback tag to something else; it cannot hold referrers without the referrers API',
    });
  if (sha256Digest(bytes) === subjectDigest) throw bad('it is the subject itself');
  let j: Partial<Index>;
  try {
    j = JSON.parse(bytes.toString('utf8')) as Partial<Index>;
  } catch {
    throw bad('not JSON');
  }
  if (!j || typeof j !== 'object' || Array.isArray(j)) throw bad('not a JSON object');
  if (j.mediaType !== OCI_INDEX) throw bad(`mediaType ${String(j.mediaType)}`);
  if (j.subject) throw bad('it has a subject');
  if (!Array.isArray(j.manifests)) throw bad('no manifests list');
  return { ...j, schemaVersion: 2, mediaType: OCI_INDEX, manifests: j.manifests } as Index;
}

export interface FallbackIndexIO {
  /** The manifest at a tag, or undefined on 404. */
  get(tag: string): Promise<Buffer | undefined>;
  put(tag: string, bytes: Buffer, mediaType: string): Promise<void>;
  /** `host/repo` for messages and as the lock namespace. */
  location: string;
}

// One process-wide queue per (repository, subject): two stores in one process never lose each
// other's entries. Separate processes can still race (If-Match is ignored by registries), which
// the re-read below narrows but cannot close.
const queues = new Map<string, Promise<unknown>>();

function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = queues.get(key) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.catch(() => undefined);
  queues.set(key, tail);
  void tail.then(() => {
    if (queues.get(key) === tail) queues.delete(key);
  });
  return run;
}

const MAX_ROUNDS = 5;

/** Entries waiting for the next write of one fallback index, and that write. */
const batches = new Map<string, { entries: Descriptor[]; done: Promise<void> }>();

/**
 * Adds `entry` to the fallback index of `subjectDigest` (distribution-spec 1.1 "Pushing
 * Manifests with Subject" steps 1–6), keeping every existing entry, then re-reads to make
 * sure another writer didn't overwrite us in between and re-applies if it did. Entries that
 * arrive while a write of the same index is in flight are written together in the next one:
 * each write ends with a pause to let another process's write show, so one write for several
 * referrers (sign + attest + a promotion copying them in parallel) saves those pauses.
 */
export function addToFallbackIndex(io: FallbackIndexIO, subjectDigest: string, entry: Descriptor): Promise<void> {
  const key = `${io.location}@${subjectDigest}`;
  let batch = batches.get(key);
  if (!batch) {
    const entries: Descriptor[] = [];
    const done = serialized(key, () =>
      writeEntries(io, subjectDigest, entries, () => {
        // From the first write on, newcomers start the next batch (queued behind this one).
        if (batches.get(key)?.entries === entries) batches.delete(key);
      }),
    );
    batch = { entries, done };
    batches.set(key, batch);
  }
  if (!batch.entries.some((e) => e.digest === entry.digest)) batch.entries.push(entry);
  return batch.done;
}

async function writeEntries(
  io: FallbackIndexIO,
  subjectDigest: string,
  /** Still growing until `close` is called: entries that arrive during the first read join. */
  entries: Descriptor[],
  close: () => void,
): Promise<void> {
  const tag = referrersFallbackTag(subjectDigest);
  const where = `${io.location}:${tag}`;
  let missing: Descriptor[] = entries;
  for (let round = 0; round <= MAX_ROUNDS; round++) {
    // Present on the first read: pushed before (idempotent re-run). Later: our write survived.
    const bytes = await io.get(tag);
    const index = bytes ? parseFallbackIndex(bytes, subjectDigest, where) : emptyReferrersIndex();
    const listed = new Set(index.manifests.map((m) => (m as Partial<Descriptor> | null)?.digest));
    missing = entries.filter((e) => !listed.has(e.digest));
    if (missing.length === 0) {
      close();
      return;
    }
    if (round === MAX_ROUNDS) break;
    close();
    // An index over the cap would be refused by every later read: refuse to write it.
    checkReferrerCount(index.manifests.length + missing.length, `the referrers index ${where}`);
    index.manifests.push(...missing);
    await io.put(tag, Buffer.from(JSON.stringify(index)), OCI_INDEX);
    // Give a concurrent writer in another process the chance to show up before we re-check.
    await sleep(50 + Math.random() * 150);
  }
  throw new ModelshipError(
    'CONFLICT',
    `could not add ${missing.map((m) => m.digest).join(', ')} to the referrers index ${where}: other writers kept replacing it`,
    {
      hint: 'serialize pushes of referrers to the same subject (e.g. a CI concurrency group) and re-run',
    },
  );
}

/** Keeps descriptors of one artifactType (what registries do server-side with `?artifactType=`). */
export function filterByArtifactType(list: Descriptor[], artifactType: string | undefined): Descriptor[] {
  return artifactType ? list.filter((d) => d.artifactType === artifactType) : list;
}

/**
 * Most referrers read for one subject, in any store, across all pages of a listing. Each entry
 * costs verification up to two fetches (the referrer manifest and its bundle), so without a cap
 * one 4 MiB page of ~20,000 tiny descriptors would have a hostile registry steer tens of
 * thousands of requests. Real subjects carry a handful (a signature per signer, a few
 * attestations); 1,000 is the limit cosign puts on signatures per artifact, and leaves two
 * orders of magnitude of room (docs/reliability.md, "Referrers cap").
 */
export const MAX_REFERRERS = 1000;
/** Most pages of a paginated referrers listing: MAX_REFERRERS at the ORAS draft's default page size of 10. */
export const MAX_REFERRER_PAGES = 100;

function tooMany(where: string, what: string): ModelshipError {
  return new ModelshipError('INVALID', `${where} ${what}`, {
    hint: `an artifact with that many referrers is broken or hostile; remove stale referrers (old signatures, attestations) from the store`,
  });
}

/** Refuses a referrers list of more than MAX_REFERRERS entries (INVALID). */
export function checkReferrerCount(count: number, where: string): void {
  if (count > MAX_REFERRERS) throw tooMany(where, `lists more than ${MAX_REFERRERS} referrers (${count} so far)`);
}

/** Refuses a paginated listing that goes on past MAX_REFERRER_PAGES pages (INVALID). */
export function checkReferrerPages(pages: number, where: string): void {
  if (pages > MAX_REFERRER_PAGES) throw tooMany(where, `goes on for more than ${MAX_REFERRER_PAGES} pages`);
}

/**
 * The entries of a referrers list that can be followed. A registry or a fallback tag is
 * untrusted input: an entry whose digest is not `sha256:<hex>` would otherwise end up in a
 * request path or a file name. The list is counted (malformed entries too, and `before`, the
 * entries of earlier pages) against MAX_REFERRERS before anything is looked at.
 */
export function wellFormedReferrers(list: unknown, where = 'the referrers list', before = 0): Descriptor[] {
  if (!Array.isArray(list)) return [];
  checkReferrerCount(before + list.length, where);
  return list.filter(
    (d: unknown): d is Descriptor =>
      !!d &&
      typeof d === 'object' &&
      typeof (d as Descriptor).mediaType === 'string' &&
      typeof (d as Descriptor).digest === 'string' &&
      isDigest((d as Descriptor).digest) &&
      Number.isSafeInteger((d as Descriptor).size) &&
      (d as Descriptor).size >= 0,
  );
}

/** The `rel="next"` target of an RFC 5988 Link header. */
export function nextLink(values: readonly string[]): string | undefined {
  for (const v of values)
    for (const part of v.split(/,(?=\s*<)/)) {
      const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
      if (m && /(?:^|;)\s*rel="?next"?\s*(?:;|$)/i.test(m[2]!)) return m[1];
    }
  return undefined;
}
