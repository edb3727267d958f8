// Security review, TOCTOU between verify and promote: the source tag is moved to an unsigned
// artifact the moment promote has resolved it. Promote must copy (and tag) exactly the digest it
// verified, never re-resolve the tag.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryStore, OciLayoutStore, copyGraph, parsePolicy, promoteArtifact, type Descriptor } from '@modelship/core';
import { packSample, runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('promote copies exactly the digest it verified', () => {
  const layout = join(tmp.dir, 'staging');
  let signed: string;
  let unsigned: string;
  const pub = join(tmp.dir, 'k.pub');
  beforeAll(async () => {
    const kp = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const key = join(tmp.dir, 'k.key');
    writeFileSync(key, kp.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(pub, kp.publicKey.export({ type: 'spki', format: 'pem' }));
    signed = await packSample(tmp.dir, `oci:${layout}:v1`);
    expect((await runCli(['sign', `oci:${layout}@${signed}`, '--key', key, '--no-tlog'])).status).toBe(0);
    unsigned = await packSample(tmp.dir, `oci:${layout}:evil`, ['--name', 'evil-model']);
    expect(unsigned).not.toBe(signed);
  });

  it('a tag moved right after it was resolved does not change what is promoted', async () => {
    const resolved: string[] = [];
    // The source as an attacker with push access sees it: the first resolution of v1 gets the
    // signed model, and right then v1 is re-pointed at the unsigned one.
    class RacingStore extends MemoryStore {
      override async resolve(ref: string): Promise<Descriptor> {
        const d = await super.resolve(ref);
        resolved.push(`${ref} -> ${d.digest}`);
        if (ref === 'v1') await this.tag(await super.resolve('evil'), 'v1');
        return d;
      }
    }
    const racing = new RacingStore(`oci:${layout}`);
    const staged = await OciLayoutStore.open(layout);
    for (const t of ['v1', 'evil']) await copyGraph(staged, racing, await staged.resolve(t), { tags: [t] });
    await staged.close();
    const policy = parsePolicy(`version: 1\nsigners:\n  - key: { path: ${pub} }\n`, 'policy.yaml');
    const dest = join(tmp.dir, 'prod');
    const result = await promoteArtifact({
      source: { name: `oci:${layout}`, store: racing, reference: 'v1' },
      destination: { name: `oci:${dest}`, store: () => OciLayoutStore.open(dest, { create: true }) },
      tags: ['v1'],
      policy,
    });
    // Promote resolved v1 once, and the tag really moved.
    expect(resolved.filter((r) => r.startsWith('v1 '))).toEqual([`v1 -> ${signed}`]);
    expect((await racing.resolve('v1')).digest).toBe(unsigned);
    expect(result.descriptor.digest).toBe(signed);
    const prod = await OciLayoutStore.open(dest);
    expect((await prod.resolve('v1')).digest).toBe(signed);
    expect(
      await prod.exists({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: unsigned, size: 1 }),
    ).toBe(false);
    await prod.close();
  });
});
