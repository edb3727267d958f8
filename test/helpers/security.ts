import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OciLayoutStore, attestArtifact, pack, signArtifact, signingSetup, type ScanPredicate } from '@modelship/core';
import { copySample } from './tmp.js';

/** A pickle whose unpickling would run `os.system('id')`, written by CPython (never unpickled here). */
export const EVIL_PICKLE: Buffer = execFileSync('python3', [
  '-c',
  `import pickle, os, sys
class evil:
    def __reduce__(self): return (os.system, ('id',))
sys.stdout.buffer.write(pickle.dumps({'w': evil()}, protocol=2))`,
]);

/** A P-256 key pair as PEM. */
export function keyPairPem(): { key: string; pub: string } {
  const kp = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    key: kp.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    pub: kp.publicKey.export({ type: 'spki', format: 'pem' }) as string,
  };
}

/**
 * The sample model (plus `extra` files) packed with the security scan into a fresh layout,
 * signed and attested (scan from the pack, CycloneDX and SPDX SBOMs) with `key`, in process.
 */
export async function packScannedAndAttested(
  workDir: string,
  name: string,
  key: string,
  extra: Record<string, Buffer | string> = {},
): Promise<{ layout: string; ref: string; digest: string; scan: ScanPredicate }> {
  const dir = copySample(workDir, name);
  for (const [file, content] of Object.entries(extra)) writeFileSync(join(dir, file), content);
  const layout = join(workDir, `${name}-oci`);
  const store = await OciLayoutStore.open(layout, { create: true });
  try {
    const packed = await pack({ dir, target: store, tags: ['v1'], cache: null, securityScan: true });
    const setup = await signingSetup({ key: { pem: key }, tlog: false });
    const digest = packed.descriptor.digest;
    const base = `oci:${layout}`;
    await signArtifact({ store, reference: digest, name: base, setup });
    await attestArtifact({
      store,
      reference: digest,
      name: base,
      setup,
      kinds: ['scan', 'sbom'],
      sbomFormats: ['cyclonedx', 'spdx'],
      scanReport: { predicate: packed.securityScan, source: 'the pack' },
    });
    return { layout, ref: `${base}@${digest}`, digest, scan: packed.securityScan! };
  } finally {
    await store.close();
  }
}
