/**
 * @sigstore/sign costs ~80 ms to import, and most commands (pack, push, pull, verify) never
 * sign: it is loaded on first use only.
 */
let loaded: Promise<typeof import('@sigstore/sign')> | undefined;

export function loadSigstoreSign(): Promise<typeof import('@sigstore/sign')> {
  loaded ??= import('@sigstore/sign');
  return loaded;
}
