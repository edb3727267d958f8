#!/usr/bin/env node
// The main job on a laptop, no server and no network: pack the bundled sample model into a
// local OCI layout, print what was made, then prove reproducibility by packing a copy with
// different mtimes and comparing digests, then attest, sign, verify and promote to a second
// layout that is verified again. Output goes under .modelship/main-job/ (deleted first).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync, readFileSync, rmSync, utimesSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';

const root = resolve(import.meta.dirname, '..');
const work = join(root, '.modelship', 'main-job');
const cli = join(root, 'packages', 'cli', 'bin', 'modelship.js');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

const run = (args, opts = {}) =>
  execFileSync(process.execPath, [cli, ...args], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    ...opts,
  });

const step = (title) => console.log(`\n== ${title}`);

step('pack examples/sample-model -> oci:.modelship/main-job/model-oci:v1');
const first = JSON.parse(
  run(['pack', 'examples/sample-model', '--output', join(work, 'model-oci') + ':v1', '--no-cache', '--json']),
);
for (const l of first.layers)
  console.log(`${l.kind.padEnd(14)} ${String(l.size).padStart(8)}  ${l.digest.slice(0, 19)}  ${l.path}`);
console.log(`reference: ${first.reference}\ndigest:    ${first.digest}`);

step('the manifest');
const layout = join(work, 'model-oci');
const manifest = JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', first.digest.slice(7)), 'utf8'));
console.log(`artifactType: ${manifest.artifactType}`);
console.log(`config:       ${manifest.config.mediaType} ${manifest.config.digest}`);
for (const l of manifest.layers)
  console.log(`layer:        ${l.mediaType.padEnd(48)} ${l.annotations['org.cncf.model.filepath']}`);
console.log(`config blob:  ${JSON.stringify(first.config)}`);

step('reproducible: two clones with different mtimes pack to the same digest');
// Outside this repository, so both see the same (absent) git revision.
const clones = mkdtempSync(join(tmpdir(), 'modelship-main-job-'));
const digests = [];
for (const [i, when] of [new Date('2001-02-03T04:05:06Z'), new Date()].entries()) {
  const copy = join(clones, `clone-${i}`);
  cpSync(join(root, 'examples', 'sample-model'), copy, { recursive: true });
  for (const f of readdirSync(copy)) utimesSync(join(copy, f), when, when);
  const r = JSON.parse(
    run([
      'pack',
      copy,
      '--output',
      join(work, `model-oci-clone-${i}`) + ':v1',
      '--no-cache',
      '--json',
      '--name',
      first.config.descriptor.name,
    ]),
  );
  digests.push(r.digest);
  console.log(`clone ${i} (mtime ${when.toISOString()}): ${r.digest}`);
}
rmSync(clones, { recursive: true, force: true });
if (digests[0] !== digests[1]) {
  console.error('FAIL: digests differ');
  process.exit(1);
}

step('round trip: extract the layout and compare every file');
const extracted = join(work, 'extracted');
run(['pull', `oci:${layout}:v1`, '--extract', extracted, '--no-progress']);
for (const f of readdirSync(join(root, 'examples', 'sample-model'))) {
  if (!readFileSync(join(root, 'examples', 'sample-model', f)).equals(readFileSync(join(extracted, f)))) {
    console.error(`FAIL: ${f} differs after extraction`);
    process.exit(1);
  }
}
console.log(`all ${readdirSync(extracted).length} files identical`);

step('generate a signing key pair (encrypted with a throwaway password)');
const keyEnv = { ...process.env, MODELSHIP_KEY_PASSWORD: 'main-job-demo-password' };
const keys = JSON.parse(
  run(['generate-key-pair', '--output-key-prefix', join(work, 'cosign'), '--json'], { env: keyEnv }),
);
console.log(`private key: ${keys.privateKeyPath}\npublic key:  ${keys.publicKeyPath}\nkey hint:    ${keys.hint}`);

// Signing with a key uploads to Rekor by default, as `cosign sign --key` does. This job runs
// with no network, so every signing step passes the air-gapped opt-out --no-tlog; cosign then
// verifies these bundles with --insecure-ignore-tlog (docs/signing.md).
const NO_TLOG = '--no-tlog';

step('attest: SLSA provenance (local build type), MOF openness, per-file digests');
const att = JSON.parse(
  run(
    [
      'attest',
      `oci:${layout}@${first.digest}`,
      '--type',
      'slsa,mof,files',
      '--key',
      keys.privateKeyPath,
      NO_TLOG,
      '--json',
    ],
    { env: keyEnv },
  ),
);
for (const a of att.attestations) console.log(`${a.predicateType.padEnd(46)} referrer ${a.referrerDigest}`);
const mof = att.attestations.find((a) => a.kind === 'mof');
console.log(`MOF class: ${mof.evaluation.label}`);
for (const r of mof.evaluation.reasons ?? []) console.log(`  - ${r}`);

step('sign (cosign v3 layout: in-toto statement in a Sigstore bundle v0.3, attached as a referrer)');
process.stdout.write(
  run(
    [
      'sign',
      `oci:${layout}@${first.digest}`,
      '--key',
      keys.privateKeyPath,
      NO_TLOG,
      '--bundle-out',
      join(work, 'model.sigstore.json'),
    ],
    {
      env: keyEnv,
    },
  ),
);
step('verify against a policy (trusted key, required predicates, licence allow list)');
const policyPath = join(work, 'policy.yaml');
writeFileSync(
  policyPath,
  [
    'version: 1',
    'signers:',
    `  - key: { path: ${keys.publicKeyPath} }`,
    'require:',
    '  predicates: [https://slsa.dev/provenance/v1, https://modelship.dev/attestations/mof/v0.1]',
    '  licenses: { allow: [MIT, Apache-2.0] }',
    '  artifact: { identifiers: [cncf], maxLayerBytes: 10000000000 }',
    '',
  ].join('\n'),
);
process.stdout.write(run(['verify', `oci:${layout}@${first.digest}`, '--policy', policyPath]));

step('promote to a second layout (verify, copy with every referrer, tag, signed promotion record)');
const prod = join(work, 'prod-oci');
const promoted = JSON.parse(
  run(
    [
      'promote',
      `oci:${layout}:v1`,
      `oci:${prod}:v1`,
      '--policy',
      policyPath,
      '--key',
      keys.privateKeyPath,
      NO_TLOG,
      '--json',
    ],
    { env: keyEnv },
  ),
);
const s = promoted.stats;
console.log(
  `blobs:     ${s.blobsCopied} copied (${s.bytesCopied} bytes), ${s.blobsMounted} mounted, ${s.blobsSkipped} skipped`,
);
console.log(`referrers: ${s.referrersCopied} copied; promotion record ${promoted.record.referrerDigest}`);
console.log(`reference: ${promoted.reference}`);
if (promoted.digest !== first.digest) {
  console.error(`FAIL: promoted digest ${promoted.digest} differs from ${first.digest}`);
  process.exit(1);
}

step('verify the promoted copy with the same policy');
const verified = JSON.parse(run(['verify', `oci:${prod}:v1`, '--policy', policyPath, '--json']));
for (const c of verified.checks) console.log(`${c.ok ? 'ok  ' : 'FAIL'} ${c.rule}: ${c.detail}`);
const record = verified.bundles.find((b) => b.predicateType === 'https://modelship.dev/attestations/promotion/v0.1');
console.log(`promotion record bundle: ${record && record.trusted ? 'trusted' : 'MISSING'}`);
if (!verified.ok || !record?.trusted) {
  console.error('FAIL: the promoted copy does not verify');
  process.exit(1);
}

console.log(`\nmain job done: oci:${prod}:v1@${verified.subject.digest} (verified)`);
