import { describe, expect, it } from '@jest/globals';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelshipError } from '../src/errors.js';
import { githubIdentityRegex, loadPolicy, parsePolicy, policyDigest } from '../src/policy/parse.js';
import { GITHUB_ACTIONS_ISSUER, type KeylessSigner } from '../src/policy/types.js';

const PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' });

const FULL = `version: 1
signers:
  - github: { repository: acme/models, workflow: .github/workflows/release.yml, ref: refs/heads/main }
  - github: { repository: acme/models, workflow: .github/workflows/release.yml, ref: 'refs/tags/v.+' }
  - keyless: { issuer: https://accounts.google.com, identity: '^release@acme\\.com$' }
  - key: { path: keys/release.pub }
minSignatures: 2
require:
  predicates: [https://slsa.dev/provenance/v1, https://modelship.dev/attestations/mof/v0.1]
  slsa: { builder: '^https://github.com/acme/.+$', sourceRepository: acme/models, ref: '^refs/(heads/main|tags/v.+)$', forbidSelfHosted: true }
  mof: { minClass: 3 }
  licenses: { allow: [Apache-2.0, MIT], deny: [CC-BY-NC-4.0] }
  artifact: { identifiers: [cncf], maxLayerBytes: 10000000000 }
trust:
  trustedRoot: trusted_root.json
promote: { destinations: ['^ghcr\\.io/acme/prod/.+$'] }
`;

/** The INPUT error parsePolicy throws for `text`. */
function errorOf(text: string): ModelshipError {
  try {
    parsePolicy(text, 'policy.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(ModelshipError);
    expect((e as ModelshipError).code).toBe('INPUT');
    return e as ModelshipError;
  }
  throw new Error('expected parsePolicy to throw');
}

const MIN = `version: 1
signers:
  - keyless: { issuer: https://accounts.google.com, identity: '^a@b\\.com$' }
`;

describe('parsePolicy: a full valid policy', () => {
  const p = parsePolicy(FULL, 'policy.yaml', { baseDir: '/etc/ms' });

  it('expands the github shorthand into the Actions issuer and an anchored SAN regex', () => {
    const [a, b] = p.signers as KeylessSigner[];
    expect(a).toEqual({
      type: 'keyless',
      issuer: GITHUB_ACTIONS_ISSUER,
      identity: '^https://github\\.com/acme/models/\\.github/workflows/release\\.yml@refs/heads/main$',
      github: { repository: 'acme/models', workflow: '.github/workflows/release.yml', ref: 'refs/heads/main' },
      line: 3,
    });
    const re = new RegExp(a!.identity);
    expect(re.test('https://github.com/acme/models/.github/workflows/release.yml@refs/heads/main')).toBe(true);
    expect(re.test('https://github.com/acme/models/.github/workflows/release.yml@refs/heads/mainx')).toBe(false);
    expect(
      re.test(
        'https://github.com/evil-org/x/https://github.com/acme/models/.github/workflows/release.yml@refs/heads/main',
      ),
    ).toBe(false);
    expect(re.test('https://githubXcom/acme/models/.github/workflows/release.yml@refs/heads/main')).toBe(false);
    // a ref with regex metacharacters is a regex, grouped inside the anchors
    expect(b!.identity.endsWith('@(?:refs/tags/v.+)$')).toBe(true);
    const rb = new RegExp(b!.identity);
    expect(rb.test('https://github.com/acme/models/.github/workflows/release.yml@refs/tags/v1.2.0')).toBe(true);
    expect(rb.test('https://github.com/acme/models/.github/workflows/release.yml@refs/heads/main')).toBe(false);
  });

  it('keeps keyless and key signers, resolving key paths against baseDir', () => {
    expect(p.signers[2]).toEqual({
      type: 'keyless',
      issuer: 'https://accounts.google.com',
      identity: '^release@acme\\.com$',
      line: 5,
    });
    expect(p.signers[3]).toEqual({ type: 'key', path: '/etc/ms/keys/release.pub', line: 6 });
  });

  it('carries requirements, trust, promote and the digest', () => {
    expect(p.minSignatures).toBe(2);
    expect(p.require).toEqual({
      predicates: ['https://slsa.dev/provenance/v1', 'https://modelship.dev/attestations/mof/v0.1'],
      slsa: {
        builder: '^https://github.com/acme/.+$',
        sourceRepository: 'acme/models',
        ref: '^refs/(heads/main|tags/v.+)$',
        forbidSelfHosted: true,
      },
      mof: { minClass: 3 },
      licenses: { allow: ['Apache-2.0', 'MIT'], deny: ['CC-BY-NC-4.0'] },
      artifact: { identifiers: ['cncf'], maxLayerBytes: 10000000000 },
    });
    expect(p.trust).toEqual({ trustedRoot: '/etc/ms/trusted_root.json' });
    expect(p.promote).toEqual({ destinations: ['^ghcr\\.io/acme/prod/.+$'] });
    expect(p.digest).toBe(`sha256:${createHash('sha256').update(FULL).digest('hex')}`);
    expect(p.source).toBe('policy.yaml');
  });

  it('accepts an inline PEM key', () => {
    const text = `version: 1\nsigners:\n  - key:\n      pem: |\n${String(PEM)
      .trim()
      .split('\n')
      .map((l) => `        ${l}`)
      .join('\n')}\n`;
    const q = parsePolicy(text, 'p.yaml');
    expect(q.signers[0]).toMatchObject({ type: 'key', line: 3 });
    expect((q.signers[0] as { pem: string }).pem).toContain('BEGIN PUBLIC KEY');
  });
});

describe('parsePolicy: defaults', () => {
  it('fills minSignatures, require, trust and promote', () => {
    const p = parsePolicy(MIN, 'policy.yaml');
    expect(p.minSignatures).toBe(1);
    expect(p.require).toEqual({ predicates: [] });
    expect(p.trust).toEqual({});
    expect(p.promote).toEqual({});
    expect(p.version).toBe(1);
  });

  it('require.slsa.modelSource: a repository (hf://ORG/NAME or a URL) and optional full commit ids', () => {
    const sha = 'a'.repeat(40);
    const p = parsePolicy(
      `${MIN}require:\n  slsa:\n    modelSource: { repository: hf://acme/tiny, commits: [${sha}] }\n`,
      'x',
    );
    expect(p.require.slsa?.modelSource).toEqual({ repository: 'hf://acme/tiny', commits: [sha] });
    expect(
      parsePolicy(`${MIN}require:\n  slsa:\n    modelSource: { repository: 'https://hub.example/acme/tiny' }\n`, 'x')
        .require.slsa?.modelSource,
    ).toEqual({ repository: 'https://hub.example/acme/tiny' });
    expect(errorOf(`${MIN}require:\n  slsa:\n    modelSource: { repository: acme/tiny }\n`).message).toMatch(
      /^policy\.yaml:6: require\.slsa\.modelSource\.repository/,
    );
    expect(
      errorOf(`${MIN}require:\n  slsa:\n    modelSource: { repository: hf://acme/tiny, commits: [main] }\n`).message,
    ).toMatch(/^policy\.yaml:6: require\.slsa\.modelSource\.commits/);
    expect(errorOf(`${MIN}require:\n  slsa:\n    modelSource: { commits: [${sha}] }\n`).code).toBe('INPUT');
  });

  it('slsa and mof requirements imply their predicate types; forbidSelfHosted defaults to false', () => {
    const p = parsePolicy(`${MIN}require:\n  slsa: { sourceRepository: acme/models }\n  mof: { minClass: 2 }\n`, 'x');
    expect(p.require.predicates).toEqual([
      'https://slsa.dev/provenance/v1',
      'https://modelship.dev/attestations/mof/v0.1',
    ]);
    expect(p.require.slsa).toEqual({ sourceRepository: 'acme/models', forbidSelfHosted: false });
    const q = parsePolicy(`${MIN}require:\n  licenses: { deny: [CC-BY-NC-4.0] }\n  artifact: {}\n`, 'x');
    expect(q.require.licenses).toEqual({ allow: [], deny: ['CC-BY-NC-4.0'] });
    expect(q.require.artifact).toEqual({ identifiers: [] });
  });

  it('require.scan defaults to denying unsafe and unknown formats; scan and sbom imply their predicate types', () => {
    const p = parsePolicy(`${MIN}require:\n  scan: {}\n  sbom: [spdx, cyclonedx]\n`, 'x');
    expect(p.require.scan).toEqual({ deny: ['unsafe'], allowUnknownFormats: false });
    expect(p.require.sbom).toEqual(['spdx', 'cyclonedx']);
    expect(p.require.predicates).toEqual([
      'https://modelship.dev/attestations/scan/v0.1',
      'https://spdx.dev/Document',
      'https://cyclonedx.org/bom',
    ]);
    const q = parsePolicy(`${MIN}require:\n  scan: { deny: [unsafe], allowUnknownFormats: true }\n`, 'x');
    expect(q.require.scan).toEqual({ deny: ['unsafe'], allowUnknownFormats: true });
  });

  it('keeps relative paths as written without baseDir', () => {
    const p = parsePolicy(`${MIN}  - key: { path: k.pub }\ntrust: { trustedRoot: root.json }\n`, 'x');
    expect(p.signers[1]).toEqual({ type: 'key', path: 'k.pub', line: 4 });
    expect(p.trust.trustedRoot).toBe('root.json');
  });
});

describe('parsePolicy: errors', () => {
  it('YAML syntax error names the line', () => {
    expect(errorOf('version: 1\nsigners:\n  - keyless: { issuer: x\n').message).toMatch(
      /^policy\.yaml:\d+: invalid YAML: /,
    );
    expect(errorOf('version: 1\nversion: 1\nsigners: []\n').message).toMatch(
      /^policy\.yaml:2: invalid YAML: .*unique/i,
    );
    expect(errorOf('a: b\n  c: d\n').message).toMatch(/^policy\.yaml:[12]: invalid YAML/);
  });

  it('an empty policy is refused', () => {
    expect(errorOf('').message).toMatch(/policy\.yaml:1: the policy is empty/);
  });

  it('unknown keys are refused with the key name and its line', () => {
    expect(errorOf(`${MIN}requires: {}\n`).message).toBe(
      'policy.yaml:4: unknown key "requires" in the policy (allowed: version, signers, minSignatures, require, trust, promote)',
    );
    expect(errorOf(`${MIN}require:\n  slsa:\n    buildr: '^x$'\n`).message).toMatch(
      /^policy\.yaml:6: unknown key "buildr" in require\.slsa \(allowed: builder, workflow/,
    );
    expect(
      errorOf(
        `version: 1\nsigners:\n  - github: { repository: a/b, workflow: .github/workflows/r.yml, ref: main, x: 1 }\n`,
      ).message,
    ).toMatch(/^policy\.yaml:3: unknown key "x" in signers\[0\]\.github/);
  });

  it('schema violations list each problem with its line', () => {
    const e = errorOf(`version: 2
signers:
  - keyless: { issuer: https://accounts.google.com }
  - github: { repository: nope, workflow: release.yml, ref: refs/heads/main }
minSignatures: 0
`);
    expect(e.message).toMatch(/^invalid policy \(\d+ problems\):/);
    expect(e.message).toContain('policy.yaml:1: version must be 1');
    expect(e.message).toContain('policy.yaml:3: signers[0].keyless: missing required key "identity"');
    expect(e.message).toContain('policy.yaml:4: signers[1].github.repository must be "owner/name"');
    expect(e.message).toContain('policy.yaml:4: signers[1].github.workflow must be a workflow path');
    expect(e.message).toContain('policy.yaml:5: minSignatures must be >= 1');
  });

  // docs/policy.md promises every problem; an unknown key used to hide the rule checks (regexes, licences).
  it('an unknown key and the rule checks are listed together', () => {
    const e = errorOf(`version: 1
signers:
  - keyless:
      issuer: https://accounts.google.com
      identity: 'release@acme\\.com'
require:
  slsa:
    buildr: '^x$'
  licenses: { allow: [MIT], deny: [MIT] }
`);
    expect(e.message).toBe(
      [
        'invalid policy (3 problems):',
        '  policy.yaml:5: signers[0].keyless.identity must be an anchored regex (^...$): "release@acme\\.com" must start with ^',
        '  policy.yaml:8: unknown key "buildr" in require.slsa (allowed: builder, workflow, sourceRepository, ref, forbidSelfHosted, modelSource)',
        '  policy.yaml:9: licence "MIT" is in both require.licenses.allow and deny',
      ].join('\n'),
    );
  });

  it('missing signers, empty signers, and a signer entry with two kinds', () => {
    expect(errorOf('version: 1\n').message).toBe('policy.yaml:1: the policy: missing required key "signers"');
    expect(errorOf('version: 1\nsigners: []\n').message).toBe(
      'policy.yaml:2: signers must NOT have fewer than 1 items',
    );
    expect(
      errorOf(
        `version: 1\nsigners:\n  - key: { path: a.pub }\n    keyless: { issuer: https://x.example, identity: '^a$' }\n`,
      ).message,
    ).toBe('policy.yaml:3: signers[0] must have exactly one of: github, keyless, key, notation');
    expect(errorOf(`version: 1\nsigners:\n  - key: { path: a.pub, pem: x }\n`).message).toBe(
      'policy.yaml:3: signers[0].key must have exactly one of: path, pem',
    );
  });

  it('unanchored identity regexes are refused, naming the line', () => {
    const at = (identity: string): string =>
      errorOf(
        `version: 1\nsigners:\n  - keyless:\n      issuer: https://accounts.google.com\n      identity: '${identity}'\n`,
      ).message;
    expect(at('release@acme\\.com$')).toBe(
      'policy.yaml:5: signers[0].keyless.identity must be an anchored regex (^...$): "release@acme\\.com$" must start with ^',
    );
    expect(at('^release@acme\\.com')).toMatch(/^policy\.yaml:5: .*must end with \$/);
    expect(at('^release@acme\\.com\\$')).toMatch(/^policy\.yaml:5: .*must end with \$/);
    expect(at('^a@acme\\.com|b@acme\\.com$')).toMatch(/^policy\.yaml:5: .*top-level "\|"/);
    // alternation inside a group or a class is fine
    expect(() =>
      parsePolicy(
        `version: 1\nsigners:\n  - keyless: { issuer: https://x.example, identity: '^(?:a|b)[|]@x\\.com$' }\n`,
        'p',
      ),
    ).not.toThrow();
    expect(errorOf(`${MIN}require:\n  slsa: { builder: 'https://github.com/acme/.+' }\n`).message).toMatch(
      /^policy\.yaml:5: require\.slsa\.builder must be an anchored regex/,
    );
  });

  it('invalid regexes are refused, naming the line', () => {
    expect(errorOf(`${MIN}require:\n  slsa:\n    ref: '^refs/(heads$'\n`).message).toMatch(
      /^policy\.yaml:6: require\.slsa\.ref is not a valid regular expression: /,
    );
    expect(
      errorOf(
        `version: 1\nsigners:\n  - github: { repository: a/b, workflow: .github/workflows/r.yml, ref: 'refs/tags/(v' }\n`,
      ).message,
    ).toMatch(/^policy\.yaml:3: signers\[0\]\.github\.ref is not a valid regular expression/);
    expect(
      errorOf(
        `version: 1\nsigners:\n  - github: { repository: a/b, workflow: .github/workflows/r.yml, ref: 'x)|(y' }\n`,
      ).message,
    ).toMatch(/^policy\.yaml:3: signers\[0\]\.github\.ref is not a valid regular expression: .*Unmatched/);
  });

  it('minClass out of range is refused, naming the line', () => {
    for (const c of [0, 4, -1]) {
      expect(errorOf(`${MIN}require:\n  mof:\n    minClass: ${c}\n`).message).toBe(
        `policy.yaml:6: require.mof.minClass must be 1, 2 or 3 (1 = Class I, strictest; 3 = Class III), got ${c}`,
      );
    }
    expect(errorOf(`${MIN}require:\n  mof:\n    minClass: 1.5\n`).message).toBe(
      'policy.yaml:6: require.mof.minClass must be integer',
    );
  });

  it('unknown identifier families are refused, naming the line', () => {
    expect(errorOf(`${MIN}require:\n  artifact:\n    identifiers:\n      - cncf\n      - docker\n`).message).toBe(
      'policy.yaml:8: unknown identifier family "docker" in require.artifact.identifiers (known: cncf, cnai)',
    );
  });

  it('other semantic problems: licence in allow and deny, bad PEM, bad issuer', () => {
    expect(errorOf(`${MIN}require:\n  licenses: { allow: [MIT], deny: [mit] }\n`).message).toMatch(
      /^policy\.yaml:5: licence "MIT" is in both/,
    );
    expect(errorOf(`version: 1\nsigners:\n  - key: { pem: 'not a key' }\n`).message).toMatch(
      /^policy\.yaml:3: signers\[0\]\.key\.pem is not a PEM public key/,
    );
    expect(
      errorOf(`version: 1\nsigners:\n  - keyless: { issuer: accounts.google.com, identity: '^a$' }\n`).message,
    ).toMatch(/policy\.yaml:3: signers\[0\]\.keyless\.issuer must be/);
  });

  it('require.scan and require.sbom: unknown verdicts and formats, and a contradiction, name the line', () => {
    expect(errorOf(`${MIN}require:\n  scan: { deny: [dangerous] }\n`).message).toBe(
      'policy.yaml:5: require.scan.deny[0] must be one of: unsafe, unknown-format',
    );
    expect(errorOf(`${MIN}require:\n  sbom: [swid]\n`).message).toBe(
      'policy.yaml:5: require.sbom[0] must be one of: cyclonedx, spdx',
    );
    expect(errorOf(`${MIN}require:\n  sbom: []\n`).message).toMatch(/^policy\.yaml:5: require\.sbom /);
    expect(
      errorOf(`${MIN}require:\n  scan:\n    deny: [unknown-format]\n    allowUnknownFormats: true\n`).message,
    ).toBe(
      'policy.yaml:7: require.scan.allowUnknownFormats: true contradicts "unknown-format" in require.scan.deny: keep one',
    );
    expect(errorOf(`${MIN}require:\n  scan: { allow: [x] }\n`).message).toMatch(
      /unknown key "allow" in require\.scan \(allowed: deny, allowUnknownFormats\)/,
    );
  });

  it('errors carry a hint to docs/policy.md', () => {
    expect(errorOf('version: 1\n').hint).toContain('docs/policy.md');
  });
});

describe('githubIdentityRegex', () => {
  it('escapes literal refs and groups regex refs, dropping their own anchors', () => {
    const base = { repository: 'a/b.c', workflow: '.github/workflows/r.yml' };
    expect(githubIdentityRegex({ ...base, ref: 'refs/tags/v1.0' })).toBe(
      '^https://github\\.com/a/b\\.c/\\.github/workflows/r\\.yml@refs/tags/v1\\.0$',
    );
    expect(githubIdentityRegex({ ...base, ref: '^refs/(heads/main|tags/v.+)$' })).toBe(
      '^https://github\\.com/a/b\\.c/\\.github/workflows/r\\.yml@(?:refs/(heads/main|tags/v.+))$',
    );
  });
});

describe('loadPolicy and policyDigest', () => {
  it('loads a file, resolving paths against its directory, digest over the bytes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'policy-'));
    const file = join(dir, 'policy.yaml');
    await writeFile(file, FULL);
    const p = await loadPolicy(file);
    expect(p.source).toBe(file);
    expect(p.signers[3]).toMatchObject({ type: 'key', path: join(dir, 'keys/release.pub') });
    expect(p.trust.trustedRoot).toBe(join(dir, 'trusted_root.json'));
    expect(p.digest).toBe(policyDigest(Buffer.from(FULL)));
    expect(policyDigest(FULL)).toBe(policyDigest(Buffer.from(FULL)));
  });

  it('an unreadable file is INPUT', async () => {
    await expect(loadPolicy('/nonexistent/policy.yaml')).rejects.toMatchObject({
      code: 'INPUT',
      message: expect.stringContaining('cannot read policy /nonexistent/policy.yaml'),
    });
  });

  it('errors from a file name the file path and line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'policy-'));
    const file = join(dir, 'bad.yaml');
    await writeFile(file, `${MIN}extra: 1\n`);
    await expect(loadPolicy(file)).rejects.toMatchObject({
      code: 'INPUT',
      message: expect.stringContaining(`${file}:4: unknown key "extra"`),
    });
  });
});
