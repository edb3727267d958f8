import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OciLayoutStore, pack, signArtifact, signingSetup } from '@modelship/core';
import { copySample } from '../../../test/helpers/tmp.js';

export interface SignedLayout {
  layout: string;
  reference: string;
  digest: string;
  /** A policy trusting the key that signed, and one trusting another key. */
  policy: string;
  otherPolicy: string;
  keyPem: string;
}

function policyFor(path: string, pubPath: string): string {
  writeFileSync(path, `version: 1\nsigners:\n  - key: { path: ${JSON.stringify(pubPath)} }\n`);
  return path;
}

/** The sample model packed into a fresh layout under `dir`, tagged v1 and key-signed (no tlog). */
export async function signedLayout(dir: string, name = 'layout'): Promise<SignedLayout> {
  const signer = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const keyPem = signer.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const pub = join(dir, `${name}-signer.pub`);
  const otherPub = join(dir, `${name}-other.pub`);
  writeFileSync(pub, signer.publicKey.export({ type: 'spki', format: 'pem' }) as string);
  writeFileSync(otherPub, other.publicKey.export({ type: 'spki', format: 'pem' }) as string);

  const layout = join(dir, name);
  const store = await OciLayoutStore.open(layout, { create: true });
  try {
    const packed = await pack({ dir: copySample(dir, `${name}-model`), target: store, tags: ['v1'] });
    const setup = await signingSetup({ key: { pem: keyPem }, tlog: false });
    await signArtifact({ store, reference: 'v1', name: `oci:${name}`, setup });
    return {
      layout,
      reference: `oci:${layout}:v1`,
      digest: packed.descriptor.digest,
      policy: policyFor(join(dir, `${name}-policy.yaml`), pub),
      otherPolicy: policyFor(join(dir, `${name}-other-policy.yaml`), otherPub),
      keyPem,
    };
  } finally {
    await store.close();
  }
}
