// Issue 18 through the built CLI: `pack --scan` scans on pack's read, `attest --type scan`
// (from the store, or from the pack's report) and `--type sbom` (CycloneDX and SPDX) sign
// referrers, and `verify` / `promote` enforce `require.scan` and `require.sbom`. Real layouts,
// real keys; the malicious pickle is written by CPython and never unpickled.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from './helpers/cli.js';
import { EVIL_PICKLE } from './helpers/security.js';
import { copySample, tempDir } from './helpers/tmp.js';
import { FILENAME_INJECTION, workflowCommandLines } from './helpers/workflow-commands.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const key = join(tmp.dir, 'k.key');
const pub = join(tmp.dir, 'k.pub');
const policy = (name: string, require: string): string => {
  const p = join(tmp.dir, `${name}.yaml`);
  writeFileSync(p, `version: 1\nsigners:\n  - key: { path: ${pub} }\nrequire:\n${require}`);
  return p;
};

/** `modelship attest REF ARGS… --key K --no-tlog --json`. */
const attest = (ref: string, ...args: string[]) =>
  runCli(['attest', ref, ...args, '--key', key, '--no-tlog', '--json']);

interface Scan {
  files: { path: string; verdict: string; findings: { global?: string }[] }[];
  summary: { unsafe: number };
}

/** Packs `model` into a fresh layout with --scan; returns the pinned reference and the scan. */
async function packScanned(model: string, name: string, extra: string[] = []): Promise<{ ref: string; scan: Scan }> {
  const layout = join(tmp.dir, `${name}-oci`);
  const r = await runCli(['pack', model, '--output', `${layout}:v1`, '--scan', '--json', '--no-cache', ...extra]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const out = JSON.parse(r.stdout) as { digest: string; securityScan: Scan };
  return { ref: `oci:${layout}@${out.digest}`, scan: out.securityScan };
}

describe('pack --scan, attest --type scan,sbom, verify and promote with require.scan / require.sbom', () => {
  let clean: string;
  let evil: string;
  let evilRef: string;
  let cleanRef: string;
  const evilName = `${FILENAME_INJECTION}.pkl`;

  beforeAll(async () => {
    const kp = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writeFileSync(key, kp.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(pub, kp.publicKey.export({ type: 'spki', format: 'pem' }));
    clean = copySample(tmp.dir, 'clean');
    evil = copySample(tmp.dir, 'evil');
    writeFileSync(join(evil, 'pytorch_model.bin'), EVIL_PICKLE);
    writeFileSync(join(evil, evilName), EVIL_PICKLE);
    cleanRef = (await packScanned(clean, 'clean')).ref;
    evilRef = (await packScanned(evil, 'evil')).ref;
    for (const ref of [cleanRef, evilRef]) {
      expect((await runCli(['sign', ref, '--key', key, '--no-tlog'])).status).toBe(0);
      const a = await attest(ref, '--type', 'scan,sbom', '--sbom-format', 'cyclonedx,spdx');
      expect(a.stderr).toBe('');
      expect(a.status).toBe(0);
    }
  });

  it('pack --scan prints the file and findings tables, every name neutralised', async () => {
    const layout = join(tmp.dir, 'text-oci');
    const report = join(tmp.dir, 'scan.json');
    const r = await runCli(['pack', evil, '--output', layout, '--no-cache', '--no-progress', '--scan-output', report]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^pytorch_model\.bin +pickle +unsafe/m);
    expect(r.stdout).toMatch(/^model-00001-of-00002\.safetensors +safetensors +safe/m);
    expect(r.stdout).toMatch(/^FILE +MEMBER +FINDING +SEVERITY +OPCODE +COUNT$/m);
    expect(r.stdout).toMatch(/^pytorch_model\.bin +posix\.system +dangerous +GLOBAL +1$/m);
    expect(r.stdout).toMatch(/security scan: 12 file\(s\): 10 safe, 2 unsafe, 0 unknown-format \(modelship-scan /);
    // The attacker-named file cannot start a workflow command, in either table.
    expect(workflowCommandLines(r.stdout)).toEqual([]);
    expect(r.stdout).toContain('\\x3a:set-output name=pwned::1 \\x23#[stop-commands]');
    const written = JSON.parse(readFileSync(report, 'utf8')) as Scan;
    expect(written.summary.unsafe).toBe(2);
  });

  it('attest --type scan from the store agrees with the pack scan; a report of another artifact is refused', async () => {
    const a = await attest(evilRef, '--type', 'scan');
    expect(a.status).toBe(0);
    const scan = (JSON.parse(a.stdout) as { attestations: { scan: Scan }[] }).attestations[0]!.scan;
    const byPath = Object.fromEntries(scan.files.map((f) => [f.path, f.verdict]));
    expect(byPath['pytorch_model.bin']).toBe('unsafe');
    expect(byPath[evilName]).toBe('unsafe');
    expect(byPath['config.json']).toBe('safe');
    // The report written by the pack of another model does not describe this artifact.
    const report = join(tmp.dir, 'clean-scan.json');
    expect(
      (await runCli(['pack', clean, '--output', join(tmp.dir, 'other-oci'), '--no-cache', '--scan-output', report]))
        .status,
    ).toBe(0);
    const wrong = await attest(evilRef, '--type', 'scan', '--scan-report', report);
    expect(wrong.status).toBe(4);
    expect(wrong.stderr).toMatch(/is not a scan of .*not scanned: .*pytorch_model\.bin/);
  });

  it('attest --scan-report signs the pack scan without reading the model again', async () => {
    const layout = join(tmp.dir, 'reuse-oci');
    const report = join(tmp.dir, 'reuse.json');
    const p = await runCli(['pack', evil, '--output', `${layout}:v1`, '--no-cache', '--scan-output', report, '--json']);
    const digest = (JSON.parse(p.stdout) as { digest: string }).digest;
    // Remove the blobs of the weights: the attestation cannot come from reading them.
    const ref = `oci:${layout}@${digest}`;
    const scan = JSON.parse(readFileSync(report, 'utf8')) as { files: { layer: string; path: string }[] };
    for (const f of scan.files.filter((x) => x.path.endsWith('.bin') || x.path.endsWith('.safetensors')))
      rmSync(join(layout, 'blobs', 'sha256', f.layer.slice(7)));
    const a = await attest(ref, '--type', 'scan', '--scan-report', report);
    expect(a.stderr).toBe('');
    expect(a.status).toBe(0);
    expect((JSON.parse(a.stdout) as { attestations: { scan: Scan }[] }).attestations[0]!.scan.summary.unsafe).toBe(2);
  });

  it('verify: require.scan fails on the unsafe files (exit 9), naming them and their globals; require.sbom passes', async () => {
    const p = policy('scan', '  scan: { deny: [unsafe] }\n  sbom: [cyclonedx, spdx]\n');
    const r = await runCli(['verify', evilRef, '--policy', p]);
    expect(r.status).toBe(9);
    expect(r.stdout).toMatch(/FAIL require\.scan: .*pytorch_model\.bin: unsafe \(posix\.system\)/);
    expect(r.stdout).toMatch(
      /ok {3}require\.sbom: cyclonedx: a trusted SBOM describes this artifact and its 12 layer\(s\)/,
    );
    expect(r.stdout).toMatch(/ok {3}require\.sbom: spdx: /);
    expect(workflowCommandLines(r.stdout)).toEqual([]);
    const ok = await runCli(['verify', cleanRef, '--policy', p]);
    expect(ok.stdout).toMatch(
      /ok {3}require\.scan: 1 trusted scan\(s\) \(modelship-scan [\d.]+\) of 10 file\(s\): none unsafe or unknown-format/,
    );
    expect(ok.status).toBe(0);
  });

  it('verify: an unknown format fails unless allowUnknownFormats; no scan or no SBOM at all fails', async () => {
    const withCode = copySample(tmp.dir, 'with-code');
    writeFileSync(join(withCode, 'modeling_tiny.py'), 'import os\n');
    const { ref } = await packScanned(withCode, 'with-code');
    expect((await runCli(['sign', ref, '--key', key, '--no-tlog'])).status).toBe(0);
    expect((await attest(ref, '--type', 'scan')).status).toBe(0);
    const strict = await runCli(['verify', ref, '--policy', policy('strict', '  scan: {}\n')]);
    expect(strict.stdout).toMatch(
      /FAIL require\.scan: modeling_tiny\.py: unknown-format \(code is not scanned; review it\)/,
    );
    expect(strict.status).toBe(9);
    const lax = await runCli(['verify', ref, '--policy', policy('lax', '  scan: { allowUnknownFormats: true }\n')]);
    expect(lax.status).toBe(0);
    const none = await runCli(['verify', ref, '--policy', policy('sbom', '  sbom: [spdx]\n')]);
    expect(none.stdout).toMatch(
      /FAIL require\.sbom: spdx: no trusted SBOM attestation \(https:\/\/spdx\.dev\/Document\)/,
    );
    expect(none.status).toBe(9);
  });

  it('promote refuses the unsafe model and copies nothing; the clean one is promoted', async () => {
    const p = policy('promote', '  scan: {}\n  sbom: [cyclonedx]\n');
    const dest = join(tmp.dir, 'prod');
    const refused = await runCli(['promote', evilRef, `oci:${dest}:v1`, '--policy', p, '--key', key, '--no-tlog']);
    expect(refused.status).toBe(9);
    expect(refused.stderr).toMatch(
      /nothing was promoted: .*require\.scan \(.*pytorch_model\.bin: unsafe \(posix\.system\)/,
    );
    expect(existsSync(join(dest, 'index.json'))).toBe(false);
    const promoted = await runCli(['promote', cleanRef, `oci:${dest}:v1`, '--policy', p, '--key', key, '--no-tlog']);
    expect(promoted.stderr).not.toMatch(/error/);
    expect(promoted.status).toBe(0);
    expect(existsSync(join(dest, 'index.json'))).toBe(true);
  });
});
