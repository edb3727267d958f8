import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelshipError } from '../src/errors.js';
import { buildModelConfig, serializeConfig, validateModelConfig } from '../src/modelpack/config.js';
import { MODELPACK_CONFIG_SCHEMA } from '../src/modelpack/schema.js';
import { type ModelMetadata } from '../src/modelpack/types.js';

const here = dirname(fileURLToPath(import.meta.url));
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

const meta: ModelMetadata = {
  name: 'tiny',
  family: 'llama',
  architecture: 'transformer',
  format: 'safetensors',
  paramSize: '8b',
  precision: 'bfloat16',
  licenses: ['Apache-2.0', 'Apache-2.0', 'MIT'],
  authors: [],
  description: '',
  languages: ['en'],
  datasets: ['wikitext'],
  capabilities: { inputTypes: ['text'], outputTypes: ['text'] },
  sources: {},
  warnings: [],
};

function validationError(config: unknown): ModelshipError {
  try {
    validateModelConfig(config);
  } catch (e) {
    expect(e).toBeInstanceOf(ModelshipError);
    return e as ModelshipError;
  }
  throw new Error('expected the config to be refused');
}

describe('buildModelConfig', () => {
  it('writes descriptor/config/modelfs, omits empty fields, v0.0.7-unknown fields and createdAt', () => {
    const c = buildModelConfig(meta, [D1, D2]);
    expect(c).toEqual({
      descriptor: { family: 'llama', name: 'tiny', licenses: ['Apache-2.0', 'MIT'] },
      config: {
        architecture: 'transformer',
        format: 'safetensors',
        paramSize: '8b',
        precision: 'bfloat16',
        capabilities: { inputTypes: ['text'], outputTypes: ['text'] },
      },
      modelfs: { type: 'layers', diffIds: [D1, D2] },
    });
    expect(JSON.stringify(c)).not.toMatch(/datasetsURL|languages|createdAt/);
    validateModelConfig(c);
  });

  it('adds createdAt only when asked, and checks it', () => {
    const c = buildModelConfig(meta, [D1], { createdAt: '2026-01-01T00:00:00Z' });
    expect((c['descriptor'] as Record<string, unknown>)['createdAt']).toBe('2026-01-01T00:00:00Z');
    expect(() => buildModelConfig(meta, [D1], { createdAt: '2026-01-01' })).toThrow(/not an RFC 3339 date-time/);
  });
});

describe('validateModelConfig', () => {
  it('lists every violation with its JSON path', () => {
    const e = validationError({
      descriptor: { name: '', createdAt: 'tomorrow', colour: 'blue' },
      config: { capabilities: { inputTypes: ['smell'] } },
      modelfs: { type: 'files', diffIds: ['md5:abc'] },
    });
    expect(e.code).toBe('INVALID');
    expect(e.message.split('\n')).toEqual([
      'model config does not match the ModelPack schema:',
      '  /descriptor: unknown property "colour"',
      '  /descriptor/createdAt: must match format "date-time"',
      '  /descriptor/name: must NOT have fewer than 1 characters',
      '  /modelfs/type: must be one of "layers"',
      '  /config/capabilities/inputTypes/0: must be one of "text", "image", "audio", "video", "embedding", "other"',
      '  /modelfs/diffIds/0: "md5:abc" is not a sha256 digest',
    ]);
  });

  it('requires the three top-level objects and at least one diffId', () => {
    const e = validationError({ descriptor: {}, modelfs: { type: 'layers', diffIds: [] } });
    expect(e.message).toContain('/: missing required property "config"');
    expect(e.message).toContain('/modelfs/diffIds: must NOT have fewer than 1 items');
  });
});

describe('serializeConfig', () => {
  it('is compact with keys sorted at every level, whatever the construction order', () => {
    const a = serializeConfig({
      modelfs: { type: 'layers', diffIds: [D1] },
      descriptor: { name: 'x', family: 'f' },
      config: {},
    });
    const b = serializeConfig({
      config: {},
      descriptor: { family: 'f', name: 'x' },
      modelfs: { diffIds: [D1], type: 'layers' },
    });
    expect(a.equals(b)).toBe(true);
    expect(a.toString()).toBe(
      `{"config":{},"descriptor":{"family":"f","name":"x"},"modelfs":{"diffIds":["${D1}"],"type":"layers"}}`,
    );
  });
});

describe('embedded schema', () => {
  it('matches packages/core/schema/modelpack-config-schema.json', () => {
    const file = JSON.parse(readFileSync(join(here, '..', 'schema', 'modelpack-config-schema.json'), 'utf8'));
    expect(MODELPACK_CONFIG_SCHEMA).toEqual(file);
  });
});
