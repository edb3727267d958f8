import type { OptionKey, OptionNamer } from '@modelship/core';

/**
 * How the CLI names each setting a core message mentions (core writes `opt(key)`, see
 * packages/core/src/errors.ts). Mostly a flag; a setting the CLI takes only from the
 * environment is named by its variables. test/option-names.test.ts checks that every key is
 * here and every flag is one the program defines.
 */
export const CLI_OPTION_NAMES: Record<OptionKey, string> = {
  cert: '--cert',
  exclude: '--exclude',
  expiry: '--expiry',
  force: '--force',
  fulcioUrl: '--fulcio-url',
  identityToken: '--identity-token',
  include: '--include',
  insecure: '--insecure',
  key: '--key',
  keyPassword: 'MODELSHIP_KEY_PASSWORD (or COSIGN_PASSWORD), or --key-password-stdin',
  modelDir: '--model-dir',
  noTlog: '--no-tlog',
  outputKeyPrefix: '--output-key-prefix',
  password: '--password-stdin (or MODELSHIP_REGISTRY_PASSWORD)',
  plainHttp: '--plain-http',
  predicate: '--predicate',
  predicateType: '--predicate-type',
  rekorUrl: '--rekor-url',
  signatureFormat: '--format',
  sbomFormat: '--sbom-format',
  scanReport: '--scan-report',
  securityScan: '--scan',
  trustedRoot: '--trusted-root',
  tsaUrl: '--tsa-url',
  tufCache: '--tuf-cache',
  tufMirror: '--tuf-mirror',
  tufOffline: '--tuf-offline',
  tufRoot: '--tuf-root',
  type: '--type',
  username: '--username',
};

export const cliOptionName: OptionNamer = (key) => CLI_OPTION_NAMES[key];
