import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { ModelshipError } from '../errors.js';
import { pemBlocks } from '../sign/pem.js';
import { describe, parseCertificate, type NotationCertificate } from './x509.js';

// A chain or a store file is a few KiB; refusing big files keeps a wrong path (a model file) cheap.
const MAX_CERT_FILE = 1024 * 1024;

/**
 * Certificates from PEM (every block a CERTIFICATE) or, when the text holds no PEM block, one
 * or more concatenated DER certificates, as notation-core-go's ReadCertificateFile reads them.
 */
export function parseCertificates(data: Buffer, name: string): NotationCertificate[] {
  const text = data.toString('latin1');
  if (text.includes('-----BEGIN')) {
    const blocks = pemBlocks(text);
    const other = blocks.find((b) => b.label !== 'CERTIFICATE');
    if (other)
      throw new ModelshipError('INPUT', `${name} holds a ${other.label} block; only certificates belong there`, {
        hint: 'keep the private key in its own file',
      });
    return blocks.map((b, i) => parseOne(b.body, `${name} (certificate ${i + 1})`));
  }
  const certs: NotationCertificate[] = [];
  let rest = data;
  while (rest.length > 0) {
    // DER: a SEQUENCE with a definite length; the certificate is that many bytes.
    const len = derLength(rest);
    if (len === undefined) throw new ModelshipError('INPUT', `${name} is neither PEM nor DER certificates`);
    certs.push(parseOne(rest.subarray(0, len), `${name} (certificate ${certs.length + 1})`));
    rest = rest.subarray(len);
  }
  return certs;
}

function derLength(b: Buffer): number | undefined {
  if (b.length < 2 || b[0] !== 0x30) return undefined;
  const first = b[1]!;
  if (first < 0x80) return 2 + first;
  const n = first & 0x7f;
  if (n === 0 || n > 4 || b.length < 2 + n) return undefined;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + b[2 + i]!;
  return 2 + n + len <= b.length ? 2 + n + len : undefined;
}

function parseOne(der: Buffer, name: string): NotationCertificate {
  try {
    return parseCertificate(der);
  } catch (e) {
    throw new ModelshipError('INPUT', `${name} is not a valid X.509 certificate: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

async function readSmall(path: string, what: string): Promise<Buffer> {
  const stat = await fsp.lstat(path).catch((e: NodeJS.ErrnoException) => {
    throw new ModelshipError('INPUT', `cannot read ${what} ${path}: ${e.code ?? e.message}`, { cause: e });
  });
  if (stat.isSymbolicLink())
    throw new ModelshipError('INPUT', `${what} ${path} is a symbolic link, which Notation trust stores do not allow`, {
      hint: 'point at the file itself',
    });
  if (stat.size > MAX_CERT_FILE)
    throw new ModelshipError('INPUT', `${what} ${path} is ${stat.size} bytes, too big for certificates`);
  return fsp.readFile(path);
}

/**
 * A trust store: one PEM/DER file, or a directory whose every entry is a certificate file (a
 * Notation named store, `truststore/x509/ca/<name>`). As notation-go's truststore package,
 * sub-directories and symbolic links are refused, and each certificate must be a CA or
 * self-signed. Certificates are trust anchors by their exact bytes.
 */
export async function loadTrustStore(path: string): Promise<NotationCertificate[]> {
  const stat = await fsp.lstat(path).catch((e: NodeJS.ErrnoException) => {
    throw new ModelshipError('INPUT', `cannot read trust store ${path}: ${e.code ?? e.message}`, {
      cause: e,
      hint: 'trustStore is a PEM file of CA certificates or a directory of them, relative to the policy file',
    });
  });
  if (stat.isSymbolicLink())
    throw new ModelshipError(
      'INPUT',
      `trust store ${path} is a symbolic link, which Notation trust stores do not allow`,
    );
  const files: string[] = [];
  if (stat.isDirectory()) {
    for (const entry of (await fsp.readdir(path, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (!entry.isFile())
        throw new ModelshipError(
          'INPUT',
          `trust store ${path}: ${entry.name} is not a regular file (directories and symbolic links are not allowed in a trust store)`,
        );
      files.push(join(path, entry.name));
    }
  } else files.push(path);
  const certs: NotationCertificate[] = [];
  for (const file of files) {
    const found = parseCertificates(await readSmall(file, 'trust store file'), file);
    for (const c of found)
      if (!c.basicConstraints?.ca && !c.x509.verify(c.publicKey))
        throw new ModelshipError(
          'INPUT',
          `trust store ${file}: certificate "${describe(c)}" is neither a CA nor self-signed`,
          { hint: 'a trust store holds root (CA) certificates; a leaf certificate there is not a trust anchor' },
        );
    certs.push(...found);
  }
  if (certs.length === 0) throw new ModelshipError('INPUT', `trust store ${path} holds no certificates`);
  return certs;
}
