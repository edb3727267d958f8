/**
 * A local STAND-IN for a TUF repository such as Sigstore's tuf-repo-cdn.sigstore.dev, for tests
 * only. The metadata is real TUF (spec 1.0): root, targets, snapshot and timestamp built with
 * @tufjs/models and signed with ed25519 keys (one per role), served by node:http on 127.0.0.1
 * in the consistent-snapshot layout the Sigstore CDN uses: `N.root.json`, `timestamp.json`,
 * `N.snapshot.json`, `N.targets.json`, `targets/<sha256>.<name>`. Any TUF client (tuf-js,
 * python-tuf, go-tuf) can update from it. What it is not: a CDN, a repository with delegations
 * or with rotated roots.
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Key, MetaFile, Metadata, Root, Signature, Snapshot, TargetFile, Targets, Timestamp } from '@tufjs/models';

const SPEC_VERSION = '1.0.31';
const ROLES = ['root', 'targets', 'snapshot', 'timestamp'] as const;
type RoleName = (typeof ROLES)[number];

interface RoleKey {
  key: Key;
  privateKey: KeyObject;
}

function ed25519Key(): RoleKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  // TUF ed25519 keyval is the raw 32-byte public key in hex: the tail of the DER SPKI.
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('hex');
  // The key ID is SHA-256 of the canonical JSON key (keys sorted, no spaces), as the spec says.
  const canonical = `{"keytype":"ed25519","keyval":{"public":"${raw}"},"scheme":"ed25519"}`;
  const keyID = createHash('sha256').update(canonical).digest('hex');
  return {
    key: new Key({ keyID, keyType: 'ed25519', scheme: 'ed25519', keyVal: { public: raw } }),
    privateKey,
  };
}

function signWith(k: RoleKey): (data: Buffer) => Signature {
  return (data) => new Signature({ keyID: k.key.keyID, sig: sign(null, data, k.privateKey).toString('hex') });
}

const inDays = (days: number): string => new Date(Date.now() + days * 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z');

export interface PublishOptions {
  /** Target files by name (replaces the previous set). */
  targets?: Record<string, string | Buffer>;
  /** Expiry of the timestamp metadata, in days from now (negative: already expired). Default 1. */
  timestampExpiresDays?: number;
}

export interface TufRepoStandin {
  /** Base URL (the mirror URL a client is given). */
  url: string;
  /** `1.root.json` as served: the initial root a client pins (`--tuf-root`). */
  initialRoot: string;
  /** Paths requested since start (or the last `requests.length = 0`). */
  requests: string[];
  /** Versions of the metadata currently served. */
  versions: Record<RoleName, number>;
  /** Re-signs targets, snapshot and timestamp with bumped versions (a new repository state). */
  publish(options?: PublishOptions): void;
  /** Serves `body` at `path` instead of what the repository holds (a tampering mirror or MITM). */
  override(path: string, body: string | Buffer): void;
  /** Drops every override. */
  clearOverrides(): void;
  /** Path of the target file `name` as served (`targets/<sha256>.<name>`). */
  targetPath(name: string): string;
  /** The served bytes of `path`. */
  file(path: string): Buffer | undefined;
  /** Serves the same files again later (for rollback tests). */
  snapshotFiles(): Map<string, Buffer>;
  restoreFiles(files: Map<string, Buffer>): void;
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
}

/** Starts a TUF repository stand-in on a free 127.0.0.1 port holding `targets`. */
export async function startTufRepo(targets: Record<string, string | Buffer>): Promise<TufRepoStandin> {
  const keys = Object.fromEntries(ROLES.map((r) => [r, ed25519Key()])) as Record<RoleName, RoleKey>;
  let files = new Map<string, Buffer>();
  const overrides = new Map<string, Buffer>();
  const versions: Record<RoleName, number> = { root: 1, targets: 0, snapshot: 0, timestamp: 0 };
  const targetPaths = new Map<string, string>();

  const serialize = <T extends Root | Targets | Snapshot | Timestamp>(md: Metadata<T>): Buffer =>
    Buffer.from(JSON.stringify(md.toJSON()));

  // Role is not exported by @tufjs/models, so the root goes through its JSON form.
  const root = new Metadata(
    Root.fromJSON({
      _type: 'root',
      spec_version: SPEC_VERSION,
      version: 1,
      expires: inDays(365),
      consistent_snapshot: true,
      keys: Object.fromEntries(ROLES.map((r) => [keys[r].key.keyID, keys[r].key.toJSON()])),
      roles: Object.fromEntries(ROLES.map((r) => [r, { keyids: [keys[r].key.keyID], threshold: 1 }])),
    }),
  );
  root.sign(signWith(keys.root));
  const initialRoot = serialize(root);
  files.set('1.root.json', initialRoot);

  let current: Record<string, Buffer> = {};
  const publish = (options: PublishOptions = {}): void => {
    if (options.targets)
      current = Object.fromEntries(Object.entries(options.targets).map(([k, v]) => [k, Buffer.from(v)]));
    versions.targets += 1;
    versions.snapshot += 1;
    versions.timestamp += 1;
    const t = new Targets({ version: versions.targets, specVersion: SPEC_VERSION, expires: inDays(30) });
    targetPaths.clear();
    for (const [name, body] of Object.entries(current)) {
      const sha256 = createHash('sha256').update(body).digest('hex');
      t.addTarget(new TargetFile({ path: name, length: body.length, hashes: { sha256 } }));
      const p = `targets/${sha256}.${name}`;
      targetPaths.set(name, p);
      files.set(p, body);
    }
    const targetsMd = new Metadata(t);
    targetsMd.sign(signWith(keys.targets));
    files.set(`${versions.targets}.targets.json`, serialize(targetsMd));

    const snap = new Metadata(
      new Snapshot({
        version: versions.snapshot,
        specVersion: SPEC_VERSION,
        expires: inDays(7),
        meta: { 'targets.json': new MetaFile({ version: versions.targets }) },
      }),
    );
    snap.sign(signWith(keys.snapshot));
    const snapBytes = serialize(snap);
    files.set(`${versions.snapshot}.snapshot.json`, snapBytes);

    const ts = new Metadata(
      new Timestamp({
        version: versions.timestamp,
        specVersion: SPEC_VERSION,
        expires: inDays(options.timestampExpiresDays ?? 1),
        snapshotMeta: new MetaFile({
          version: versions.snapshot,
          length: snapBytes.length,
          hashes: { sha256: createHash('sha256').update(snapBytes).digest('hex') },
        }),
      }),
    );
    ts.sign(signWith(keys.timestamp));
    files.set('timestamp.json', serialize(ts));
  };
  publish({ targets });

  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!.replace(/^\/+/, ''));
    requests.push(path);
    const body = overrides.get(path) ?? files.get(path);
    if (req.method !== 'GET' || !body) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    res.end(body);
  });
  let port = 0;
  const start = async (): Promise<void> => {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    port = (server.address() as AddressInfo).port;
  };
  await start();

  return {
    url: `http://127.0.0.1:${port}`,
    initialRoot: initialRoot.toString('utf8'),
    requests,
    versions,
    publish,
    override: (path, body) => overrides.set(path, Buffer.from(body)),
    clearOverrides: () => overrides.clear(),
    targetPath: (name) => {
      const p = targetPaths.get(name);
      if (!p) throw new Error(`no target ${name}`);
      return p;
    },
    file: (path) => overrides.get(path) ?? files.get(path),
    snapshotFiles: () => new Map(files),
    restoreFiles: (saved) => {
      files = new Map(saved);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
    start,
  };
}
