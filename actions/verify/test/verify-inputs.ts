import type { Inputs } from '../src/run.js';

/** The verify action's inputs for one reference against `policy`; the rest as `over` says. */
export function verifyInputs(reference: string, policy: string, over: Partial<Inputs> = {}): Inputs {
  return {
    reference,
    referencesFile: '',
    manifests: [],
    policy,
    tuf: {},
    publicKeys: [],
    registry: {},
    showSummary: true,
    ...over,
  };
}
