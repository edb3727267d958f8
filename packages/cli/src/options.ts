import { Option, type Command } from 'commander';
import {
  ModelshipError,
  REKOR_ENTRY_TYPES,
  VARIANT_NAMES,
  keySourceFrom,
  openModelcarBase,
  parseChoice,
  passwordFromStdin,
  parseVariants,
  registryAccess,
  signingSetup,
  type RegistryAccess,
  type SigningSetup,
  type TufOptions,
  type VariantRequest,
  type VariantSummary,
} from '@modelship/core';
import { safe, untrustedLines, type CliIO } from './io.js';

export interface RegistryFlags {
  plainHttp?: boolean;
  insecure?: boolean;
  username?: string;
  passwordStdin?: boolean;
  registryConfig?: string;
  /** A signing verb's key password reader: it shares standard input with --password-stdin. */
  keyPasswordStdin?: boolean;
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
  oneStdinSecret({ '--password-stdin': flags.passwordStdin, '--key-password-stdin': flags.keyPasswordStdin });
  const username = flags.username ?? io.env.MODELSHIP_REGISTRY_USERNAME;
  const password = flags.passwordStdin
    ? passwordFromStdin(await io.readStdin(), '--password-stdin')
    : io.env.MODELSHIP_REGISTRY_PASSWORD;
  // One warning per problem, however many stores (promote's two sides, verify's many refs) meet it.
  const warned = new Set<string>();
  const warn = (m: string): void => {
    if (warned.has(m)) return;
    warned.add(m);
    io.err(untrustedLines(`warning: ${m}\n`));
  };
  return {
    ...registryAccess(
      {
        username,
        password,
        plainHttp: flags.plainHttp,
        insecure: flags.insecure,
        dockerConfig: flags.registryConfig,
      },
      REGISTRY_LABELS,
    ),
    warn,
  };
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
  keyPasswordStdin?: boolean;
  identityToken?: string;
  fulcioUrl?: string;
  rekorUrl?: string;
  tsaUrl?: string;
  tlog?: boolean;
  rekorEntryType?: string;
}

/** The signing flags shared by sign and attest (cosign's names where cosign has one). */
function addSigningOptions(cmd: Command): Command {
  return cmd
    .option(
      '--key <key>',
      'private key (ECDSA P-256/P-384/P-521, RSA 2048/3072/4096, Ed25519): a PEM file, env://VAR, or the PEM text, plain or base64; keyless without it',
    )
    .option('--key-password-stdin', KEY_PASSWORD_STDIN_HELP)
    .option('--identity-token <token>', 'OIDC token for keyless signing (else Actions OIDC or SIGSTORE_ID_TOKEN)')
    .option('--fulcio-url <url>', 'Fulcio (certificate authority) URL')
    .option('--rekor-url <url>', 'Rekor (transparency log) URL')
    .option('--tsa-url <url>', 'RFC 3161 timestamp authority URL')
    .option('--tlog', 'upload to the transparency log, Rekor (the default, keyless and with --key, as cosign)')
    .option('--no-tlog', 'do not upload to the transparency log (air-gapped; keyless then needs --tsa-url)')
    .option('--rekor-entry-type <type>', 'dsse (default) or intoto');
}

export const KEY_PASSWORD_STDIN_HELP =
  'read the private key password from standard input (else MODELSHIP_KEY_PASSWORD or COSIGN_PASSWORD, else a prompt when standard input is a terminal)';

/** The password of a private key: --key-password-stdin, then MODELSHIP_KEY_PASSWORD, then COSIGN_PASSWORD (cosign's). */
export async function keyPasswordFromFlags(
  flags: { keyPasswordStdin?: boolean },
  io: CliIO,
): Promise<string | undefined> {
  if (flags.keyPasswordStdin) return (await io.readStdin()).replace(/\r?\n$/, '');
  return io.env.MODELSHIP_KEY_PASSWORD ?? io.env.COSIGN_PASSWORD;
}

/**
 * Standard input carries one secret: the flags given that read it, named. A second reader
 * would get nothing (the first one read to the end), and a password from nothing is a wrong one.
 */
export function oneStdinSecret(readers: Record<string, boolean | undefined>): void {
  const given = Object.entries(readers)
    .filter(([, on]) => on)
    .map(([flag]) => flag);
  if (given.length > 1)
    throw new ModelshipError(
      'USAGE',
      `standard input can carry only one secret, but ${given.join(' and ')} both read it`,
      {
        hint: 'pass the others in their variables (MODELSHIP_KEY_PASSWORD, MODELSHIP_REGISTRY_PASSWORD, MODELSHIP_SRC_PASSWORD, MODELSHIP_DEST_PASSWORD)',
      },
    );
}

/** The flags of a verb that writes signed referrers (sign, attest, promote): signing + registry. */
export type SignerFlags = RegistryFlags & SigningFlags;

export function addSignerOptions(cmd: Command): Command {
  return addRegistryOptions(addSigningOptions(cmd));
}

/**
 * Key from --key; its password from --key-password-stdin, MODELSHIP_KEY_PASSWORD or
 * COSIGN_PASSWORD, else asked on the terminal when the key is encrypted (as cosign asks);
 * token from --identity-token / SIGSTORE_ID_TOKEN.
 */
export async function signingSetupFromFlags(flags: SignerFlags, io: CliIO): Promise<SigningSetup> {
  oneStdinSecret({ '--password-stdin': flags.passwordStdin, '--key-password-stdin': flags.keyPasswordStdin });
  const rekorEntryType = flags.rekorEntryType
    ? parseChoice(flags.rekorEntryType, REKOR_ENTRY_TYPES, '--rekor-entry-type')
    : undefined;
  if (flags.keyPasswordStdin && !flags.key)
    throw new ModelshipError('USAGE', '--key-password-stdin is the password of --key, and no --key was given');
  const password = flags.key ? await keyPasswordFromFlags(flags, io) : undefined;
  const identityToken = flags.identityToken ?? io.env.SIGSTORE_ID_TOKEN;
  const ask = io.terminal;
  return signingSetup({
    ...(flags.key ? { key: keySourceFrom(flags.key, io.env) } : {}),
    ...(password ? { keyPassword: password } : {}),
    ...(ask && password === undefined
      ? { keyPasswordPrompt: () => ask.secret('Enter password for private key: ') }
      : {}),
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

export interface VariantFlags {
  variant?: string[];
  baseImage?: string;
}

/** `--variant NAME` (repeatable) and, where a modelcar can be built, `--base-image REF`. */
export function addVariantOptions(cmd: Command, options: { baseImage: boolean; what: string }): Command {
  cmd.option(
    '--variant <name>',
    `${options.what}: ${VARIANT_NAMES.join(', ')} (repeatable or comma-separated; tagged <tag>-<name>)`,
    collect,
  );
  if (options.baseImage)
    cmd.option(
      '--base-image <reference>',
      'with --variant modelcar: the image to put the model on (needs a shell for KServe oci://)',
    );
  return cmd;
}

/** The variants the flags ask for, the base image opened (close it after the verb). */
export async function variantRequestFromFlags(
  flags: VariantFlags,
  access: RegistryAccess,
): Promise<{ request?: VariantRequest; close: () => Promise<void> }> {
  const plan = parseVariants(flags.variant, flags.baseImage, { variants: '--variant', baseImage: '--base-image' });
  if (!plan.names.length) return { close: async () => {} };
  if (!plan.baseImage) return { request: { names: plan.names }, close: async () => {} };
  const opened = await openModelcarBase(plan.baseImage, access);
  return { request: { names: plan.names, base: opened.base }, close: opened.close };
}

/** The variants of a result, for `--json` and the text summary. */
export function variantLines(summaries: readonly VariantSummary[]): string {
  return summaries.map((v) => safe`variant ${v.name}: ${v.reference} (${v.digest})\n`).join('');
}
