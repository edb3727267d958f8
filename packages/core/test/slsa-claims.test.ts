import { describe, expect, it } from '@jest/globals';
import { certificateBuildClaims, evaluateSlsa, repositoryMatches, type VerifiedSigner } from '@modelship/core';

describe('repositoryMatches: host + owner/name exactly, case-insensitively', () => {
  it.each([
    ['https://github.com/acme/models', 'acme/models', true],
    ['https://GitHub.com/Acme/MODELS', 'acme/models', true],
    ['https://acme.ghe.com/acme/models', 'acme.ghe.com/acme/models', true],
    ['https://github.com/evil/acme/models', 'acme/models', false],
    ['https://github.com/xacme/models', 'acme/models', false],
    ['https://github.com/acme/models-evil', 'acme/models', false],
    ['https://evil.example/acme/models', 'acme/models', false],
    ['https://github.com.evil.example/acme/models', 'acme/models', false],
    ['https://github.com/acme/models/', 'acme/models', false],
    ['https://github.com/acme/models.git', 'acme/models', false],
    ['https://github.com/acme/models?x=1', 'acme/models', false],
    ['https://github.com:443/acme/models', 'acme/models', false],
    ['https://user@github.com/acme/models', 'acme/models', false],
    ['https://github.com/acme/%6Dodels', 'acme/models', false],
    ['https://github.com/./models', './models', false],
    ['http://github.com/acme/models', 'acme/models', false],
    ['acme/models', 'acme/models', false],
    ['https://github.com/acme/models', 'acme.ghe.com/acme/models', false],
  ])('%s vs %s -> %s', (uri, expected, ok) => {
    expect(repositoryMatches(uri, expected)).toBe(ok);
  });
});

describe('certificateBuildClaims: the workflow path from the Build Config URI', () => {
  const base = {
    sourceRepositoryURI: 'https://github.com/acme/models',
    sourceRepositoryRef: 'refs/tags/pkg@1.0',
  };
  it('strips the repository and splits at the first "@" (a tag may contain "@")', () => {
    expect(
      certificateBuildClaims({
        ...base,
        buildConfigURI: 'https://github.com/acme/models/.github/workflows/release.yml@refs/tags/pkg@1.0',
      }),
    ).toMatchObject({ workflow: '.github/workflows/release.yml', configRef: 'refs/tags/pkg@1.0' });
  });
  it('a build config outside the source repository names no workflow', () => {
    const c = certificateBuildClaims({
      ...base,
      buildConfigURI: 'https://github.com/acme/models-evil/.github/workflows/release.yml@refs/heads/main',
    });
    expect(c.workflow).toBeUndefined();
  });
});

describe('evaluateSlsa', () => {
  const keyless = (extensions: VerifiedSigner['extensions']): VerifiedSigner => ({
    kind: 'keyless',
    subject: 'dev@example.com',
    issuer: 'https://accounts.example.com',
    extensions,
  });
  const predicate = {
    buildDefinition: {
      externalParameters: { workflow: { repository: 'https://github.com/acme/models', ref: 'refs/heads/main' } },
      internalParameters: { github: { runner_environment: 'github-hosted' } },
    },
  };
  it('a certificate without the platform claims (an e-mail identity) fails the constraints it cannot back', () => {
    expect(evaluateSlsa({ forbidSelfHosted: true, sourceRepository: 'acme/models' }, predicate, keyless({}))).toEqual({
      source: 'certificate',
      problems: [
        'the certificate has no source repository (1.3.6.1.4.1.57264.1.12)',
        'the certificate has no runner environment (1.3.6.1.4.1.57264.1.11)',
      ],
    });
  });
  it('a key signer is judged on the predicate; non-string fields are absent', () => {
    const key: VerifiedSigner = { kind: 'key', subject: 'key:ab', keyHint: 'ab', extensions: {} };
    expect(evaluateSlsa({ forbidSelfHosted: true, sourceRepository: 'acme/models' }, predicate, key)).toEqual({
      source: 'predicate',
      problems: [],
    });
    expect(
      evaluateSlsa(
        { forbidSelfHosted: true },
        { buildDefinition: { internalParameters: { github: { runner_environment: ['github-hosted'] } } } },
        key,
      ).problems,
    ).toEqual(['the provenance names no runner environment']);
    // An untrusted predicate need not be an object at all.
    expect(evaluateSlsa({ forbidSelfHosted: false }, null, key)).toEqual({ source: 'predicate', problems: [] });
    expect(evaluateSlsa({ forbidSelfHosted: true }, 'x', key).problems).toEqual([
      'the provenance names no runner environment',
    ]);
  });

  describe("modelSource: the provenance's model-source dependency, as the signer wrote it", () => {
    const key: VerifiedSigner = { kind: 'key', subject: 'key:ab', keyHint: 'ab', extensions: {} };
    const SHA = '0123456789abcdef0123456789abcdef01234567';
    const withSource = (uri: string, digest?: Record<string, string>): unknown => ({
      buildDefinition: { resolvedDependencies: [{ name: 'model-source', uri, ...(digest ? { digest } : {}) }] },
    });
    const pinned = withSource(`git+https://huggingface.co/Acme/Tiny@${SHA}`, { gitCommit: SHA });
    const req = (modelSource: { repository: string; commits?: string[] }) => ({ forbidSelfHosted: false, modelSource });

    it('hf://ORG/NAME is the huggingface.co repository, at a pinned commit, any of the listed ones', () => {
      expect(evaluateSlsa(req({ repository: 'hf://acme/tiny' }), pinned, key).problems).toEqual([]);
      expect(evaluateSlsa(req({ repository: 'hf://acme/tiny', commits: [SHA] }), pinned, key).problems).toEqual([]);
      expect(evaluateSlsa(req({ repository: 'https://huggingface.co/acme/tiny.git' }), pinned, key).problems).toEqual(
        [],
      );
      // Checked for keyless signers too: no certificate extension says where the model came from.
      expect(evaluateSlsa(req({ repository: 'hf://acme/tiny' }), pinned, keyless({})).problems).toEqual([]);
    });

    it('another repository, another commit, an unpinned or absent source fail, each named', () => {
      expect(evaluateSlsa(req({ repository: 'hf://acme/other' }), pinned, key).problems).toEqual([
        'model source https://huggingface.co/Acme/Tiny is not hf://acme/other',
      ]);
      expect(
        evaluateSlsa(req({ repository: 'hf://acme/tiny', commits: ['f'.repeat(40)] }), pinned, key).problems,
      ).toEqual([`model source commit ${SHA} is not one the policy allows (${'f'.repeat(40)})`]);
      expect(
        evaluateSlsa(
          req({ repository: 'hf://acme/tiny' }),
          withSource('git+https://huggingface.co/acme/tiny@main'),
          key,
        ).problems,
      ).toEqual(['model source https://huggingface.co/acme/tiny is not pinned to a commit (revision main)']);
      // A digest that does not name the revision in the URI is no pin either.
      expect(
        evaluateSlsa(
          req({ repository: 'hf://acme/tiny' }),
          withSource(`git+https://huggingface.co/acme/tiny@main`, { gitCommit: SHA }),
          key,
        ).problems,
      ).toEqual(['model source https://huggingface.co/acme/tiny is not pinned to a commit (revision main)']);
      expect(evaluateSlsa(req({ repository: 'hf://acme/tiny' }), { buildDefinition: {} }, key).problems).toEqual([
        'the provenance names no model source (resolved dependency "model-source")',
      ]);
      expect(evaluateSlsa(req({ repository: 'hf://acme/tiny' }), null, key).problems).toHaveLength(1);
    });
  });
});
