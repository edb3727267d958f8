import { Option, type Command } from 'commander';
import {
  REKOR_ENTRY_TYPES,
  keySourceFrom,
  parseChoice,
  registryAccess,
  signingSetup,
  type RegistryAccess,
  type SigningSetup,
  type TufOptions,
} from '@modelship/core';
import type { CliIO } from './io.js';

export interface RegistryFlags {
  plainHttp?: boolean;
  insecure?: boolean;
  username?: string;
  passwordStdin?: boolean;
  registryConfig?: string;
}

/** Registry flags shared by every command that talks to a registry (same names as oras/cosign). */
export function addRegistryOptions(cmd: Command): Command {
  return cmd
    .option('--plain-http', 'talk HTTP, not HTTPS, to the registry (local test registries only)')
    .option('--insecure', 'skip TLS certificate verification')
    .option('-u, --username <user>', 'registry username (env MODELSHIP_REGISTRY_USERNAME)')
    .option('--password-stdin', 'read the registry password or token from standard input')
    .addOption(
      new Option('--registry-config <path>', 'docker config.json to read credentials from').env('DOCKER_CONFIG_FILE'),
    );
}

/** The shared registry flags and MODELSHIP_REGISTRY_* variables, checked by core's registryAccess. */
export async function registryAccessFromFlags(flags: RegistryFlags, io: CliIO): Promise<RegistryAccess> {
  const username = flags.username ?? io.env.MODELSHIP_REGISTRY_USERNAME;
  const password = flags.passwordStdin
    ? (await io.readStdin()).replace(/\r?\n$/, '')
    : io.env.MODELSHIP_REGISTRY_PASSWORD;
  return registryAccess(
    {
      username,
      password,
      plainHttp: flags.plainHttp,
      insecure: flags.insecure,
      dockerConfig: flags.registryConfig,
    },
    REGISTRY_LABELS,
  );
}

const REGISTRY_LABELS = {
  username: '--username USER (or MODELSHIP_REGISTRY_USERNAME)',
  password: '--password-stdin or MODELSHIP_REGISTRY_PASSWORD',
};

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `--identifiers`: the media type family of what pack and import write. */
export function addIdentifiersOption(cmd: Command): Command {
  return cmd.option(
    '--identifiers <family>',
    `media type family: cncf (ModelPack spec) or cnai (released Harbor, older modctl)`,
    'cncf',
  );
}

export interface FileSelectionFlags {
  include?: string[];
  exclude?: string[];
  spec?: string;
  dirSpec: boolean;
  ignoreFiles: boolean;
}

/** Which files of a model pack and import take (core's ScanOptions); `--spec` names a local file, pack's only. */
export function addFileSelectionOptions(cmd: Command, verb: 'pack' | 'import', where: string): Command {
  cmd
    .option('--include <glob>', `only ${verb} files matching (repeatable)`, collect)
    .option('--exclude <glob>', 'skip files matching (repeatable)', collect);
  if (verb === 'pack') cmd.option('--spec <file>', 'per-kind file list: a Modelfile, Kitfile or YAML spec');
  return cmd
    .option('--no-dir-spec', `ignore a Modelfile/Kitfile found in ${where}`)
    .option('--no-ignore-files', `also ${verb} what .gitignore, .modelshipignore and .kitignore leave out`);
}

export function scanOptionsFromFlags(flags: FileSelectionFlags): {
  include?: string[];
  exclude?: string[];
  spec?: string;
  useDirSpec: boolean;
  ignoreFiles?: false;
} {
  return {
    ...(flags.include ? { include: flags.include } : {}),
    ...(flags.exclude ? { exclude: flags.exclude } : {}),
    ...(flags.spec ? { spec: flags.spec } : {}),
    useDirSpec: flags.dirSpec,
    ...(flags.ignoreFiles ? {} : { ignoreFiles: false as const }),
  };
}

export interface SigningFlags {
  key?: string;
  identityToken?: string;
  fulcioUrl?: string;
  rekorUrl?: string;
  tsaUrl?: string;
  tlog?: boolean;
  rekorEntryType?: string;
}

/** The signing flags shared by sign and attest (cosign's names where cosign has one). */
export function addSigningOptions(cmd: Command): Command {
  return cmd
    .option(
      '--key <key>',
      'private key (ECDSA P-256 or Ed25519): a PEM file, env://VAR, or the PEM text, plain or base64; keyless without it',
    )
    .option('--identity-token <token>', 'OIDC token for keyless signing (else Actions OIDC or SIGSTORE_ID_TOKEN)')
    .option('--fulcio-url <url>', 'Fulcio (certificate authority) URL')
    .option('--rekor-url <url>', 'Rekor (transparency log) URL')
    .option('--tsa-url <url>', 'RFC 3161 timestamp authority URL')
    .option('--tlog', 'upload to the transparency log, Rekor (the default, keyless and with --key, as cosign)')
    .option('--no-tlog', 'do not upload to the transparency log (air-gapped; keyless then needs --tsa-url)')
    .option('--rekor-entry-type <type>', 'dsse (default) or intoto');
}

/** The flags of a verb that writes signed referrers (sign, attest, promote): signing + registry. */
export type SignerFlags = RegistryFlags & SigningFlags;

export function addSignerOptions(cmd: Command): Command {
  return addRegistryOptions(addSigningOptions(cmd));
}

/** Key from --key, password from MODELSHIP_KEY_PASSWORD / COSIGN_PASSWORD, token from --identity-token / SIGSTORE_ID_TOKEN. */
export async function signingSetupFromFlags(flags: SigningFlags, io: CliIO): Promise<SigningSetup> {
  const rekorEntryType = flags.rekorEntryType
    ? parseChoice(flags.rekorEntryType, REKOR_ENTRY_TYPES, '--rekor-entry-type')
    : undefined;
  const password = io.env.MODELSHIP_KEY_PASSWORD ?? io.env.COSIGN_PASSWORD;
  const identityToken = flags.identityToken ?? io.env.SIGSTORE_ID_TOKEN;
  return signingSetup({
    ...(flags.key ? { key: keySourceFrom(flags.key, io.env) } : {}),
    ...(password ? { keyPassword: password } : {}),
    ...(identityToken ? { identityToken } : {}),
    ...(flags.fulcioUrl ? { fulcioURL: flags.fulcioUrl } : {}),
    ...(flags.rekorUrl ? { rekorURL: flags.rekorUrl } : {}),
    ...(flags.tsaUrl ? { tsaURL: flags.tsaUrl } : {}),
    ...(flags.tlog !== undefined ? { tlog: flags.tlog } : {}),
    ...(rekorEntryType ? { rekorEntryType } : {}),
    env: io.env,
  });
}

export interface TufFlags {
  tufMirror?: string;
  tufRoot?: string;
  tufCache?: string;
  tufOffline?: boolean;
}

/** Where verify and promote get the Sigstore trusted root when none is pinned. */
export function addTufOptions(cmd: Command): Command {
  return cmd
    .option('--tuf-mirror <url>', 'TUF repository serving trusted_root.json (default Sigstore public-good)')
    .option('--tuf-root <file>', 'initial root.json of --tuf-mirror (the public-good one is built in)')
    .option('--tuf-cache <dir>', 'TUF cache directory (default $MODELSHIP_TUF_CACHE or ~/.cache/modelship/tuf)')
    .option('--tuf-offline', 'use the cached TUF metadata without contacting the mirror while it is unexpired');
}

export function tufOptions(flags: TufFlags): TufOptions {
  return {
    ...(flags.tufMirror ? { mirrorURL: flags.tufMirror } : {}),
    ...(flags.tufRoot ? { rootPath: flags.tufRoot } : {}),
    ...(flags.tufCache ? { cachePath: flags.tufCache } : {}),
    ...(flags.tufOffline ? { offline: true } : {}),
  };
}
