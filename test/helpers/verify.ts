import { createPublicKey } from 'node:crypto';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import {
  OciLayoutStore,
  discoverBundles,
  parseStatement,
  type InTotoStatement,
  type SerializedBundleJson,
} from '@modelship/core';

/**
 * Verifies a key-signed bundle with @sigstore/verify directly (independently of modelship's
 * own verify module) and returns the statement it carries; throws when it does not verify.
 */
export function verifyWithKey(bundleJson: SerializedBundleJson, publicPem: string): InTotoStatement {
  const key = createPublicKey(publicPem);
  const root = TrustedRoot.fromJSON({
    mediaType: 'application/vnd.dev.sigstore.trustedroot.v0.2+json',
    tlogs: [],
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities: [],
  });
  const tm = toTrustMaterial(root, () => ({ publicKey: key, validFor: () => true }));
  new Verifier(tm, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(
    toSignedEntity(bundleFromJSON(bundleJson)),
  );
  return parseStatement(Buffer.from(bundleJson.dsseEnvelope!.payload, 'base64'));
}

/** The bundles attached to `digest` in the OCI layout at `layout` (discovered as verify does). */
export async function layoutBundles(layout: string, digest: string): Promise<SerializedBundleJson[]> {
  const store = await OciLayoutStore.open(layout);
  try {
    return (await discoverBundles(store, await store.resolve(digest))).map((b) => b.bundle as SerializedBundleJson);
  } finally {
    await store.close();
  }
}
