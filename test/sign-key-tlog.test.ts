/**
 * Key signing uploads to the transparency log by default, as `cosign sign --key` does (cosign
 * v2+ `--tlog-upload=true`), because cosign, Kyverno and policy-controller refuse a key-signed
 * bundle without a log entry unless told to ignore the log. `--no-tlog` (action input
 * `tlog: false`) is the opt-out for air-gapped signing. Rekor here is the local stand-in
 * (test/helpers/sigstore.ts, `intoto` entries: the mock stores dsse entries verbatim).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OciLayoutStore, attachBundle, type SerializedBundleJson } from '@modelship/core';
import { packSample, runCli } from './helpers/cli.js';
import { startSigstoreStandins, type SigstoreStandins } from './helpers/sigstore.js';
import { tempDir } from './helpers/tmp.js';
import { layoutBundles } from './helpers/verify.js';

const tmp = tempDir();
let si: SigstoreStandins;
let key: string;
let pub: string;
let files = 0;

beforeAll(async () => {
  si = await startSigstoreStandins();
  const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  key = join(tmp.dir, 'cosign.key');
  pub = join(tmp.dir, 'cosign.pub');
  writeFileSync(key, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(pub, pair.publicKey.export({ type: 'spki', format: 'pem' }));
});
afterAll(async () => {
  await si?.stop();
  tmp.cleanup();
});

async function packed(): Promise<{ layout: string; digest: string; ref: string }> {
  const layout = join(tmp.dir, `layout-${++files}`);
  const digest = await packSample(tmp.dir, `oci:${layout}:v1`);
  return { layout, digest, ref: `oci:${layout}@${digest}` };
}

/** A key-only policy; with `root`, the trusted root (stand-ins' Rekor key) is pinned too. */
function policy(root: boolean): string {
  const p = join(tmp.dir, `policy-${++files}.yaml`);
  let text = `version: 1\nsigners:\n  - key: { path: ${pub} }\n`;
  if (root) {
    const rootPath = join(tmp.dir, `root-${files}.json`);
    writeFileSync(rootPath, JSON.stringify(si.trustedRoot));
    text += `trust:\n  trustedRoot: ${rootPath}\n`;
  }
  writeFileSync(p, text);
  return p;
}

interface Report {
  ok: boolean;
  bundles: { verified: boolean; trusted: boolean; reason?: string }[];
}

async function verify(ref: string, policyPath: string): Promise<{ status: number | null; report: Report }> {
  const r = await runCli(['verify', ref, '--policy', policyPath, '--json']);
  return { status: r.status, report: JSON.parse(r.stdout) as Report };
}

describe('sign --key and the transparency log', () => {
  it('uploads by default; the entry verifies against the root, and key-only trust still accepts it', async () => {
    const a = await packed();
    const r = await runCli(['sign', a.ref, '--key', key, '--rekor-url', si.rekorURL, '--rekor-entry-type', 'intoto']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const [bundle] = await layoutBundles(a.layout, a.digest);
    const entries = bundle!.verificationMaterial['tlogEntries'] as {
      kindVersion: { kind: string };
      canonicalizedBody: string;
    }[];
    expect(entries).toHaveLength(1);
    expect(entries[0]!.kindVersion.kind).toBe('intoto');
    // The logged envelope is the bundle's: keyid "" reached Rekor (an intoto entry keeps a
    // non-empty keyid and hashes it), i.e. it was blanked before the upload, not after.
    const body = JSON.parse(Buffer.from(entries[0]!.canonicalizedBody, 'base64').toString('utf8')) as {
      spec: { content: { envelope: { signatures: { keyid?: string; sig: string }[] } } };
    };
    expect(body.spec.content.envelope.signatures.map((x) => x.keyid ?? '')).toEqual(['']);
    expect(bundle!.dsseEnvelope!.signatures.map((x) => x.keyid ?? '')).toEqual(['']);

    // Checked against the stand-in's Rekor key in the pinned root.
    const withRoot = await verify(a.ref, policy(true));
    expect(withRoot.report.bundles).toMatchObject([{ verified: true, trusted: true }]);
    expect(withRoot.status).toBe(0);
    // Key-only trust has no log key: the entry is left out of the check (cosign's
    // --insecure-ignore-tlog) and the key signature decides.
    const keyOnly = await verify(a.ref, policy(false));
    expect(keyOnly.report.bundles).toMatchObject([{ verified: true, trusted: true }]);
    expect(keyOnly.status).toBe(0);
  });

  it('a forged log entry fails against the root (so the entry really is checked)', async () => {
    const a = await packed();
    const r = await runCli(['sign', a.ref, '--key', key, '--rekor-url', si.rekorURL, '--rekor-entry-type', 'intoto']);
    expect(r.status).toBe(0);
    const [bundle] = await layoutBundles(a.layout, a.digest);
    const forged = JSON.parse(JSON.stringify(bundle)) as SerializedBundleJson;
    const entry = (forged.verificationMaterial['tlogEntries'] as { integratedTime: string }[])[0]!;
    entry.integratedTime = String(Number(entry.integratedTime) - 3600);
    const store = await OciLayoutStore.open(a.layout);
    try {
      await attachBundle(store, await store.resolve(a.digest), forged, 'https://sigstore.dev/cosign/sign/v1');
    } finally {
      await store.close();
    }
    const { report } = await verify(a.ref, policy(true));
    const bad = report.bundles.filter((b) => !b.verified);
    expect(bad).toHaveLength(1);
    expect(bad[0]!.reason).toBe(
      'transparency log inclusion promise invalid (TLOG_INCLUSION_PROMISE_ERROR: inclusion promise could not be verified)',
    );
  });

  it('an unreachable timestamp authority fails the sign, naming the CLI flag that points at it', async () => {
    const a = await packed();
    // Core names the setting by a key (opt('tsaUrl')); the CLI prints it as its own flag.
    const r = await runCli(['sign', a.ref, '--key', key, '--no-tlog', '--tsa-url', 'http://127.0.0.1:1']);
    expect(r.status).toBe(7);
    expect(r.stderr).toMatch(/timestamp authority failed.*http:\/\/127\.0\.0\.1:1/);
    expect(r.stderr).toContain('hint: check --tsa-url\n');
    expect(r.stderr).not.toContain('{opt:');
    expect(await layoutBundles(a.layout, a.digest)).toHaveLength(0);
  });

  it('an unreachable Rekor fails the sign, naming the air-gapped opt-out', async () => {
    const a = await packed();
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    const r = await runCli(['sign', a.ref, '--key', key, '--rekor-url', 'http://127.0.0.1:1']);
    expect(r.status).toBe(7);
    expect(r.stderr).toMatch(/Rekor \(transparency log\) failed.*http:\/\/127\.0\.0\.1:1/);
    expect(r.stderr).toMatch(/hint: .*--no-tlog \(keyless signing then needs --tsa-url\)/);
    expect(await layoutBundles(a.layout, a.digest)).toHaveLength(0);
  });

  it('--no-tlog signs offline: no entry, and the bundle verifies with the key', async () => {
    const a = await packed();
    const r = await runCli(['sign', a.ref, '--key', key, '--rekor-url', 'http://127.0.0.1:1', '--no-tlog', '--json']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const [bundle] = await layoutBundles(a.layout, a.digest);
    expect(bundle!.verificationMaterial['tlogEntries'] ?? []).toEqual([]);
    expect((await verify(a.ref, policy(false))).status).toBe(0);
  });
});
