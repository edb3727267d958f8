import type { OptionKey, OptionNamer } from '@modelship/core';

/**
 * How the actions name each setting a core message mentions (core writes `opt(key)`, see
 * packages/core/src/errors.ts): the input, with the value when the setting is a value of one.
 * `null` where no action has the setting (core's plain words are printed then).
 * actions/common/test/input-names.test.ts checks that every key is here and every input is
 * declared in an actions/<name>/action.yml.
 */
export const ACTION_INPUT_NAMES: Record<OptionKey, string | null> = {
  cert: 'cert',
  exclude: 'exclude',
  expiry: 'expiry',
  force: null,
  fulcioUrl: 'fulcio-url',
  identityToken: 'identity-token',
  include: 'include',
  insecure: 'insecure',
  key: 'key',
  keyPassword: 'key-password',
  modelDir: 'model-dir',
  noTlog: 'tlog: false',
  outputKeyPrefix: null,
  password: 'password',
  plainHttp: 'plain-http: true',
  predicate: 'predicate',
  predicateType: 'predicate-type',
  rekorUrl: 'rekor-url',
  signatureFormat: 'format',
  sbomFormat: 'sbom-format',
  scanReport: 'scan-report',
  securityScan: 'scan: true',
  trustedRoot: 'trusted-root',
  tsaUrl: 'tsa-url',
  tufCache: 'tuf-cache',
  tufMirror: 'tuf-mirror',
  tufOffline: 'tuf-offline',
  tufRoot: 'tuf-root',
  type: 'types',
  username: 'username',
};

export const actionInputName: OptionNamer = (key) => {
  const input = ACTION_INPUT_NAMES[key];
  return input === null ? undefined : `input ${input}`;
};
