import type { ContentStore } from '../store.js';
import { openTarget, type OpenedTarget, type RegistryAccess } from '../target.js';
import { requireReference } from './reference.js';

/** One artifact a verb acts on (sign, attest, verify): its store and the tag or digest named. */
export interface Subject {
  store: ContentStore;
  /** The tag or digest the spec names. */
  reference: string;
  /** `oci:DIR` or `host/repo`, for records and messages. */
  name: string;
}

/**
 * Opens the artifact `spec` names, requires a tag or digest (`label` names the spec's flag or
 * input), runs `fn` with it (spread it into the verb's options) and closes the store whatever
 * happens.
 */
export async function withSubject<T>(
  spec: string,
  label: string,
  registry: RegistryAccess | undefined,
  fn: (subject: Subject, target: OpenedTarget) => Promise<T>,
): Promise<T> {
  const target = await openTarget(spec, registry ? { registry } : {});
  try {
    const reference = requireReference(target, spec, label);
    return await fn({ store: target.store, reference, name: target.base }, target);
  } finally {
    await target.store.close();
  }
}
