import { afterAll, describe, expect, it } from '@jest/globals';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OciLayoutStore } from '../src/layout.js';
import { ANNOTATION_MODCTL_MODELFILE, ANNOTATION_MODCTL_MODELFILE_CNAI, pack } from '../src/pack.js';

const dir = mkdtempSync(join(tmpdir(), 'modelship-modelfile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SAMPLE = fileURLToPath(new URL('../../../examples/sample-model', import.meta.url));

const MODELFILE = `# built like modctl would
NAME tiny
ARCH llama
CONFIG config.json
MODEL *.safetensors
DOC README.md
`;

async function packWith(name: string, files: Record<string, string>, family?: 'cncf' | 'cnai') {
  const model = join(dir, name);
  cpSync(SAMPLE, model, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(model, f), text);
  const target = await OciLayoutStore.open(join(dir, `${name}-oci`), { create: true });
  try {
    const r = await pack({ dir: model, target, cache: null, ...(family ? { family } : {}) });
    return r.manifest.annotations ?? {};
  } finally {
    await target.close();
  }
}

describe('the Modelfile in the manifest, as modctl writes it', () => {
  it('a pack driven by a Modelfile carries its text in org.cncf.modctl.modelfile', async () => {
    const a = await packWith('mf', { Modelfile: MODELFILE });
    expect(a[ANNOTATION_MODCTL_MODELFILE]).toBe(MODELFILE);
  });

  it('uses the org.cnai. key for the cnai identifiers', async () => {
    const a = await packWith('mf-cnai', { Modelfile: MODELFILE }, 'cnai');
    expect(a[ANNOTATION_MODCTL_MODELFILE_CNAI]).toBe(MODELFILE);
    expect(a[ANNOTATION_MODCTL_MODELFILE]).toBeUndefined();
  });

  it('no Modelfile (or a Kitfile): no annotation', async () => {
    expect((await packWith('none', {}))[ANNOTATION_MODCTL_MODELFILE]).toBeUndefined();
  });
});
