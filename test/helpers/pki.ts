/**
 * X.509 test PKI made with the openssl CLI (scripts/test-tools.mjs checks it is installed): a
 * root CA, intermediates and code-signing leaves as the Notary Project's certificate
 * requirements want them (signature-specification.md, "Certificate Requirements"), or with one
 * requirement broken on purpose. `openssl ca` issues everything, so validity can be any past
 * or future window.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type KeySpec = 'ec-p256' | 'ec-p384' | 'ec-p521' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096';

export interface Issued {
  name: string;
  key: string;
  cert: string;
  /** PEM of the certificate. */
  pem: string;
}

const ROOT_EXT =
  'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n';
const INTERMEDIATE_EXT =
  'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n';
/** What `notation cert generate-test` and the spec ask of a code-signing leaf. */
export const CODE_SIGNING_EXT =
  'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n';

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function keyArgs(spec: KeySpec): string[] {
  if (spec.startsWith('rsa-')) return ['-newkey', `rsa:${spec.slice(4)}`];
  const curve = { 'ec-p256': 'P-256', 'ec-p384': 'P-384', 'ec-p521': 'P-521' }[spec as 'ec-p256'];
  return ['-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${curve}`];
}

/** `/C=US/ST=WA/O=acme/CN=x` from `C=US, ST=WA, O=acme, CN=x`. */
function subj(dn: string): string {
  return '/' + dn.split(/,\s*/).join('/');
}

export class TestPki {
  private serial = 1;
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(
      join(dir, 'ca.cnf'),
      '[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=optional\n',
    );
  }

  /** A self-signed root CA (`openssl ca -selfsign`, so its validity can start in the past too). */
  root(name: string, dn: string, options: { spec?: KeySpec; start?: string; end?: string } = {}): Issued {
    const key = join(this.dir, `${name}.key`);
    const csr = join(this.dir, `${name}.csr`);
    const cert = join(this.dir, `${name}.pem`);
    const extFile = join(this.dir, `${name}.ext`);
    writeFileSync(extFile, ROOT_EXT);
    openssl(
      ['req', '-new', ...keyArgs(options.spec ?? 'ec-p256'), '-nodes', '-keyout', key, '-out', csr, '-subj', subj(dn)],
      this.dir,
    );
    this.sign(['-selfsign', '-keyfile', key], csr, cert, extFile, options);
    return { name, key, cert, pem: readFileSync(cert, 'utf8') };
  }

  /**
   * A certificate issued by `issuer`: `ext` is its extensions section (CODE_SIGNING_EXT for a
   * leaf, `intermediate` for a CA below the root); `start`/`end` are openssl ca dates
   * (YYYYMMDDHHMMSSZ), default valid from yesterday for ten years.
   */
  issue(
    issuer: Issued,
    name: string,
    dn: string,
    options: { spec?: KeySpec; ext?: string | 'intermediate'; start?: string; end?: string } = {},
  ): Issued {
    const key = join(this.dir, `${name}.key`);
    const csr = join(this.dir, `${name}.csr`);
    const cert = join(this.dir, `${name}.pem`);
    const extFile = join(this.dir, `${name}.ext`);
    writeFileSync(extFile, options.ext === 'intermediate' ? INTERMEDIATE_EXT : (options.ext ?? CODE_SIGNING_EXT));
    openssl(
      ['req', '-new', ...keyArgs(options.spec ?? 'ec-p256'), '-nodes', '-keyout', key, '-out', csr, '-subj', subj(dn)],
      this.dir,
    );
    this.sign(['-cert', issuer.cert, '-keyfile', issuer.key], csr, cert, extFile, options);
    return { name, key, cert, pem: readFileSync(cert, 'utf8') };
  }

  private sign(
    by: string[],
    csr: string,
    cert: string,
    extFile: string,
    dates: { start?: string; end?: string },
  ): void {
    writeFileSync(join(this.dir, 'serial'), (this.serial++).toString(16).padStart(4, '0') + '\n');
    const day = 24 * 3600 * 1000;
    const fmt = (d: Date) =>
      d
        .toISOString()
        .replace(/[-:T]/g, '')
        .replace(/\.\d{3}Z$/, 'Z');
    const start = dates.start ?? fmt(new Date(Date.now() - day));
    const end = dates.end ?? fmt(new Date(Date.now() + 3650 * day));
    openssl(
      [
        'ca',
        '-batch',
        '-config',
        'ca.cnf',
        ...by,
        '-in',
        csr,
        '-out',
        cert,
        '-startdate',
        start,
        '-enddate',
        end,
      ].concat(['-extfile', extFile, '-preserveDN', '-notext']),
      this.dir,
    );
  }

  /** Writes PEM certificates, in order, to one file (a `--cert` chain or a trust store). */
  bundle(name: string, certs: Issued[]): string {
    const path = join(this.dir, name);
    writeFileSync(path, certs.map((c) => c.pem).join(''));
    return path;
  }
}
