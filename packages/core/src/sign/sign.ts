import { ModelshipError } from '../errors.js';
import type { Descriptor } from '../oci.js';
import type { ContentStore } from '../store.js';
import { signStatement } from './bundle.js';
import { attachBundle } from './referrer.js';
import { signatureStatement } from './statement.js';
import { statementSubjectName } from './subject-name.js';
import type { InTotoStatement, SerializedBundleJson, SignerIdentity, SigningSetup } from './types.js';

export interface TlogEntrySummary {
  logIndex: string;
  logId: string;
  integratedTime?: string;
}

export interface SignResult {
  subject: Descriptor;
  statement: InTotoStatement;
  bundle: SerializedBundleJson;
  bundleBytes: Buffer;
  bundleDescriptor: Descriptor;
  referrer: Descriptor;
  identity: SignerIdentity;
  tlogEntries: TlogEntrySummary[];
  /** RFC 3161 timestamps in the bundle. */
  timestamps: number;
}

export interface SignOptions {
  store: ContentStore;
  /** Tag or digest of the manifest to sign, in `store`. */
  reference: string;
  /**
   * Where the artifact is: the repository without tag/digest (`host/repo`, `oci:DIR`). The
   * statement subject is named after it (statementSubjectName: a layout by its model name).
   */
  name: string;
  /** The statement subject name, when the caller has it already (attest: one for many statements). */
  subjectName?: string;
  setup: SigningSetup;
  /** Subject annotations (cosign `-a key=value`). */
  annotations?: Record<string, string>;
  /**
   * Sign this statement instead of cosign's empty signature predicate (attest builds its own);
   * `name` is the subject name to give it.
   */
  statement?: (subject: Descriptor, name: string) => InTotoStatement;
}

/** Resolves the subject, signs a statement about its digest and attaches the bundle as a referrer. */
export async function signArtifact(options: SignOptions): Promise<SignResult> {
  const subject = await options.store.resolve(options.reference);
  const name = options.subjectName ?? (await statementSubjectName(options.store, subject, options.name));
  const statement = options.statement
    ? options.statement(subject, name)
    : signatureStatement(name, subject.digest, options.annotations ?? {});
  if (!statement.subject.some((s) => `sha256:${s.digest['sha256']}` === subject.digest))
    throw new ModelshipError('INTERNAL', `statement subject does not name ${subject.digest}`);
  const bundle = await signStatement(statement, options.setup);
  const attached = await attachBundle(options.store, subject, bundle, statement.predicateType);
  return {
    subject,
    statement,
    bundle,
    bundleBytes: attached.bundleBytes,
    bundleDescriptor: attached.bundle,
    referrer: attached.referrer,
    identity: options.setup.describe(bundle),
    tlogEntries: tlogEntries(bundle),
    timestamps: timestampCount(bundle),
  };
}

export function tlogEntries(bundle: SerializedBundleJson): TlogEntrySummary[] {
  const entries = (bundle.verificationMaterial['tlogEntries'] ?? []) as {
    logIndex?: string;
    logId?: { keyId?: string };
    integratedTime?: string;
  }[];
  return entries.map((e) => ({
    logIndex: String(e.logIndex ?? ''),
    logId: e.logId?.keyId ?? '',
    ...(e.integratedTime ? { integratedTime: String(e.integratedTime) } : {}),
  }));
}

function timestampCount(bundle: SerializedBundleJson): number {
  const tvd = bundle.verificationMaterial['timestampVerificationData'] as { rfc3161Timestamps?: unknown[] } | undefined;
  return tvd?.rfc3161Timestamps?.length ?? 0;
}
