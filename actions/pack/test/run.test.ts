import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { recordingContext } from '../../common/test/fake-context.js';
import { copySample, tempDir } from '../../../test/helpers/tmp.js';
import { run, type Inputs } from '../src/run.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

function inputs(dir: string, target: string, targetLabel: string, variants: ('cnai' | 'modelcar')[] = []): Inputs {
  return {
    pack: {
      dir,
      target,
      targetLabel,
      tags: [],
      options: { family: 'cncf', layerFormat: 'raw', scan: { useDirSpec: true }, metadata: {} },
      cache: false,
      variants: { names: variants },
    },
    registry: {},
    showSummary: true,
  };
}

describe('actions/pack run(inputs) in-process', () => {
  it('packs into a layout: outputs name the layout, the tag defaults to the target tag', async () => {
    const layout = join(tmp.dir, 'model-oci');
    const { ctx, recorded } = recordingContext(tmp.dir);
    await run(inputs(copySample(tmp.dir), `oci:${layout}:v1`, 'input output'), ctx);
    expect(recorded.outputs.reference).toBe(`oci:${layout}:v1`);
    expect(recorded.outputs['layout-path']).toBe(layout);
    expect(recorded.outputs.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(existsSync(recorded.outputs['manifest-path']!)).toBe(true);
    expect(recorded.summaries.map((s) => s[0])).toEqual(['# modelship pack']);
  });

  it('publishes the variants asked for and lists each in output variants', async () => {
    const layout = join(tmp.dir, 'variants-oci');
    const { ctx, recorded } = recordingContext(tmp.dir);
    await run(inputs(copySample(tmp.dir, 'mv'), `oci:${layout}:v2`, 'input output', ['cnai', 'modelcar']), ctx);
    const variants = JSON.parse(recorded.outputs.variants!) as {
      name: string;
      digest: string;
      reference: string;
      pinnedReference: string;
    }[];
    expect(variants.map((v) => [v.name, v.reference])).toEqual([
      ['cnai', `oci:${layout}:v2-cnai`],
      ['modelcar', `oci:${layout}:v2-modelcar`],
    ]);
    for (const v of variants) {
      expect(v.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(v.pinnedReference).toBe(`oci:${layout}@${v.digest}`);
    }
  });

  // Drift: the CLI refused a digest target; the pack action packed and tagged it.
  it('refuses a target that names a digest, naming the input, before packing', async () => {
    const D = `sha256:${'c'.repeat(64)}`;
    const layout = join(tmp.dir, 'digest-oci');
    const { ctx, recorded } = recordingContext(tmp.dir);
    await expect(
      run(inputs(copySample(tmp.dir, 'm2'), `oci:${layout}@${D}`, 'input output'), ctx),
    ).rejects.toMatchObject({ code: 'USAGE', message: `input output "oci:${layout}@${D}" names a digest` });
    expect(recorded.outputs).toEqual({});
    expect(recorded.summaries).toEqual([]);
  });

  it('with scan: true the summary lists the scan and output scan-report holds it for the attest action', async () => {
    const layout = join(tmp.dir, 'scanned-oci');
    const { ctx, recorded } = recordingContext(tmp.dir);
    const i = inputs(copySample(tmp.dir, 'scanned'), `oci:${layout}:v1`, 'input output');
    i.pack.options.securityScan = true;
    await run(i, ctx);
    const report = JSON.parse(readFileSync(recorded.outputs['scan-report']!, 'utf8')) as {
      summary: { files: number; safe: number };
    };
    expect(report.summary).toMatchObject({ files: 10, safe: 10 });
    expect(recorded.summaries[0]).toContain('# Security scan');
    expect(recorded.summaries[0]).toContain('config.json | text | safe | ');
  });
});
