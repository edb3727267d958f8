import { describe, expect, it } from '@jest/globals';
import { isCelList, run, type CelValue } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ModelshipError } from '../src/errors.js';
import {
  exportPolicy,
  loadExportInputs,
  type ExportPolicyOptions,
  type ExportTarget,
  type PolicyExport,
} from '../src/policy/export.js';
import { githubIdentityRegex, loadPolicy, parsePolicy } from '../src/policy/parse.js';
import { toRe2 } from '../src/policy/re2.js';
import { GITHUB_ACTIONS_ISSUER, type Policy } from '../src/policy/types.js';
import { parseK8sManifests } from '../src/verify/model-refs.js';
import { crdErrors } from './crd-schemas.js';

const COSIGN_SIGN = 'https://sigstore.dev/cosign/sign/v1';
const SLSA = 'https://slsa.dev/provenance/v1';
const MOF = 'https://modelship.dev/attestations/mof/v0.1';
const MODELS = 'ghcr.io/acme/models/**';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function newKeyPem(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .publicKey.export({ type: 'spki', format: 'pem' })
    .toString();
}

const indent = (pem: string, n: number) => pem.trimEnd().replace(/\n/g, `\n${' '.repeat(n)}`);

const CRD_OF: Record<string, 'clusterPolicy' | 'imageValidatingPolicy' | 'clusterImagePolicy'> = {
  ClusterPolicy: 'clusterPolicy',
  ImageValidatingPolicy: 'imageValidatingPolicy',
  ClusterImagePolicy: 'clusterImagePolicy',
};

/** Exports, then checks every document against its project's CRD and the YAML text against the objects. */
function exported(policy: Policy, to: ExportTarget, extra: Partial<ExportPolicyOptions> = {}): PolicyExport {
  const r = exportPolicy(policy, {
    to,
    keyPems: new Map(),
    ...(to === 'kyverno' ? {} : { images: [MODELS] }),
    ...extra,
  });
  for (const d of r.documents) expect([d.kind, crdErrors(CRD_OF[d.kind as string]!, d)]).toEqual([d.kind, []]);
  expect(parseAllDocuments(r.yaml).map((d) => d.toJS())).toEqual(r.documents);
  return r;
}

function inputError(f: () => unknown): ModelshipError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ModelshipError);
    return e as ModelshipError;
  }
  throw new Error('expected an error');
}

function re2(source: string): string {
  const r = toRe2(source);
  if (!r.ok) throw new Error(r.reason);
  return r.re2;
}

const KEYLESS = `version: 1
signers:
  - keyless: { issuer: https://accounts.google.com, identity: '^release@acme\\.com$' }
`;
const GITHUB = `version: 1
signers:
  - github: { repository: acme/models, workflow: .github/workflows/release.yml, ref: 'refs/tags/v.+' }
`;

describe('policy export: the CRD schemas as a cluster applies them', () => {
  it('rejects a misspelt field, a value outside an enum and another API version', () => {
    const p = parsePolicy(KEYLESS, 'policy.yaml');
    const cpol = exported(p, 'kyverno').documents[0]!;
    const ivp = exported(p, 'kyverno-ivp').documents[0]!;
    const cip = exported(p, 'policy-controller').documents[0]!;

    const typo = structuredClone(cpol) as Obj;
    const entry = typo.spec.rules[0].verifyImages[0].attestations[0].attestors[0].entries[0].keyless;
    entry.subjectRegexp = entry.subjectRegExp;
    delete entry.subjectRegExp;
    expect(crdErrors('clusterPolicy', typo)).toContainEqual(expect.stringContaining('(subjectRegexp)'));

    const badEnum = structuredClone(cpol) as Obj;
    badEnum.spec.rules[0].verifyImages[0].type = 'SigstoreBundles';
    expect(crdErrors('clusterPolicy', badEnum)).toContainEqual(expect.stringContaining('allowed values'));

    const v2 = { ...structuredClone(cpol), apiVersion: 'kyverno.io/v2beta1' };
    expect(crdErrors('clusterPolicy', v2)).toContainEqual(expect.stringContaining('constant'));

    const ivpTypo = structuredClone(ivp) as Obj;
    ivpTypo.spec.matchImageReference = ivpTypo.spec.matchImageReferences;
    expect(crdErrors('imageValidatingPolicy', ivpTypo)).toContainEqual(
      expect.stringContaining('(matchImageReference)'),
    );

    const cipTypo = structuredClone(cip) as Obj;
    cipTypo.spec.authorities[0].signatureformat = 'bundle';
    expect(crdErrors('clusterImagePolicy', cipTypo)).toContainEqual(expect.stringContaining('(signatureformat)'));
    const cipType = structuredClone(cip) as Obj;
    cipType.spec.authorities[0].keyless.identities = { issuer: 'x' };
    expect(crdErrors('clusterImagePolicy', cipType)).toContainEqual(expect.stringContaining('must be array'));
  });
});

describe('policy export', () => {
  it('key signer: the SPKI from the key file, once however often listed, verified without a log entry as modelship does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ms-export-'));
    const pem = newKeyPem();
    await writeFile(join(dir, 'release.pub'), pem);
    await writeFile(
      join(dir, 'policy.yaml'),
      `version: 1\nsigners:\n  - key: { path: release.pub }\n  - key:\n      pem: |\n        ${indent(pem, 8)}\n`,
    );
    const policy = await loadPolicy(join(dir, 'policy.yaml'));
    const inputs = await loadExportInputs(policy, 'kyverno');
    const same = (a: unknown) => createPublicKey(a as string).equals(createPublicKey(pem));

    const cpol = exported(policy, 'kyverno', inputs).documents[0] as Obj;
    for (const rule of cpol.spec.rules) {
      const sig = rule.verifyImages[0].attestations[0];
      expect(sig.type).toBe(COSIGN_SIGN);
      expect(sig.attestors).toHaveLength(1);
      expect(sig.attestors[0].count).toBe(1);
      expect(sig.attestors[0].entries).toHaveLength(1); // the same key by path and by pem is one signer
      const keys = sig.attestors[0].entries[0].keys;
      expect(same(keys.publicKeys)).toBe(true);
      expect(keys.rekor.ignoreTlog).toBe(true);
      expect(keys.ctlog.ignoreSCT).toBe(true);
    }

    const ivp = exported(policy, 'kyverno-ivp', inputs).documents[0] as Obj;
    expect(ivp.spec.attestors).toHaveLength(1);
    expect(same(ivp.spec.attestors[0].cosign.key.data)).toBe(true);
    expect(ivp.spec.attestors[0].cosign.ctlog).toEqual({ insecureIgnoreTlog: true, insecureIgnoreSCT: true });

    const e = inputError(() => exported(policy, 'policy-controller', inputs));
    expect(e.code).toBe('INPUT');
    expect(e.message).toMatch(/policy-controller cannot verify key-signed/);

    // Beside a keyless signer, policy-controller leaves the key out and says so.
    await writeFile(
      join(dir, 'mixed.yaml'),
      `version: 1\nsigners:\n  - key: { path: release.pub }\n  - github: { repository: acme/models, workflow: .github/workflows/release.yml, ref: refs/heads/main }\n`,
    );
    const mixed = await loadPolicy(join(dir, 'mixed.yaml'));
    const r = exported(mixed, 'policy-controller', await loadExportInputs(mixed, 'policy-controller'));
    expect((r.documents[0] as Obj).spec.authorities).toHaveLength(1);
    expect(r.warnings).toContainEqual(
      expect.stringMatching(/^key signers left out \(mixed\.yaml:3 key release\.pub\)/),
    );
    expect(r.yaml).toContain('# - key signers left out');
  });

  it('keyless signer: the exact issuer and the identity regex as RE2, in every target', () => {
    const p = parsePolicy(KEYLESS, 'policy.yaml');
    const want = { issuer: 'https://accounts.google.com', subjectRegExp: '^release@acme\\.com$' };
    const cpol = exported(p, 'kyverno').documents[0] as Obj;
    const keyless = cpol.spec.rules[0].verifyImages[0].attestations[0].attestors[0].entries[0].keyless;
    expect(keyless).toEqual({ ...want, rekor: { url: 'https://rekor.sigstore.dev' } });
    const ivp = exported(p, 'kyverno-ivp').documents[0] as Obj;
    expect(ivp.spec.attestors[0].cosign.keyless.identities).toEqual([want]);
    // docs/kubernetes.md: the same document is a valid v1beta1 one, for Kyverno releases without v1.
    expect(crdErrors('imageValidatingPolicyV1beta1', { ...ivp, apiVersion: 'policies.kyverno.io/v1beta1' })).toEqual(
      [],
    );
    const cip = exported(p, 'policy-controller').documents[0] as Obj;
    expect(cip.spec.authorities[0]).toEqual({
      name: 'signer1',
      keyless: { url: 'https://fulcio.sigstore.dev', identities: [want] },
      signatureFormat: 'bundle',
      attestations: [{ name: 'signature', predicateType: COSIGN_SIGN }],
    });
    expect(cip.spec.images).toEqual([{ glob: MODELS }]);
  });

  it('github shorthand: the Actions issuer and the anchored workflow identity', () => {
    const p = parsePolicy(GITHUB, 'policy.yaml');
    const id = re2(
      githubIdentityRegex({
        repository: 'acme/models',
        workflow: '.github/workflows/release.yml',
        ref: 'refs/tags/v.+',
      }),
    );
    expect(id).toMatch(/^\^https:\/\/github\\\.com\/acme\/models\/.*\$$/);
    const want = { issuer: GITHUB_ACTIONS_ISSUER, subjectRegExp: id };
    const cpol = exported(p, 'kyverno').documents[0] as Obj;
    const entry = cpol.spec.rules[0].verifyImages[0].attestations[0].attestors[0].entries[0].keyless;
    expect({ issuer: entry.issuer, subjectRegExp: entry.subjectRegExp }).toEqual(want);
    expect((exported(p, 'kyverno-ivp').documents[0] as Obj).spec.attestors[0].cosign.keyless.identities).toEqual([
      want,
    ]);
    expect((exported(p, 'policy-controller').documents[0] as Obj).spec.authorities[0].keyless.identities).toEqual([
      want,
    ]);
    expect(exported(p, 'kyverno').yaml).toContain(
      'policy.yaml:3 github acme/models .github/workflows/release.yml@refs/tags/v.+',
    );
  });

  it('required predicates (with those slsa and mof imply): one check each, any trusted signer; the rest is warned about', () => {
    const p = parsePolicy(
      `version: 1
signers:
  - keyless: { issuer: https://accounts.google.com, identity: '^release@acme\\.com$' }
  - keyless: { issuer: https://accounts.google.com, identity: '^ops@acme\\.com$' }
require:
  predicates: [https://example.com/eval/v1]
  slsa: { sourceRepository: acme/models, forbidSelfHosted: true }
  mof: { minClass: 2 }
  licenses: { allow: [MIT] }
  artifact: { identifiers: [cncf] }
  scan: {}
`,
      'policy.yaml',
    );
    const predicates = ['https://example.com/eval/v1', SLSA, MOF, 'https://modelship.dev/attestations/scan/v0.1'];

    const k = exported(p, 'kyverno');
    const atts = (k.documents[0] as Obj).spec.rules[0].verifyImages[0].attestations;
    expect(atts.map((a: Obj) => a.type)).toEqual([COSIGN_SIGN, ...predicates]);
    for (const a of atts.slice(1)) {
      expect(a.attestors[0].count).toBe(1); // any one trusted signer
      expect(a.attestors[0].entries).toHaveLength(2);
    }

    const ivp = exported(p, 'kyverno-ivp').documents[0] as Obj;
    expect(ivp.spec.attestations.map((a: Obj) => a.intoto.type)).toEqual([COSIGN_SIGN, ...predicates]);
    expect(ivp.spec.validations.map((v: Obj) => v.expression)).toEqual([
      '(images.modelVolumes + images.kserveModels).all(i, verifyAttestationSignatures(i, attestations.signatures, [attestors.signer1, attestors.signer2]) >= 1)',
      ...predicates.map(
        (_, i) =>
          `(images.modelVolumes + images.kserveModels).all(i, verifyAttestationSignatures(i, attestations.predicate${i + 1}, [attestors.signer1, attestors.signer2]) >= 1)`,
      ),
    ]);

    // policy-controller: every matching ClusterImagePolicy must pass, authorities within one are OR'ed.
    const cips = exported(p, 'policy-controller').documents as Obj[];
    expect(cips.map((c) => c.metadata.name)).toEqual([
      'modelship-policy-signatures',
      'modelship-policy-predicate-1',
      'modelship-policy-predicate-2',
      'modelship-policy-predicate-3',
      'modelship-policy-predicate-4',
    ]);
    expect(cips.map((c) => c.spec.authorities.map((a: Obj) => a.attestations[0].predicateType))).toEqual([
      [COSIGN_SIGN, COSIGN_SIGN],
      ...predicates.map((t) => [t, t]),
    ]);
    expect(cips.every((c) => c.spec.policy === undefined)).toBe(true);

    for (const to of ['kyverno', 'kyverno-ivp', 'policy-controller'] as const) {
      const w = exported(p, to).warnings;
      expect(w).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^require\.slsa\.sourceRepository, require\.slsa\.forbidSelfHosted not checked/),
          expect.stringMatching(/^require\.mof\.minClass 2 not checked/),
          expect.stringMatching(/^require\.licenses not checked/),
          expect.stringMatching(/^require\.artifact not checked/),
          expect.stringMatching(
            /^require\.scan verdicts not checked: admission only requires a model scan attestation/,
          ),
        ]),
      );
    }
  });

  it('the image extractors pick the model references the PR check finds, and no container image', () => {
    const manifests = `apiVersion: v1
kind: Pod
metadata: { name: llama }
spec:
  containers: [{ name: server, image: vllm/vllm-openai@sha256:${'c'.repeat(64)} }]
  volumes:
    - { name: model, image: { reference: 'ghcr.io/acme/models/llama@sha256:${'1'.repeat(64)}' } }
    - { name: cache, emptyDir: {} }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: d }
spec:
  template:
    spec:
      containers: [{ name: s, image: nginx }]
      volumes: [{ name: m, image: { reference: 'ghcr.io/acme/models/d@sha256:${'2'.repeat(64)}' } }]
---
apiVersion: batch/v1
kind: CronJob
metadata: { name: c }
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{ name: s, image: busybox }]
          volumes: [{ name: m, image: { reference: 'ghcr.io/acme/models/c@sha256:${'3'.repeat(64)}' } }]
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: { name: native }
spec: { predictor: { model: { storageUri: 'oci+native://ghcr.io/acme/models/k@sha256:${'4'.repeat(64)}' } } }
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: { name: modelcar }
spec: { predictor: { model: { storageUri: 'oci://ghcr.io/acme/models/m@sha256:${'5'.repeat(64)}' } } }
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: { name: s3 }
spec: { predictor: { model: { storageUri: 's3://bucket/model' } } }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: x }
data: { a: b }
`;
    const objects = parseAllDocuments(manifests).map((d) => d.toJS() as Obj);
    const prCheck = parseK8sManifests(manifests, 'm.yaml')
      .map((r) => r.reference)
      .sort();
    expect(prCheck).toHaveLength(5);
    const p = parsePolicy(KEYLESS, 'policy.yaml');

    // Kyverno ClusterPolicy: a re-implementation of Kyverno's extractor walk
    // (pkg/utils/api/image.go extract/lookupImageExtractor: the path's segments, `*` for every
    // element, then `value` in the map reached) and of the rule's precondition (AnyIn, its
    // wildcard patterns) and JMESPath (nested trim_prefix).
    const cpol = exported(p, 'kyverno').documents[0] as Obj;
    const walk = (o: unknown, fields: string[], value: string, out: string[]): void => {
      if (o === null || o === undefined) return;
      if (fields[0] === '*') {
        for (const v of Array.isArray(o) ? o : Object.values(o as Obj)) walk(v, fields.slice(1), value, out);
        return;
      }
      const m = o as Obj;
      if (fields.length === 0) {
        if (typeof m[value] === 'string' && m[value].trim() !== '') out.push(m[value]);
        return;
      }
      walk(m[fields[0]!], fields.slice(1), value, out);
    };
    const trimPrefix = (expr: string, v: string): string => {
      if (expr === '@') return v;
      const m = /^trim_prefix\((.*), '([^']*)'\)$/.exec(expr);
      if (!m) throw new Error(`unexpected JMESPath ${expr}`);
      const inner = trimPrefix(m[1]!, v);
      return inner.startsWith(m[2]!) ? inner.slice(m[2]!.length) : inner;
    };
    const kindMatches = (kinds: string[], o: Obj) =>
      kinds.some((k) => k === o.kind || k === `${o.apiVersion}/${o.kind}`);
    const viaKyverno: string[] = [];
    for (const o of objects)
      for (const rule of cpol.spec.rules) {
        if (!kindMatches(rule.match.any[0].resources.kinds, o)) continue;
        const pre = rule.preconditions?.all ?? [];
        const ok = pre.every((c: Obj) => {
          expect(c.key).toBe("{{ request.object.spec.predictor.model.storageUri || '' }}");
          expect(c.operator).toBe('AnyIn');
          const v: string = o.spec?.predictor?.model?.storageUri ?? '';
          return (c.value as string[]).some((pat) => pat.endsWith('*') && v.startsWith(pat.slice(0, -1)));
        });
        if (!ok) continue;
        for (const x of rule.imageExtractors[o.kind] ?? []) {
          const fields = (x.path as string)
            .split('/')
            .map((s) => s.trim())
            .filter((s) => s !== '');
          const value = x.value ?? fields.pop()!;
          const found: string[] = [];
          walk(o, fields, value, found);
          viaKyverno.push(...found.map((f) => (x.jmesPath ? trimPrefix(x.jmesPath, f) : f)));
        }
      }
    expect(viaKyverno.sort()).toEqual(prCheck);

    // ImageValidatingPolicy: its CEL image expressions, evaluated by a CEL implementation
    // (@bufbuild/cel, with the strings extension Kubernetes' CEL environment has).
    const ivp = exported(p, 'kyverno-ivp').documents[0] as Obj;
    const toCel = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(toCel)
        : v && typeof v === 'object'
          ? new Map(Object.entries(v).map(([k, x]) => [k, toCel(x)]))
          : v;
    const strs = (v: CelValue | Error): string[] => {
      if (v instanceof Error) throw v;
      if (!isCelList(v)) throw new Error('not a list');
      return [...v].map(String);
    };
    const matched = new Set(['Pod', 'Deployment', 'CronJob', 'InferenceService']);
    const viaCel: string[] = [];
    for (const o of objects) {
      if (!matched.has(o.kind)) continue;
      for (const x of ivp.spec.images)
        viaCel.push(...strs(run(x.expression, { object: toCel(o) as Map<string, never> }, { funcs: strings })));
    }
    expect(viaCel.sort()).toEqual(prCheck);
    expect(ivp.spec.images.map((x: Obj) => x.name)).toEqual(['modelVolumes', 'kserveModels']);
  });

  it('notation signers are left out with a warning, and a policy only they can meet is refused', () => {
    const mixed = parsePolicy(
      `version: 1
signers:
  - keyless: { issuer: https://accounts.google.com, identity: '^release@acme\\.com$' }
  - notation: { trustStore: truststore/acme-ca.pem, identities: ['x509.subject: C=US, ST=WA, O=acme'] }
`,
      'policy.yaml',
    );
    for (const to of ['kyverno', 'kyverno-ivp', 'policy-controller'] as const) {
      const r = exported(mixed, to);
      expect(r.warnings[0]).toBe(
        'notation signers left out (policy.yaml:4 notation acme-ca.pem): the exported policy verifies Sigstore bundles only, so models signed only with Notation are rejected; Notation signatures need a verifier of their own (Ratify, or Kyverno verifyImages type: Notary), which cannot count toward the same minSignatures',
      );
      expect(r.yaml).toContain('# - notation signers left out (policy.yaml:4');
      expect(JSON.stringify(r.documents)).not.toContain('acme-ca');
    }
    const only = parsePolicy(
      "version: 1\nsigners:\n  - notation: { trustStore: ca.pem, identities: ['*'] }\n",
      'policy.yaml',
    );
    const e = inputError(() => exportPolicy(only, { to: 'kyverno', keyPems: new Map() }));
    expect(e.code).toBe('INPUT');
    expect(e.message).toBe(
      'policy.yaml: minSignatures 1 is more than its 0 distinct signer(s) the export can verify (notation signers are not exported), so no artifact can meet it',
    );
    expect(e.hint).toMatch(/modelship verify/);
  });

  it('refuses an identity regex Go cannot take, naming the policy line', () => {
    const p = parsePolicy(
      `version: 1
signers:
  - keyless: { issuer: https://accounts.google.com, identity: '^(?!evil)[a-z]+@acme\\.com$' }
`,
      'policy.yaml',
    );
    for (const to of ['kyverno', 'kyverno-ivp', 'policy-controller'] as const) {
      const e = inputError(() => exportPolicy(p, { to, keyPems: new Map(), images: [MODELS] }));
      expect(e.code).toBe('INPUT');
      expect(e.message).toContain(
        'policy.yaml:3: the identity regex "^(?!evil)[a-z]+@acme\\\\.com$" cannot be exported',
      );
      expect(e.message).toContain('negative lookahead');
      expect(e.hint).toMatch(/RE2/);
    }
  });

  it('minSignatures 2: Kyverno count, CEL threshold, policy-controller CUE bound; the double-count caveat is warned', () => {
    const two = `version: 1
signers:
  - keyless: { issuer: https://accounts.google.com, identity: '^release@acme\\.com$' }
  - github: { repository: acme/models, workflow: .github/workflows/release.yml, ref: refs/heads/main }
  - keyless: { issuer: https://accounts.google.com, identity: '^release@acme\\.com$' }
minSignatures: 2
`;
    const p = parsePolicy(two, 'policy.yaml');
    const k = exported(p, 'kyverno');
    const sig = (k.documents[0] as Obj).spec.rules[0].verifyImages[0].attestations[0];
    expect(sig.attestors[0].count).toBe(2);
    expect(sig.attestors[0].entries).toHaveLength(2); // the repeated identity counts once
    expect(k.warnings[0]).toMatch(/^minSignatures 2: Kyverno counts the signer entries that verified/);

    const ivp = exported(p, 'kyverno-ivp');
    expect((ivp.documents[0] as Obj).spec.validations[0].expression).toMatch(
      /\[attestors\.signer1, attestors\.signer2\]\) >= 2\)$/,
    );
    expect(ivp.warnings[0]).toMatch(/^minSignatures 2/);

    const pc = exported(p, 'policy-controller');
    const cip = pc.documents[0] as Obj;
    expect(cip.spec.authorities).toHaveLength(2);
    expect(cip.spec.policy).toEqual({
      type: 'cue',
      data: 'import "struct"\n\nauthorityMatches: struct.MinFields(2)\n',
    });
    expect(pc.warnings[0]).toMatch(/^minSignatures 2: policy-controller counts/);
    expect(pc.yaml).toContain('# - minSignatures 2');

    const three = parsePolicy(two.replace('minSignatures: 2', 'minSignatures: 3'), 'policy.yaml');
    const e = inputError(() => exportPolicy(three, { to: 'kyverno', keyPems: new Map() }));
    expect(e.message).toContain('minSignatures 3 is more than its 2 distinct signer(s)');
  });

  it('trust: the ImageValidatingPolicy embeds the pinned root or the TUF repository; the others say what to configure', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ms-export-trust-'));
    const rootJson = '{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}';
    await writeFile(join(dir, 'trusted_root.json'), rootJson);
    await writeFile(join(dir, 'root.json'), '{"signed":{}}');
    await writeFile(
      join(dir, 'pinned.yaml'),
      `${KEYLESS}trust: { trustedRoot: trusted_root.json, requireTlog: false }\n`,
    );
    await writeFile(
      join(dir, 'tuf.yaml'),
      `${GITHUB}trust: { tufMirror: 'https://tuf-repo.github.com', tufRoot: root.json }\n`,
    );
    const pinned = await loadPolicy(join(dir, 'pinned.yaml'));
    const ivp = exported(pinned, 'kyverno-ivp', await loadExportInputs(pinned, 'kyverno-ivp')).documents[0] as Obj;
    expect(ivp.spec.attestors[0].cosign.trustedRoot).toEqual({ value: rootJson });
    expect(ivp.spec.attestors[0].cosign.ctlog).toEqual({ insecureIgnoreTlog: true });
    const cpol = exported(pinned, 'kyverno');
    expect(cpol.warnings).toContainEqual(
      expect.stringMatching(/^trust\.trustedRoot cannot be given to a ClusterPolicy/),
    );
    expect(cpol.warnings).toContainEqual(expect.stringMatching(/^trust\.requireTlog false/));
    expect(
      (cpol.documents[0] as Obj).spec.rules[0].verifyImages[0].attestations[0].attestors[0].entries[0].keyless.rekor,
    ).toEqual({ url: 'https://rekor.sigstore.dev', ignoreTlog: true });

    const tuf = await loadPolicy(join(dir, 'tuf.yaml'));
    const ivp2 = exported(tuf, 'kyverno-ivp', await loadExportInputs(tuf, 'kyverno-ivp')).documents[0] as Obj;
    expect(ivp2.spec.attestors[0].cosign.tuf).toEqual({
      mirror: 'https://tuf-repo.github.com',
      root: { data: Buffer.from('{"signed":{}}').toString('base64') },
    });
    expect(exported(tuf, 'kyverno').warnings).toContainEqual(
      'trust.tufMirror: start Kyverno with --tufMirror=https://tuf-repo.github.com --tufRoot=<root.json>; a ClusterPolicy cannot name its own TUF repository',
    );
    const pc = exported(tuf, 'policy-controller');
    expect(pc.warnings).toContainEqual(expect.stringMatching(/create a policy-controller TrustRoot resource/));
    const ref = exported(tuf, 'policy-controller', { trustRootRef: 'github' });
    expect((ref.documents[0] as Obj).spec.authorities[0].keyless.trustRootRef).toBe('github');
    expect(ref.warnings.some((w) => w.includes('TrustRoot'))).toBe(false);
  });

  it('refuses options a target cannot use', () => {
    const p = parsePolicy(KEYLESS, 'policy.yaml');
    for (const to of ['kyverno-ivp', 'policy-controller'] as const)
      expect(inputError(() => exportPolicy(p, { to, keyPems: new Map() })).message).toMatch(
        /selects images by name, container images included/,
      );
    expect(
      inputError(() => exportPolicy(p, { to: 'policy-controller', keyPems: new Map(), images: ['ghcr.io/{a,b}/**'] }))
        .message,
    ).toMatch(/policy-controller globs do not allow/);
    expect(inputError(() => exportPolicy(p, { to: 'kyverno', keyPems: new Map(), name: 'Bad_Name' })).code).toBe(
      'USAGE',
    );
    expect(inputError(() => exportPolicy(p, { to: 'kyverno', keyPems: new Map(), trustRootRef: 'x' })).message).toMatch(
      /policy-controller only/,
    );
    expect((exported(p, 'kyverno').documents[0] as Obj).spec.rules[0].verifyImages[0].imageReferences).toEqual(['*']);
  });
});
