/**
 * A re-implementation of what Go's `protojson.Unmarshal` (google.golang.org/protobuf, default
 * options: DiscardUnknown false) refuses, for the messages Go verifiers parse out of a referrer:
 * the Sigstore bundle (cosign pkg/oci/remote/signatures.go `Bundle`, sigstore-go
 * `Bundle.UnmarshalJSON`, used by Kyverno and gh) and the in-toto v1 statement (cosign
 * pkg/cosign/attestation `Statement.UnmarshalJSON`). Those parsers reject an unknown field, a
 * second member of a `oneof`, a field given under both its JSON and its proto name, and values of
 * the wrong JSON kind, so one stray field written by modelship makes every one of them drop the
 * bundle. `@sigstore/bundle`'s `fromJSON` ignores unknown fields, so it cannot stand in here.
 *
 * Field tables are from the .proto files (read 2026-12):
 * - sigstore/protobuf-specs@104df670656f5b1995769260e62d9b0e04053561 protos/sigstore_bundle.proto,
 *   sigstore_common.proto, sigstore_rekor.proto, envelope.proto;
 * - in-toto/attestation@051624ce466deaed4c5a66e66877f69b471fccbe
 *   protos/in_toto_attestation/v1/statement.proto, resource_descriptor.proto.
 * Accepted names follow protojson: the field's JSON name (lowerCamelCase of the proto name, or
 * its `json_name`) and the proto name itself. `null` means "unset" for every field kind here.
 */

type Scalar = 'string' | 'bytes' | 'int64' | 'int32' | 'enum' | 'struct' | 'map<string,string>';
interface Field {
  /** The proto field name (snake_case as declared). */
  proto: string;
  /** `json_name` when the .proto sets one. */
  json?: string;
  kind: Scalar | { message: string };
  repeated?: boolean;
  oneof?: string;
}

const f = (proto: string, kind: Field['kind'], extra: Partial<Field> = {}): Field => ({ proto, kind, ...extra });

const MESSAGES: Record<string, Field[]> = {
  // sigstore_bundle.proto
  'dev.sigstore.bundle.v1.Bundle': [
    f('media_type', 'string'),
    f('verification_material', { message: 'dev.sigstore.bundle.v1.VerificationMaterial' }),
    f('message_signature', { message: 'dev.sigstore.common.v1.MessageSignature' }, { oneof: 'content' }),
    f('dsse_envelope', { message: 'io.intoto.Envelope' }, { oneof: 'content' }),
  ],
  'dev.sigstore.bundle.v1.VerificationMaterial': [
    f('public_key', { message: 'dev.sigstore.common.v1.PublicKeyIdentifier' }, { oneof: 'content' }),
    f('x509_certificate_chain', { message: 'dev.sigstore.common.v1.X509CertificateChain' }, { oneof: 'content' }),
    f('certificate', { message: 'dev.sigstore.common.v1.X509Certificate' }, { oneof: 'content' }),
    f('tlog_entries', { message: 'dev.sigstore.rekor.v1.TransparencyLogEntry' }, { repeated: true }),
    f('timestamp_verification_data', { message: 'dev.sigstore.bundle.v1.TimestampVerificationData' }),
  ],
  'dev.sigstore.bundle.v1.TimestampVerificationData': [
    f('rfc3161_timestamps', { message: 'dev.sigstore.common.v1.RFC3161SignedTimestamp' }, { repeated: true }),
  ],
  // sigstore_common.proto
  'dev.sigstore.common.v1.HashOutput': [f('algorithm', 'enum'), f('digest', 'bytes')],
  'dev.sigstore.common.v1.MessageSignature': [
    f('message_digest', { message: 'dev.sigstore.common.v1.HashOutput' }),
    f('signature', 'bytes'),
  ],
  'dev.sigstore.common.v1.LogId': [f('key_id', 'bytes')],
  'dev.sigstore.common.v1.RFC3161SignedTimestamp': [f('signed_timestamp', 'bytes')],
  'dev.sigstore.common.v1.PublicKeyIdentifier': [f('hint', 'string')],
  'dev.sigstore.common.v1.X509Certificate': [f('raw_bytes', 'bytes')],
  'dev.sigstore.common.v1.X509CertificateChain': [
    f('certificates', { message: 'dev.sigstore.common.v1.X509Certificate' }, { repeated: true }),
  ],
  // sigstore_rekor.proto
  'dev.sigstore.rekor.v1.KindVersion': [f('kind', 'string'), f('version', 'string')],
  'dev.sigstore.rekor.v1.Checkpoint': [f('envelope', 'string')],
  'dev.sigstore.rekor.v1.InclusionProof': [
    f('log_index', 'int64'),
    f('root_hash', 'bytes'),
    f('tree_size', 'int64'),
    f('hashes', 'bytes', { repeated: true }),
    f('checkpoint', { message: 'dev.sigstore.rekor.v1.Checkpoint' }),
  ],
  'dev.sigstore.rekor.v1.InclusionPromise': [f('signed_entry_timestamp', 'bytes')],
  'dev.sigstore.rekor.v1.TransparencyLogEntry': [
    f('log_index', 'int64'),
    f('log_id', { message: 'dev.sigstore.common.v1.LogId' }),
    f('kind_version', { message: 'dev.sigstore.rekor.v1.KindVersion' }),
    f('integrated_time', 'int64'),
    f('inclusion_promise', { message: 'dev.sigstore.rekor.v1.InclusionPromise' }),
    f('inclusion_proof', { message: 'dev.sigstore.rekor.v1.InclusionProof' }),
    f('canonicalized_body', 'bytes'),
  ],
  // envelope.proto (field names are declared in camelCase there)
  'io.intoto.Envelope': [
    f('payload', 'bytes'),
    f('payloadType', 'string'),
    f('signatures', { message: 'io.intoto.Signature' }, { repeated: true }),
  ],
  'io.intoto.Signature': [f('sig', 'bytes'), f('keyid', 'string')],
  // in_toto_attestation/v1
  'in_toto_attestation.v1.Statement': [
    f('type', 'string', { json: '_type' }),
    f('subject', { message: 'in_toto_attestation.v1.ResourceDescriptor' }, { repeated: true }),
    f('predicate_type', 'string'),
    f('predicate', 'struct'),
  ],
  'in_toto_attestation.v1.ResourceDescriptor': [
    f('name', 'string'),
    f('uri', 'string'),
    f('digest', 'map<string,string>'),
    f('content', 'bytes'),
    f('download_location', 'string'),
    f('media_type', 'string'),
    f('annotations', 'struct'),
  ],
};

/** protoc's default JSON name: lowerCamelCase of the proto name. */
function jsonName(field: Field): string {
  return field.json ?? field.proto.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

// protojson decodes bytes with base64.StdEncoding or URLEncoding, padded or not.
const BASE64 = /^(?:[A-Za-z0-9+/]*|[A-Za-z0-9_-]*)={0,2}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class ProtojsonError extends Error {}

function checkScalar(kind: Scalar, v: unknown, path: string): void {
  const bad = (what: string): never => {
    throw new ProtojsonError(`proto: (line 1): invalid value for ${what} field ${path}: ${JSON.stringify(v)}`);
  };
  switch (kind) {
    case 'string':
      if (typeof v !== 'string') bad('string');
      return;
    case 'bytes':
      if (typeof v !== 'string' || v.length % 4 === 1 || !BASE64.test(v)) bad('bytes');
      return;
    case 'int64':
      // int64 is a JSON number or a decimal string.
      if (!(typeof v === 'number' && Number.isInteger(v)) && !(typeof v === 'string' && /^-?\d+$/.test(v)))
        bad('int64');
      return;
    case 'int32':
      if (!(typeof v === 'number' && Number.isInteger(v))) bad('int32');
      return;
    case 'enum':
      if (typeof v !== 'string' && !(typeof v === 'number' && Number.isInteger(v))) bad('enum');
      return;
    case 'struct':
      if (!isObject(v)) bad('google.protobuf.Struct');
      return;
    case 'map<string,string>':
      if (!isObject(v) || Object.values(v).some((x) => typeof x !== 'string')) bad('map<string, string>');
      return;
  }
}

function checkMessage(type: string, v: unknown, path: string): void {
  const fields = MESSAGES[type];
  if (!fields) throw new Error(`no field table for ${type}`);
  if (!isObject(v)) throw new ProtojsonError(`proto: (line 1): unexpected token for message ${type} at ${path}`);
  const seen = new Set<string>();
  const oneofs = new Map<string, string>();
  for (const [key, value] of Object.entries(v)) {
    const field = fields.find((x) => x.proto === key || jsonName(x) === key);
    if (!field) throw new ProtojsonError(`proto: (line 1): unknown field "${key}" in ${type}`);
    if (seen.has(field.proto)) throw new ProtojsonError(`proto: (line 1): duplicate field "${key}" in ${type}`);
    seen.add(field.proto);
    if (value === null) continue;
    if (field.oneof) {
      const other = oneofs.get(field.oneof);
      if (other)
        throw new ProtojsonError(
          `proto: (line 1): error parsing "${key}", oneof ${type}.${field.oneof} is already set`,
        );
      oneofs.set(field.oneof, key);
    }
    const at = `${path}.${key}`;
    const one = (x: unknown, p: string): void => {
      if (typeof field.kind === 'string') checkScalar(field.kind, x, p);
      else checkMessage(field.kind.message, x, p);
    };
    if (field.repeated) {
      if (!Array.isArray(value)) throw new ProtojsonError(`proto: (line 1): invalid value for repeated field ${at}`);
      value.forEach((x, i) => one(x, `${at}[${i}]`));
    } else one(value, at);
  }
}

/** Parses `bytes` as Go's protojson.Unmarshal would parse them into `type`; throws where it would fail. */
export function protojsonUnmarshal(bytes: Buffer | string, type: keyof typeof MESSAGES): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  } catch (e) {
    throw new ProtojsonError(`proto: syntax error: ${(e as Error).message}`);
  }
  checkMessage(type, v, type.slice(type.lastIndexOf('.') + 1));
  return v as Record<string, unknown>;
}

/** Reads a field of a protojson-parsed message by its proto name, whichever name the JSON used. */
export function protoField(message: Record<string, unknown>, type: string, proto: string): unknown {
  const field = MESSAGES[type]?.find((x) => x.proto === proto);
  if (!field) throw new Error(`${type} has no field ${proto}`);
  return message[jsonName(field)] ?? message[field.proto];
}
