/**
 * A keyless bundle cannot opt itself out of the transparency log: when the trusted root has a
 * Rekor log, a bundle with only a TSA timestamp is rejected unless the policy says
 * `trust.requireTlog: false` (private deployments). A root without a log (GitHub's private
 * instance: Fulcio + TSA) still needs the TSA timestamp. Keyless signatures from the local
 * Fulcio/Rekor/TSA stand-ins, through the CLI.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  COSIGN_SIGN_PREDICATE_TYPE,
  OciLayoutStore,
  attachBundle,
  discoverBundles,
  parsePolicy,
  type SerializedBundleJson,
} from '@modelship/core';
import { packSample, runCli, type CliRun } from './helpers/cli.js';
import { keylessCli } from './helpers/keyless.js';
import { startSigstoreStandins, type SigstoreStandins } from './helpers/sigstore.js';
import { tempDir } from './helpers/tmp.js';

const tmp = tempDir();
const SIGNER = 'github: { repository: acme/models, workflow: .github/workflows/release.yml, ref: refs/heads/main }';
let withLog: SigstoreStandins;
let noLog: SigstoreStandins;

beforeAll(async () => {
  withLog = await startSigstoreStandins();
  noLog = await startSigstoreStandins({ rekor: false });
});
afterAll(async () => {
  await withLog?.stop();
  await noLog?.stop();
  tmp.cleanup();
});

let files = 0;
function policy(si: SigstoreStandins, trustExtra = ''): string {
  const root = join(tmp.dir, `root-${++files}.json`);
  writeFileSync(root, JSON.stringify(si.trustedRoot));
  const p = join(tmp.dir, `policy-${files}.yaml`);
  writeFileSync(p, `version: 1\nsigners:\n  - ${SIGNER}\ntrust:\n  trustedRoot: ${root}\n${trustExtra}`);
  return p;
}

async function signed(si: SigstoreStandins, tlog: boolean): Promise<{ ref: string; layout: string; digest: string }> {
  const layout = join(tmp.dir, `layout-${++files}`);
  const digest = await packSample(tmp.dir, `oci:${layout}:v1`);
  const ref = `oci:${layout}@${digest}`;
  const r = await keylessCli(si, ['sign', ref, tlog ? '--tlog' : '--no-tlog']);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return { ref, layout, digest };
}

interface Report {
  ok: boolean;
  bundles: { trusted: boolean; verified: boolean; reason?: string }[];
}

async function verify(ref: string, policyPath: string): Promise<{ run: CliRun; report: Report }> {
  const run = await runCli(['verify', ref, '--policy', policyPath, '--json']);
  return { run, report: JSON.parse(run.stdout) as Report };
}

describe('keyless signatures and the transparency log', () => {
  it('a TSA-only bundle against a root with a Rekor log fails by default', async () => {
    const a = await signed(withLog, false);
    const { run, report } = await verify(a.ref, policy(withLog));
    expect(run.status).toBe(9);
    expect(report.bundles).toEqual([
      {
        referrer: expect.any(String),
        bundle: expect.any(String),
        verified: false,
        trusted: false,
        reason:
          'no transparency log entry, but the trusted root has a transparency log (a timestamp alone is accepted only with the policy’s trust.requireTlog: false)',
      },
    ]);
  });

  it('trust.requireTlog: false accepts it; a bundle with a log entry still verifies either way', async () => {
    const tsaOnly = await signed(withLog, false);
    const relaxed = policy(withLog, '  requireTlog: false\n');
    const r = await verify(tsaOnly.ref, relaxed);
    expect(r.run.stderr).toBe('');
    expect(r.run.status).toBe(0);
    expect(r.report.bundles).toMatchObject([{ verified: true, trusted: true }]);

    const logged = await signed(withLog, true);
    for (const p of [policy(withLog), relaxed, policy(withLog, '  requireTlog: true\n')]) {
      const v = await verify(logged.ref, p);
      expect(v.run.status).toBe(0);
    }
    expect((await verify(tsaOnly.ref, policy(withLog, '  requireTlog: true\n'))).run.status).toBe(9);
  });

  it('a root without a Rekor log (Fulcio + TSA) accepts a TSA-only bundle, never one without a timestamp', async () => {
    const a = await signed(noLog, false);
    expect((await verify(a.ref, policy(noLog))).run.status).toBe(0);

    // The same signature, its timestamp removed: nothing says when the 10-minute certificate signed.
    const store = await OciLayoutStore.open(a.layout);
    try {
      const subject = await store.resolve(a.digest);
      const [found] = await discoverBundles(store, subject);
      const bundle = JSON.parse(JSON.stringify(found!.bundle)) as SerializedBundleJson;
      (bundle.verificationMaterial as { timestampVerificationData?: unknown }).timestampVerificationData = {
        rfc3161Timestamps: [],
      };
      await attachBundle(store, subject, bundle, COSIGN_SIGN_PREDICATE_TYPE);
    } finally {
      await store.close();
    }
    for (const p of [policy(noLog), policy(noLog, '  requireTlog: false\n')]) {
      const { run, report } = await verify(a.ref, p);
      expect(run.status).toBe(0); // the genuine bundle
      const stripped = report.bundles.filter((b) => !b.verified);
      expect(stripped).toHaveLength(1);
      expect(stripped[0]!.reason).toMatch(/^no trusted timestamp \(TIMESTAMP_ERROR: expected 1 timestamps, got 0\)$/);
    }
  });

  it('trust.requireTlog is schema-checked: a boolean, and no look-alike key', async () => {
    const base = `version: 1\nsigners:\n  - ${SIGNER}\n`;
    expect(parsePolicy(`${base}trust:\n  requireTlog: false\n`, 'p.yaml').trust).toEqual({ requireTlog: false });
    expect(parsePolicy(base, 'p.yaml').trust.requireTlog).toBeUndefined();
    expect(() => parsePolicy(`${base}trust:\n  requireTlog: "no"\n`, 'p.yaml')).toThrow(
      'p.yaml:5: trust.requireTlog must be boolean',
    );
    const typo = join(tmp.dir, 'typo.yaml');
    writeFileSync(typo, `${base}trust:\n  requireTLog: false\n`);
    const a = await signed(withLog, true);
    const r = await runCli(['verify', a.ref, '--policy', typo]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/typo\.yaml:5: unknown key "requireTLog" in trust \(allowed: .*requireTlog\)/);
  });
});
