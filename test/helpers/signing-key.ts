import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A fresh ECDSA P-256 key pair written as `<name>.key` (PKCS#8 PEM, mode 0600) and `<name>.pub`
 * (SPKI PEM) in `dir`, plus `<name>.policy.yaml`, a policy that trusts the public key and adds
 * `require` (YAML lines, optional): what `sign --key` and `verify --policy` take.
 */
export function signingKeyFiles(dir: string, name: string, require = ''): { key: string; pub: string; policy: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const key = join(dir, `${name}.key`);
  const pub = join(dir, `${name}.pub`);
  const policy = join(dir, `${name}.policy.yaml`);
  writeFileSync(key, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(policy, `version: 1\nsigners:\n  - key: { path: ${pub} }\n${require}`);
  return { key, pub, policy };
}
