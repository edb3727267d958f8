import { describe, expect, it } from '@jest/globals';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelshipError } from '../src/errors.js';
import { parsePolicy } from '../src/policy/parse.js';
import {
  escapeWorkflowData,
  escapeWorkflowProperty,
  findModelRefsInList,
  findModelRefsInManifests,
  githubAnnotation,
  isPinnedByDigest,
  modelRefAnnotations,
  parseK8sManifests,
  parseModelRefsList,
  verifyModelRefs,
} from '../src/verify/model-refs.js';

const D1 = `sha256:${'a'.repeat(64)}`;
const D2 = `sha256:${'b'.repeat(64)}`;

describe('model reference list files', () => {
  it('one reference per line; comments and blank lines ignored; line and column as written', () => {
    const text = [
      '# models deployed to prod',
      '',
      `ghcr.io/acme/llm@${D1}`,
      `   registry.example.com:5000/m/x@${D2}   # indented, trailing comment`,
      '\t# tab comment',
      'oci:./layout#1@' + D1,
    ].join('\r\n');
    const refs = parseModelRefsList(text, 'models.txt');
    expect(refs.map((r) => [r.reference, r.line, r.column])).toEqual([
      [`ghcr.io/acme/llm@${D1}`, 3, 1],
      [`registry.example.com:5000/m/x@${D2}`, 4, 4],
      [`oci:./layout#1@${D1}`, 6, 1],
    ]);
    expect(refs[0]).toMatchObject({ file: 'models.txt', source: 'list', where: 'list entry' });
  });

  it('two words on one line are an INPUT error naming file:line', () => {
    expect(() => parseModelRefsList(`a@${D1}\nfoo bar\n`, 'list.txt')).toThrow(/list\.txt:2: "foo bar" is not one/);
  });

  it('reads a file line by line, same result as parsing the text', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'refs-'));
    const text = `# c\nx.io/a@${D1}\n\n  x.io/b:v1\n`;
    await writeFile(join(dir, 'l.txt'), text);
    expect(await findModelRefsInList(join(dir, 'l.txt'))).toEqual(parseModelRefsList(text, join(dir, 'l.txt')));
    await expect(findModelRefsInList(join(dir, 'missing.txt'))).rejects.toMatchObject({
      code: 'INPUT',
      message: expect.stringContaining('missing.txt'),
    });
  });
});

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: llm
spec:
  template:
    spec:
      containers:
        - name: server
          image: ghcr.io/acme/server:1.0
          volumeMounts: [{ name: model, mountPath: /models }]
      volumes:
        - name: model
          image:
            reference: ghcr.io/acme/llm@${D1}
            pullPolicy: IfNotPresent
        - name: cache
          emptyDir: {}
`;

describe('Kubernetes manifests', () => {
  it('finds ImageVolume references with positions, not container images', () => {
    const refs = parseK8sManifests(DEPLOYMENT, 'k8s/llm.yaml');
    expect(refs).toEqual([
      {
        reference: `ghcr.io/acme/llm@${D1}`,
        file: 'k8s/llm.yaml',
        line: 15,
        column: 24,
        where: 'Deployment/llm volumes[model]',
        source: 'image-volume',
      },
    ]);
  });

  it('covers Pods, pod templates of every workload kind, CronJobs, Lists and multi-document files', () => {
    const vol = (ref: string, indent: string): string =>
      `${indent}volumes:\n${indent}  - name: m\n${indent}    image: { reference: "${ref}" }\n`;
    const docs = [
      `kind: Pod\nmetadata: { name: p }\nspec:\n${vol('x.io/pod@' + D1, '  ')}`,
      ...['StatefulSet', 'DaemonSet', 'Job', 'ReplicaSet'].map(
        (k) =>
          `kind: ${k}\nmetadata: { name: w }\nspec:\n  template:\n    spec:\n${vol(`x.io/${k.toLowerCase()}@${D1}`, '      ')}`,
      ),
      `kind: CronJob\nmetadata: { name: c }\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n${vol('x.io/cron@' + D1, '          ')}`,
      `apiVersion: v1\nkind: List\nitems:\n  - kind: Pod\n    metadata: { name: in-list }\n    spec:\n${vol('x.io/listed@' + D1, '      ')}`,
      `kind: Rollout\nmetadata: { name: r }\nspec:\n  template:\n    spec:\n${vol('x.io/rollout@' + D1, '      ')}`,
    ].join('---\n');
    const refs = parseK8sManifests(docs, 'all.yaml');
    expect(refs.map((r) => `${r.where} ${r.reference.split('@')[0]}`)).toEqual([
      'Pod/p volumes[m] x.io/pod',
      'StatefulSet/w volumes[m] x.io/statefulset',
      'DaemonSet/w volumes[m] x.io/daemonset',
      'Job/w volumes[m] x.io/job',
      'ReplicaSet/w volumes[m] x.io/replicaset',
      'CronJob/c volumes[m] x.io/cron',
      'Pod/in-list volumes[m] x.io/listed',
      'Rollout/r volumes[m] x.io/rollout',
    ]);
    // Every line number points at the reference itself.
    const lines = docs.split('\n');
    for (const r of refs) expect(lines[r.line - 1]!.slice(r.column - 1)).toMatch(/^"x\.io\//);
  });

  it('finds KServe oci storageUris (scheme dropped), ignores other schemes', () => {
    const isvc = `apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: { name: sk }
spec:
  predictor:
    model:
      modelFormat: { name: huggingface }
      storageUri: oci+native://ghcr.io/acme/llm@${D2}
  transformer:
    containers: [{ name: t, image: x.io/t:1 }]
---
kind: InferenceService
metadata: { name: s3 }
spec: { predictor: { model: { storageUri: "s3://bucket/model" } } }
`;
    const refs = parseK8sManifests(isvc, 'isvc.yaml');
    expect(refs).toEqual([
      expect.objectContaining({
        reference: `ghcr.io/acme/llm@${D2}`,
        line: 8,
        column: 19,
        source: 'kserve',
        where: 'InferenceService/sk storageUri',
      }),
    ]);
  });

  it('follows anchors and merge keys to the place the reference is written', () => {
    const text = `x-model: &model
  reference: x.io/anchored@${D1}
---
kind: Pod
metadata: { name: a }
spec:
  volumes:
    - name: m
      image: *model
`;
    const refs = parseK8sManifests(text.replace(/^x-model.*\n.*\n---\n/, ''), 'a.yaml');
    expect(refs).toEqual([]);
    const one = `kind: Pod
metadata: { name: a }
x-base: &base { reference: x.io/anchored@${D1} }
spec:
  volumes:
    - name: m
      image: *base
`;
    expect(parseK8sManifests(one, 'a.yaml')).toEqual([
      expect.objectContaining({ reference: `x.io/anchored@${D1}`, line: 3, column: 28 }),
    ]);
  });

  it('ignores non-Kubernetes YAML and empty files', () => {
    expect(parseK8sManifests('', 'e.yaml')).toEqual([]);
    expect(parseK8sManifests('# only a comment\n', 'e.yaml')).toEqual([]);
    expect(parseK8sManifests('name: ci\non: push\njobs: {}\n', 'wf.yml')).toEqual([]);
  });

  it('malformed YAML is an INPUT error naming file:line:column', () => {
    const bad = `kind: Pod\nspec:\n  volumes:\n    - name: m\n      image: { reference: "x.io/a@${D1}" \n`;
    let err: unknown;
    try {
      parseK8sManifests(bad, 'k8s/bad.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModelshipError);
    expect(err).toMatchObject({
      code: 'INPUT',
      message: expect.stringMatching(/^k8s\/bad\.yaml:\d+:\d+: not valid YAML/),
    });
    expect(() => parseK8sManifests('kind: Pod\nspec: a: b\n', 'x.yaml')).toThrow(/^x\.yaml:2:7: not valid YAML: /);
  });

  it('reads manifest files in order; a missing file is an INPUT error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'k8s-'));
    await writeFile(join(dir, 'a.yaml'), DEPLOYMENT);
    const refs = await findModelRefsInManifests([join(dir, 'a.yaml'), join(dir, 'a.yaml')]);
    expect(refs).toHaveLength(2);
    await expect(findModelRefsInManifests([join(dir, 'nope.yaml')])).rejects.toMatchObject({ code: 'INPUT' });
  });
});

describe('digest pinning', () => {
  it.each([
    [`ghcr.io/a/b@${D1}`, true],
    [`ghcr.io/a/b:v1@${D1}`, true],
    [`oci:/tmp/layout@${D1}`, true],
    ['ghcr.io/a/b:v1', false],
    ['ghcr.io/a/b', false],
    ['oci:/tmp/layout:v1', false],
    ['ghcr.io/a/b@sha256:short', false],
    ['Not A Ref', false],
  ])('%s -> %s', (ref, pinned) => expect(isPinnedByDigest(ref)).toBe(pinned));
});

describe('GitHub workflow commands', () => {
  it('escapes data and properties by the runner rules', () => {
    expect(escapeWorkflowData('50% done\r\nnext')).toBe('50%25 done%0D%0Anext');
    expect(escapeWorkflowProperty('a:b,c%\n')).toBe('a%3Ab%2Cc%25%0A');
    expect(githubAnnotation('error', 'x: y, 100%\nz', { file: 'k8s/a,b.yaml', line: 3, col: 7, title: 'T: 1' })).toBe(
      '::error file=k8s/a%2Cb.yaml,line=3,col=7,title=T%3A 1::x: y, 100%25%0Az',
    );
    expect(githubAnnotation('warning', 'plain')).toBe('::warning::plain');
  });
});

describe('verifyModelRefs', () => {
  it('verifies each distinct reference once, reports every location, and turns failures into results', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vrefs-'));
    const policy = parsePolicy(
      'version: 1\nsigners:\n  - github: { repository: acme/models, workflow: .github/workflows/release.yml, ref: refs/heads/main }\n',
      'p.yaml',
    );
    const missing = `oci:${join(dir, 'no-layout')}@${D1}`;
    const tagged = `oci:${join(dir, 'no-layout')}:v1`;
    const refs = [
      { reference: missing, file: 'a.yaml', line: 3, column: 5, where: 'x', source: 'image-volume' as const },
      { reference: tagged, file: 'a.yaml', line: 9, column: 5, where: 'y', source: 'image-volume' as const },
      { reference: missing, file: 'b.txt', line: 1, column: 1, where: 'list entry', source: 'list' as const },
    ];
    const r = await verifyModelRefs({ refs, policy, concurrency: 2 });
    expect(r).toMatchObject({ ok: false, checked: 2, failed: 2 });
    const [m, t] = r.results;
    expect(m!.locations.map((l) => `${l.file}:${l.line}`)).toEqual(['a.yaml:3', 'b.txt:1']);
    expect(m).toMatchObject({ ok: false, pinned: true, error: { code: expect.any(String) } });
    expect(m!.message).toMatch(/^cannot be verified: /);
    expect(t).toMatchObject({ ok: false, pinned: false });
    expect(t!.message).toMatch(/pin it by digest/);
    const ann = modelRefAnnotations(r.results);
    expect(ann.map((a) => [a.location.file, a.location.line, a.title])).toEqual([
      ['a.yaml', 3, 'unverified model'],
      ['b.txt', 1, 'unverified model'],
      ['a.yaml', 9, 'model not pinned by digest'],
    ]);
  });
});
