import type { Inputs } from '../src/run.js';

/**
 * The release action's inputs for the model in `dir` into the layout `layout` (tag v1), signed
 * with `keyPem` (no transparency log), raw cncf layers, no variants, `files` attested; `pack`
 * and the rest as `over` says.
 */
export function releaseInputs(
  dir: string,
  layout: string,
  keyPem: string,
  over: Partial<Omit<Inputs, 'pack'>> & { pack?: Partial<Inputs['pack']> } = {},
): Inputs {
  const { pack, ...rest } = over;
  return {
    signing: { key: { pem: keyPem }, tlog: false },
    registry: {},
    attest: { kinds: ['files'], custom: [] },
    annotations: {},
    sign: true,
    showSummary: true,
    ...rest,
    pack: {
      dir,
      target: `oci:${layout}:v1`,
      targetLabel: 'input output',
      tags: [],
      options: { family: 'cncf', layerFormat: 'raw', scan: { useDirSpec: true }, metadata: {} },
      cache: false,
      variants: { names: [] },
      ...pack,
    },
  };
}
