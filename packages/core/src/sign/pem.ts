import { promises as fsp } from 'node:fs';
import { ModelshipError } from '../errors.js';

/** Where key material comes from: a file, or PEM text from an env variable or CI secret. */
export type KeySource = { path: string } | { pem: string; name?: string };

export interface PemBlock {
  label: string;
  /** The whole block, headers included, as node's createPrivateKey wants it. */
  text: string;
  /** Base64-decoded body (RFC 7468 headers such as Proc-Type skipped). */
  body: Buffer;
  /** Legacy OpenSSL encryption (`Proc-Type: 4,ENCRYPTED`) inside a traditional block. */
  legacyEncrypted: boolean;
}

// A key is a few hundred bytes; refusing big files keeps a wrong --key (a model file) cheap.
const MAX_KEY_FILE = 1024 * 1024;

/** Reads a key source as text plus the name messages use for it (never its content). */
export async function readKeySource(source: KeySource, what: string): Promise<{ text: string; name: string }> {
  if ('pem' in source) {
    const name = `key from ${source.name ?? 'PEM input'}`;
    return { text: unwrapBase64(source.pem), name };
  }
  const path = source.path;
  try {
    const stat = await fsp.stat(path);
    if (stat.isDirectory())
      throw new ModelshipError('INPUT', `${what} ${path} is a directory`, { hint: 'pass the key file itself' });
    if (stat.size > MAX_KEY_FILE)
      throw new ModelshipError('INPUT', `${what} ${path} is ${stat.size} bytes, too big for a PEM key`, {
        hint: 'check the path: a key file is a few hundred bytes',
      });
    return { text: unwrapBase64(await fsp.readFile(path, 'utf8')), name: path };
  } catch (e) {
    if (e instanceof ModelshipError) throw e;
    // No file by that name. A key pasted where a path goes (a base64 CI secret, most often)
    // is used as the key it is; anything else that may be key material is not echoed, since
    // the message reaches logs that the secret store does not mask everywhere.
    const inline = unwrapBase64(path);
    if (inline !== path) return { text: inline, name: `${what} given as base64 text` };
    if (mayBeKeyMaterial(path))
      throw new ModelshipError(
        'INPUT',
        `the ${what} given (${path.length} characters) is not a readable file, nor PEM or base64-encoded PEM text; ` +
          'the value is not shown, as it may be key material',
        // No cause: the file system error quotes the value.
        {
          hint: 'pass the path of the key file, env://VAR naming a variable that holds the key, or the PEM text itself',
        },
      );
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new ModelshipError('INPUT', `${what} ${path} not found`, {
        cause: e,
        hint: 'check the path, or create a key pair with `modelship generate-key-pair`',
      });
    throw new ModelshipError('INPUT', `cannot read ${what} ${path}: ${code ?? String(e)}`, {
      cause: e,
      hint: 'check the file permissions',
    });
  }
}

/**
 * Whether a value that names no file could be a key rather than a mistyped path: PEM-ish text,
 * or a long run without the `.` of a file extension (base64, hex), or a path-free blob with a
 * dot (a JWT). Real key paths (`cosign.key`, `/run/secrets/signing.pem`) are printed as given.
 */
function mayBeKeyMaterial(value: string): boolean {
  if (/[\r\n]/.test(value) || value.includes('-----')) return true;
  if (value.length < 40) return false;
  if (!value.includes('.')) return true;
  return value.split(/[/\\]/).some((segment) => segment.length > 64);
}

/**
 * CI secrets are often stored base64-encoded (`base64 -w0 cosign.key`) because some stores
 * mangle newlines; accept that as long as it decodes to PEM.
 */
function unwrapBase64(text: string): string {
  if (text.includes('-----BEGIN')) return text;
  const compact = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) return text;
  const decoded = Buffer.from(compact, 'base64').toString('utf8');
  return decoded.includes('-----BEGIN') ? decoded : text;
}

const PEM_RE = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

export function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(PEM_RE)) {
    const label = m[1]!;
    const inner = m[2]!;
    // RFC 1421 headers end at the first blank line; without headers the body starts at once.
    const hasHeaders = /^[A-Za-z-]+:/.test(inner);
    const b64 = hasHeaders ? inner.slice(inner.search(/\r?\n\r?\n/) + 1) : inner;
    blocks.push({
      label,
      text: m[0] + '\n',
      body: Buffer.from(b64.replace(/\s+/g, ''), 'base64'),
      legacyEncrypted: hasHeaders && /Proc-Type:\s*4,ENCRYPTED/.test(inner),
    });
  }
  return blocks;
}
