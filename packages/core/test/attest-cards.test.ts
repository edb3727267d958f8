// Model and data cards attached as a card referrer: the MOF evaluation counts them like the
// doc layers they stand in for, a data card is derived from dataset cards, and a doc layer of
// the same name wins over a card.
import { afterAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { attestArtifact } from '../src/attest/attest.js';
import { CARDS_ARTIFACT_TYPE, DATA_CARD_NAME, MODEL_CARD_NAME, deriveDataCard } from '../src/attest/cards.js';
import { collectArtifactFacts } from '../src/attest/facts.js';
import type { MofPredicate } from '../src/attest/mof/index.js';
import { MemoryStore } from '../src/memory-store.js';
import { pack } from '../src/pack.js';
import { signingSetup } from '../src/sign/setup.js';

const SAMPLE = fileURLToPath(new URL('../../../examples/sample-model', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'ms-cards-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const DATASET_CARD = `---
pretty_name: Synthetic None
license: cc-by-4.0
language: [en]
size_categories: [n<1K]
task_categories: [text-generation]
source_datasets: [original]
---
# Dataset Card for Synthetic None

## Dataset Summary

Random tokens, generated for tests. Nothing real.

## Other
Details.
`;

const pem = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' });

async function packed(withReadme: boolean) {
  const dir = join(tmp, `m-${withReadme}-${Math.random().toString(36).slice(2, 6)}`);
  cpSync(SAMPLE, dir, { recursive: true });
  const readme = readFileSync(join(dir, 'README.md'), 'utf8');
  if (!withReadme) rmSync(join(dir, 'README.md'));
  const store = new MemoryStore();
  const r = await pack({ dir, target: store, cache: null });
  return { store, digest: r.descriptor.digest, readme };
}

const component = (p: MofPredicate, name: string) => p.components.find((c) => c.name === name)!;

describe('card referrers and MOF', () => {
  it('derives a data card from dataset cards: name, licence, languages, size, tasks, sources, summary', () => {
    const card = deriveDataCard([{ source: 'datasets/synthetic/README.md', text: DATASET_CARD }]);
    expect(card).toMatch(/^# Data card\n/);
    expect(card).toContain('### Synthetic None');
    expect(card).toContain('- Licence: cc-by-4.0');
    expect(card).toContain('- Languages: en');
    expect(card).toContain('- Size: n<1K');
    expect(card).toContain('- Tasks: text-generation');
    expect(card).toContain('Random tokens, generated for tests. Nothing real.');
    expect(card).not.toContain('Details.');
  });

  it('an artifact packed without README.md gets its model card and a data card as a referrer, and MOF counts both', async () => {
    const { store, digest, readme } = await packed(false);
    const setup = await signingSetup({ key: { pem: pem as string }, tlog: false });
    const name = 'oci:/models/tiny';
    const before = await attestArtifact({ store, reference: digest, name, setup, kinds: ['mof'] });
    const mofBefore = before.attestations[0]!.predicate as unknown as MofPredicate;
    expect(component(mofBefore, 'Model card').status).toBe('missing');
    expect(component(mofBefore, 'Data card').status).toBe('missing');

    const r = await attestArtifact({
      store,
      reference: digest,
      name,
      setup,
      kinds: ['mof'],
      cards: {
        modelCard: { source: 'README.md', text: readme },
        datasetCards: [{ source: 'ds.md', text: DATASET_CARD }],
      },
    });
    expect(r.cards?.names).toEqual([MODEL_CARD_NAME, DATA_CARD_NAME]);
    const mof = r.attestations[0]!.predicate as unknown as MofPredicate;
    const modelCard = component(mof, 'Model card');
    expect(modelCard).toMatchObject({ status: 'included', location: 'README.md' });
    expect(modelCard.evidence[0]).toMatchObject({ method: 'referrer-card', path: 'README.md' });
    const dataCard = component(mof, 'Data card');
    expect(dataCard.status).toBe('included');
    // The card's digest binds the MOF attestation to the card it counted.
    const referrer = (await store.referrers(await store.resolve(digest), CARDS_ARTIFACT_TYPE))[0]!;
    expect(referrer.digest).toBe(r.cards!.referrer.digest);
    const manifest = JSON.parse((await store.fetchBytes(referrer)).toString()) as { layers: { digest: string }[] };
    expect(dataCard.digests).toEqual([{ path: DATA_CARD_NAME, sha256: manifest.layers[1]!.digest.slice(7) }]);
    // The card's front matter feeds the release fields and licences as the README layer would.
    expect(mof.release.license?.distribution?.name).toBe('MIT');

    // Read back later (a new attest run, verify --model-dir, ...): the facts carry the cards.
    const facts = await collectArtifactFacts(store, await store.resolve(digest), name);
    expect(facts.cards?.map((c) => c.path)).toEqual([MODEL_CARD_NAME, DATA_CARD_NAME]);
    expect(facts.layers.some((l) => l.path === MODEL_CARD_NAME)).toBe(false);
  });

  it("an artifact's own README.md layer wins over a card of the same name", async () => {
    const { store, digest } = await packed(true);
    const setup = await signingSetup({ key: { pem: pem as string }, tlog: false });
    const r = await attestArtifact({
      store,
      reference: digest,
      name: 'oci:/models/tiny',
      setup,
      kinds: ['mof'],
      cards: { modelCard: { source: 'other.md', text: '---\nlicense: gpl-3.0\n---\n# other\n' } },
    });
    const mof = r.attestations[0]!.predicate as unknown as MofPredicate;
    expect(component(mof, 'Model card').evidence[0]!.method).toBe('readme');
    expect(mof.release.license?.distribution?.name).toBe('MIT');
  });
});
