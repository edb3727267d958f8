import { afterAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runAction } from './helpers/action.js';
import { startRegistry } from './helpers/registry.js';
import { copySample, tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('actions/pack through dist/pack/index.js', () => {
  it('packs into a layout, sets outputs and writes a job summary', async () => {
    const model = copySample(tmp.dir);
    const r = await runAction('pack', { path: model, output: join(tmp.dir, 'layout') + ':v7' }, tmp.dir);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.outputs.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(r.outputs.reference).toBe(`oci:${join(tmp.dir, 'layout')}:v7`);
    expect(r.outputs['layout-path']).toBe(join(tmp.dir, 'layout'));
    const manifest = readFileSync(r.outputs['manifest-path']!);
    expect('sha256:' + createHash('sha256').update(manifest).digest('hex')).toBe(r.outputs.digest);
    const m = JSON.parse(manifest.toString()) as { config: { size: number }; layers: { size: number }[] };
    expect(Number(r.outputs.size)).toBe(m.config.size + m.layers.reduce((a, l) => a + l.size, 0));
    expect(r.summary).toContain('modelship pack');
    expect(r.summary).toContain('model-00001-of-00002.safetensors');
    expect(r.summary).toContain(r.outputs.digest);
    expect(statSync(join(tmp.dir, 'layout', 'index.json')).isFile()).toBe(true);
  });

  it('fails with the error code and a hint for a missing model directory', async () => {
    const r = await runAction('pack', { path: join(tmp.dir, 'does-not-exist') }, tmp.dir);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/::error::INPUT: .*does-not-exist/);
    expect(r.outputs.digest).toBeUndefined();
  });

  it('fails on an invalid layer-format input', async () => {
    const model = copySample(tmp.dir, 'm2');
    const r = await runAction('pack', { path: model, 'layer-format': 'zip' }, tmp.dir);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/::error::USAGE: input layer-format "zip"/);
  });

  it('pushes to an authenticated registry and masks the password', async () => {
    const reg = await startRegistry({ auth: 'htpasswd', users: { ci: 'hunter2-secret' } });
    try {
      const model = copySample(tmp.dir, 'm3');
      const r = await runAction(
        'pack',
        {
          path: model,
          push: `${reg.host}/acme/model:v3`,
          'plain-http': 'true',
          username: 'ci',
          password: 'hunter2-secret',
        },
        tmp.dir,
      );
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.outputs.reference).toBe(`${reg.host}/acme/model:v3`);
      expect(r.outputs['layout-path']).toBe('');
      // the runner hides the secret once told: the add-mask command is the only place it may appear
      expect(r.stdout).toContain('::add-mask::hunter2-secret');
      const rest = r.stdout.replace(/::add-mask::.*\n/g, '');
      expect(rest + r.summary + JSON.stringify(r.outputs)).not.toContain('hunter2-secret');
      const manifest = readFileSync(r.outputs['manifest-path']!);
      expect('sha256:' + createHash('sha256').update(manifest).digest('hex')).toBe(r.outputs.digest);
    } finally {
      await reg.cleanup();
    }
  });
});
