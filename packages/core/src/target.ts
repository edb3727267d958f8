import { existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { DryRunStore } from './dry-run-store.js';
import { ModelshipError } from './errors.js';
import { OciLayoutStore } from './layout.js';
import { isDigest } from './oci.js';
import { parseReference } from './reference.js';
import { RegistryStore, type RegistryStoreOptions } from './registry/index.js';
import type { ContentStore } from './store.js';

/** How to reach registries; everything but registry/repository of RegistryStoreOptions. */
export type RegistryAccess = Omit<RegistryStoreOptions, 'registry' | 'repository'>;

export interface OpenedTarget {
  store: ContentStore;
  /** Tag or digest named in the spec, if any. */
  reference?: string;
  /** `oci:DIR:TAG` or `host/repo:TAG` / `@digest`, for printing. */
  display: string;
  /** The display form without tag or digest: `oci:DIR` or `host/repo`. */
  base: string;
  kind: 'oci-layout' | 'registry';
  /** Registry host and repository (registry targets only). */
  registry?: string;
  repository?: string;
}

export interface OpenTargetOptions {
  /** Create an OCI layout when the path does not exist (pack/pull targets). */
  create?: boolean;
  registry?: RegistryAccess;
  /**
   * Open for a dry run: the store is a DryRunStore over the target, which writes nothing and
   * logs what would be written; a layout that does not exist (or an empty directory) is not
   * created, it is a target that has nothing yet.
   */
  dryRun?: boolean;
}

/**
 * True when `spec` names a local OCI layout: `oci:PATH[:TAG|@DIGEST]`, or a path that starts
 * with `.`, `/` or `~`, or an existing directory. Everything else is a registry reference.
 */
export function isLayoutSpec(spec: string): boolean {
  if (spec.startsWith('oci:') || spec.startsWith('oci-layout:')) return true;
  if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('~') || isAbsolute(spec)) return true;
  const path = splitLayoutSpec(spec).path;
  return existsSync(path) && statSync(path).isDirectory();
}

/** `PATH[:TAG|@DIGEST]` -> parts. A colon followed by a valid tag at the end splits the tag off. */
export function splitLayoutSpec(spec: string): { path: string; reference?: string } {
  let s = spec.replace(/^oci-layout:(\/\/)?/, '').replace(/^oci:(\/\/)?/, '');
  const at = s.lastIndexOf('@');
  if (at > 0 && isDigest(s.slice(at + 1))) return { path: s.slice(0, at), reference: s.slice(at + 1) };
  const m = /^(.*[^:]):([A-Za-z0-9_][A-Za-z0-9._-]{0,127})$/.exec(s);
  if (m && !/[/\\]/.test(m[2]!)) {
    s = m[1]!;
    return { path: s, reference: m[2]! };
  }
  return { path: s };
}

export async function openTarget(spec: string, options: OpenTargetOptions = {}): Promise<OpenedTarget> {
  if (!spec || typeof spec !== 'string') throw new ModelshipError('USAGE', 'empty target reference');
  if (isLayoutSpec(spec)) {
    const { path, reference } = splitLayoutSpec(spec);
    if (!path) throw new ModelshipError('USAGE', `"${spec}" names no layout directory`, { hint: 'use oci:PATH[:TAG]' });
    const store = options.dryRun
      ? new DryRunStore(await existingLayout(path), path)
      : await OciLayoutStore.open(path, { create: options.create ?? false });
    return {
      store,
      ...(reference ? { reference } : {}),
      base: `oci:${path}`,
      display: `oci:${path}${reference ? (isDigest(reference) ? `@${reference}` : `:${reference}`) : ''}`,
      kind: 'oci-layout',
    };
  }
  const ref = parseReference(spec);
  const registryStore = new RegistryStore({
    ...(options.registry ?? {}),
    registry: ref.registry,
    repository: ref.repository,
  });
  // Opening a repository writes nothing; a dry run only keeps it from being written to.
  const store = options.dryRun ? new DryRunStore(registryStore, registryStore.location) : registryStore;
  const reference = ref.digest ?? ref.tag;
  return {
    store,
    ...(reference ? { reference } : {}),
    base: `${ref.registry}/${ref.repository}`,
    display: `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`,
    kind: 'registry',
    registry: ref.registry,
    repository: ref.repository,
  };
}

/** The layout at `path` for a dry run to read, or undefined when a real run would create it. */
async function existingLayout(path: string): Promise<OciLayoutStore | undefined> {
  let entries: string[];
  try {
    entries = await readdir(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return OciLayoutStore.open(path); // its error names the problem (not a directory, unreadable)
  }
  return entries.length === 0 ? undefined : OciLayoutStore.open(path);
}
