import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { runAction, type ActionRun } from './helpers/action.js';
import { packSample, runCli } from './helpers/cli.js';
import { keylessCli } from './helpers/keyless.js';
import { startSigstoreStandins, type SigstoreStandins } from './helpers/sigstore.js';
import { copySample, tempDir } from './helpers/tmp.js';
import { FILENAME_INJECTION, HTML_INJECTION, INJECTION, workflowCommandLines } from './helpers/workflow-commands.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

function keyPair(name: string): { key: string; pub: string; pem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const key = join(tmp.dir, `${name}.key`);
  const pub = join(tmp.dir, `${name}.pub`);
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  writeFileSync(key, pem, { mode: 0o600 });
  writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
  return { key, pub, pem };
}

/** Nothing the CLI printed may be read by a runner as a workflow command. */
function expectNoCommands(r: { stdout: string; stderr: string }): void {
  expect(workflowCommandLines(r.stdout)).toEqual([]);
  expect(workflowCommandLines(r.stderr)).toEqual([]);
}

/**
 * An action's own commands are the annotations and masks @actions/core writes (their data
 * escaped by it); none of the injected ones (set-output, stop-commands, a forged error, a
 * mask of "modelship") may appear, and stderr has none at all.
 */
function expectOnlyOwnCommands(r: ActionRun): void {
  const commands = workflowCommandLines(r.stdout);
  expect(commands.filter((l) => !/^::(error|warning|notice|add-mask)::/.test(l))).toEqual([]);
  expect(commands.filter((l) => /pwned|tok3n|forged|add-mask::modelship/.test(l))).toEqual([]);
  expect(workflowCommandLines(r.stderr)).toEqual([]);
}

/** The job summary stays whole: one line per element, no tag from a value, no markdown after a blank line. */
function expectSummaryIntact(summary: string): void {
  expect(summary).not.toMatch(/<img|<\/?td>[^<]*<\/table>[^\n]*<td/);
  expect(summary).not.toContain('\n\n');
  for (const line of summary.split('\n').filter(Boolean)) {
    expect(line).toMatch(/^<(h\d|p|table|ul)>/);
    if (line.startsWith('<table>')) expect(line).toMatch(/<\/table>$/);
  }
}

describe('text from an artifact, a bundle or a registry cannot start a workflow command (CLI)', () => {
  it('the pack action: file names in its log and its summary table', async () => {
    const model = copySample(tmp.dir, 'hostile-names-action');
    writeFileSync(join(model, `${FILENAME_INJECTION} ${HTML_INJECTION.replace(/\n/g, ' ')}.bin`), 'w');
    const work = join(tmp.dir, 'pack-action');
    mkdirSync(work, { recursive: true });
    const r = await runAction(
      'pack',
      { path: model, output: join(work, 'oci'), cache: 'false' },
      work,
      {},
      { from: 'lib' },
    );
    expect(r.status).toBe(0);
    expectOnlyOwnCommands(r);
    expectSummaryIntact(r.summary);
    // The summary is a file, not read for commands: there the name only has to stay in its cell.
    expect(r.summary).toContain('::error::forged &lt;img src=x onerror=alert(1)&gt;  &#124; a &#124; b &#124;');
  });

  it('the pack action: a file name with a line break is refused in one escaped annotation', async () => {
    const model = copySample(tmp.dir, 'hostile-names-action-cc');
    writeFileSync(join(model, `weights${INJECTION}.bin`), 'w');
    const work = join(tmp.dir, 'pack-action-cc');
    mkdirSync(work, { recursive: true });
    const r = await runAction(
      'pack',
      { path: model, output: join(work, 'oci'), cache: 'false' },
      work,
      {},
      { from: 'lib' },
    );
    expect(r.status).not.toBe(0);
    const commands = workflowCommandLines(r.stdout);
    expect(commands.filter((l) => !/^::(error|add-mask)::/.test(l))).toEqual([]);
    const errors = commands.filter((l) => l.startsWith('::error::'));
    expect(errors).toHaveLength(1);
    // The name is in it, escaped: no raw break could have split it into a second command.
    expect(errors[0]).toContain('weights\\x0a::set-output name=pwned::1\\x0a::add-mask::modelship');
    expect(workflowCommandLines(r.stderr)).toEqual([]);
  });

  it('pack: file names from the model directory, in the table and in --json', async () => {
    const model = copySample(tmp.dir, 'hostile-names');
    const name = `${FILENAME_INJECTION}.bin`;
    writeFileSync(join(model, name), 'w');
    for (const extra of [[], ['--json']]) {
      const r = await runCli([
        'pack',
        model,
        '--output',
        join(tmp.dir, `names-oci${extra.length}`),
        '--no-cache',
        ...extra,
      ]);
      expect(r.status).toBe(0);
      expectNoCommands(r);
      if (extra.length) {
        // --json stays exact: the same file name parses back out.
        const json = JSON.parse(r.stdout) as { layers: { path: string }[] };
        expect(json.layers.map((l) => l.path)).toContain(name);
      } else {
        expect(r.stdout).toContain('\\x3a:set-output name=pwned::1 \\x23#[stop-commands]tok3n');
      }
    }
  });

  it('pack: a file name with a line break is refused (exit 3), named escaped', async () => {
    const model = copySample(tmp.dir, 'hostile-names-cc');
    writeFileSync(join(model, `weights${INJECTION}.bin`), 'w');
    const r = await runCli(['pack', model, '--output', join(tmp.dir, 'names-cc-oci'), '--no-cache']);
    expect(r.status).toBe(3);
    expectNoCommands(r);
    expect(r.stderr).toContain('weights\\x0a::set-output name=pwned::1');
  });

  describe('verify: a certificate SAN and a predicate type', () => {
    let si: SigstoreStandins;
    let ref: string;
    let root: string;
    const signer = keyPair('attester');
    const predicateType = `https://example.com/predicate${INJECTION}${HTML_INJECTION}`;
    let policy: string;
    beforeAll(async () => {
      si = await startSigstoreStandins();
      root = join(tmp.dir, 'trusted_root.json');
      writeFileSync(root, JSON.stringify(si.trustedRoot));
      const layout = join(tmp.dir, 'verify-oci');
      ref = `oci:${layout}@${await packSample(tmp.dir, `oci:${layout}:v1`)}`;
      // The Fulcio stand-in certifies https://github.com/<job_workflow_ref>, as real Fulcio does.
      const s = await keylessCli(si, ['sign', ref], {
        via: 'token',
        claims: { job_workflow_ref: `acme/models/.github/workflows/release.yml${INJECTION}@refs/heads/main` },
      });
      expectNoCommands(s);
      expect(s.status).toBe(0);
      const predicate = join(tmp.dir, 'predicate.json');
      writeFileSync(predicate, JSON.stringify({ note: `hello${INJECTION}` }));
      const a = await runCli([
        'attest',
        ref,
        '--type',
        'none',
        '--predicate-type',
        predicateType,
        '--predicate',
        predicate,
        '--key',
        signer.key,
        '--no-tlog',
      ]);
      expectNoCommands(a);
      expect(a.status).toBe(0);
      policy = join(tmp.dir, 'policy.yaml');
      writeFileSync(
        policy,
        `version: 1\nminSignatures: 2\nsigners:\n  - key: { path: ${signer.pub} }\n` +
          `  - github: { repository: acme/models, workflow: .github/workflows/release.yml, ref: refs/heads/main }\n` +
          `trust:\n  trustedRoot: ${root}\n`,
      );
    });
    afterAll(async () => si?.stop());

    it('the verify action: its log has only its own commands, its summary tables stay whole', async () => {
      const work = join(tmp.dir, 'verify-action');
      mkdirSync(work, { recursive: true });
      const r = await runAction('verify', { reference: ref, policy }, work, {}, { from: 'lib' });
      expect(r.status).toBe(1);
      expectOnlyOwnCommands(r);
      expect(r.stdout).toMatch(/^::error::POLICY: /m);
      expectSummaryIntact(r.summary);
      expect(r.summary).toContain('release.yml\\n::set-output name=pwned::1');
      expect(r.summary).toContain('https://example.com/predicate\\n::set-output name=pwned::1');
      expect(r.summary).toContain('&lt;img src=x onerror=alert(1)&gt;\\n\\n&#124; a &#124;');
    });

    it('the attest action: the predicate type at the head of a log line, in its summary', async () => {
      const work = join(tmp.dir, 'attest-action');
      mkdirSync(work, { recursive: true });
      const predicate = join(work, 'predicate.json');
      writeFileSync(predicate, '{}');
      const r = await runAction(
        'attest',
        { reference: ref, types: '', 'predicate-type': predicateType, predicate, key: signer.key, tlog: 'false' },
        work,
        {},
        { from: 'lib' },
      );
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expectOnlyOwnCommands(r);
      expect(r.stdout).toMatch(/^https:\/\/example\.com\/predicate\\n::set-output name=pwned::1.*: referrer sha256:/m);
      expectSummaryIntact(r.summary);
      expect(JSON.parse(r.outputs.attestations!)).toEqual([expect.objectContaining({ predicateType })]);
    });

    it('the text report, the JSON report and the error neither start nor hide a command', async () => {
      const text = await runCli(['verify', ref, '--policy', policy]);
      expect(text.status).toBe(9);
      expectNoCommands(text);
      // The values are still there, visibly escaped.
      expect(text.stdout).toContain('https://example.com/predicate\\n::set-output');
      expect(text.stdout).toContain('release.yml\\n::set-output');
      const json = await runCli(['verify', ref, '--policy', policy, '--json']);
      expect(json.status).toBe(9);
      expectNoCommands(json);
      const report = JSON.parse(json.stdout) as { bundles: { predicateType?: string; signer?: { subject: string } }[] };
      expect(report.bundles.map((b) => b.predicateType)).toContain(predicateType);
      expect(report.bundles.some((b) => b.signer?.subject.includes(INJECTION))).toBe(true);
    });
  });

  describe('pull: a registry error body quoted in the error', () => {
    let server: Server;
    let host: string;
    beforeAll(async () => {
      server = createServer((req, res) => {
        if (req.url === '/v2/' || req.url === '/v2') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{}');
          return;
        }
        // HEAD without the digest headers, as old registries answer: the GET that follows gets the body.
        if (req.method === 'HEAD') {
          res.writeHead(200);
          res.end();
          return;
        }
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'DENIED', message: `no access${INJECTION}` }] }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    it('the message keeps the body, visibly escaped, on lines that are not commands', async () => {
      const r = await runCli([
        'pull',
        `${host}/models/x@sha256:${'a'.repeat(64)}`,
        '--plain-http',
        '--output',
        join(tmp.dir, 'pulled'),
      ]);
      expect(r.status).toBe(5);
      expectNoCommands(r);
      expect(r.stderr).toContain('DENIED: no access');
      expect(r.stderr).toContain('\\x3a:add-mask::modelship');
    });
  });
});

describe('an inline --key value is never echoed (issue 11, item 13)', () => {
  let ref: string;
  beforeAll(async () => {
    const layout = join(tmp.dir, 'key-oci');
    mkdirSync(layout, { recursive: true });
    ref = `oci:${layout}@${await packSample(tmp.dir, `oci:${layout}:v1`)}`;
  });

  /** Fails when `output` holds `secret` or any 8-character piece of it. */
  function expectNoPieceOf(secret: string, output: string): void {
    const pieces: string[] = [];
    for (let i = 0; i + 8 <= secret.length; i++)
      if (output.includes(secret.slice(i, i + 8))) pieces.push(secret.slice(i, i + 8));
    expect(pieces).toEqual([]);
  }

  const pem = keyPair('inline').pem;
  const b64 = Buffer.from(pem).toString('base64');
  const cases: [string, string, string][] = [
    ['base64 of a PEM key, cut short', b64.slice(0, 200), b64.slice(0, 200)],
    ['base64 of a PEM key with one character changed', `${b64.slice(0, 60)}!${b64.slice(61)}`, b64],
    ['base64 that is not a key at all', randomBytes(240).toString('base64'), ''],
    ['the same, too long for a file name', randomBytes(600).toString('base64'), ''],
  ];
  for (const [what, value, alsoSecret] of cases)
    it(`${what}: an INPUT error that names neither the value nor a piece of it`, async () => {
      for (const env of [{}, { MODELSHIP_DEBUG: '1' }]) {
        const r = await runCli(['sign', ref, '--key', value, '--no-tlog'], { env });
        expect(r.status).toBe(3);
        expect(r.stderr).toMatch(/^error: /);
        expectNoPieceOf(value.replace(/!/g, ''), r.stderr + r.stdout);
        if (alsoSecret) expectNoPieceOf(alsoSecret, r.stderr + r.stdout);
      }
    });

  it('PEM text that does not parse: the key body is not echoed', async () => {
    const body = pem.split('\n').filter((l) => l && !l.startsWith('-----'));
    const broken = pem.replace(body[1]!, body[1]!.slice(0, 20) + '!!!' + body[1]!.slice(23));
    const r = await runCli(['sign', ref, '--key', broken, '--no-tlog'], { env: { MODELSHIP_DEBUG: '1' } });
    expect(r.status).toBe(3);
    for (const line of body) expectNoPieceOf(line.replace(/!/g, ''), r.stderr + r.stdout);
  });

  it('a whole base64-encoded PEM key signs, as a base64 file or env://VAR does', async () => {
    const r = await runCli(['sign', ref, '--key', b64, '--no-tlog']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expectNoPieceOf(b64, r.stdout);
  });
});

describe('the setup action masks every login secret before it parses the logins input (item 13)', () => {
  it('a malformed logins input: each secret is masked before the error, and printed nowhere else', async () => {
    const secrets = ['s3cret-pass-one', 's3cret-token-two', 'ghp_s3cretInTheHostField', 's3cret pass three'];
    const logins = [
      `ghcr.io octocat ${secrets[0]}`,
      // two fields: which one is the secret is unknown
      `registry.example.com:5000 ${secrets[1]}`,
      // the token where the host goes
      `${secrets[2]} robot ${secrets[3]}`,
    ].join('\n');
    const work = join(tmp.dir, 'setup-action');
    mkdirSync(work, { recursive: true });
    const r = await runAction('setup', { logins }, work, { RUNNER_TOOL_CACHE: join(work, 'tools') }, { from: 'lib' });
    expect(r.status).toBe(1);
    const lines = r.stdout.split('\n');
    const firstError = lines.findIndex((l) => l.startsWith('::error::'));
    expect(firstError).toBeGreaterThan(0);
    expect(lines[firstError]).toMatch(/^::error::USAGE: input logins, line 2: /);
    for (const secret of secrets) {
      const mask = lines.findIndex((l) => l === `::add-mask::${secret}`);
      expect(mask).toBeGreaterThanOrEqual(0);
      expect(mask).toBeLessThan(firstError);
      // Nowhere but in its mask: not in the error, the summary or the outputs.
      expect(lines.filter((l) => l.includes(secret) && !l.startsWith('::add-mask::'))).toEqual([]);
      expect(r.stderr + r.summary + JSON.stringify(r.outputs)).not.toContain(secret);
    }
  });
});
