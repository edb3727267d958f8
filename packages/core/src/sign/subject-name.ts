import { basename } from 'node:path';
import { parseManifest } from '../manifest.js';
import { isModelConfigMediaType } from '../mediatypes.js';
import type { Descriptor } from '../oci.js';
import type { ReadOnlyStore } from '../store.js';

/**
 * The subject name of a statement about an artifact in a local OCI layout. A registry artifact
 * is named by its repository (`host/repo`, as cosign and actions/attest name it), which is the
 * same for everyone. A layout's path is not: `oci:/home/me/work/model-oci` is a fact of one
 * machine, it differs for every checkout and CI runner, and a signed record (public, with
 * Rekor) would carry the user's directories. So a layout artifact is named by its model: the
 * ModelPack config's `descriptor.name` (what pack sets from the model card, the GGUF header or
 * the directory), else by the layout directory's own name (`oci:model-oci`). Verification
 * matches subjects by digest (verify/bundles.ts), so statements that named a path still verify.
 */
export function layoutSubjectName(config: unknown, layoutName: string): string {
  const name = (config as { descriptor?: { name?: unknown } } | null | undefined)?.descriptor?.name;
  // eslint-disable-next-line no-control-regex
  if (typeof name === 'string' && name.trim() !== '' && name.length <= 256 && !/[\x00-\x1f\x7f]/.test(name))
    return name.trim();
  const dir = layoutName.replace(/^oci:/, '').replace(/[/\\]+$/, '');
  return `oci:${basename(dir) || dir}`;
}

/**
 * The statement subject name for `subject` in `store`: `name` (`host/repo`) for a registry,
 * {@link layoutSubjectName} for a store whose blobs are local files (a layout on this machine).
 */
export async function statementSubjectName(
  store: ReadOnlyStore & { localFiles?: unknown },
  subject: Descriptor,
  name: string,
): Promise<string> {
  if (!store.localFiles) return name;
  let config: unknown;
  const doc = parseManifest(await store.fetchBytes(subject), subject);
  if (!('manifests' in doc) && isModelConfigMediaType(doc.config.mediaType)) {
    try {
      config = JSON.parse((await store.fetchBytes(doc.config)).toString('utf8'));
    } catch {
      config = undefined; // not JSON: named by the layout directory
    }
  }
  return layoutSubjectName(config, name);
}
