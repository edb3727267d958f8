import { describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MODELSHIP_VERSION,
  REKOR_ENTRY_TYPES,
  customPredicates,
  metadataOverrides,
  packTags,
  parseAttestationKinds,
  parseSbomFormats,
  parseChoice,
  parseConcurrency,
  parseCreated,
  parseKeyValues,
  parseRegistryHost,
  planPromotion,
  readPublicKeys,
  registryAccess,
  requireReference,
  type PromotionRequest,
} from '../src/request/index.js';

/** What a call throws, so code, message and hint can be asserted together. */
function thrown(fn: () => unknown): { code?: string; message?: string; hint?: string } {
  try {
    fn();
  } catch (e) {
    return e as { code?: string; message?: string; hint?: string };
  }
  throw new Error('expected a throw');
}

describe('parseConcurrency', () => {
  it('takes 1..64, empty as the default, and names the label otherwise', () => {
    expect(parseConcurrency('8', '--concurrency')).toBe(8);
    expect(parseConcurrency('', 'concurrency')).toBe(4);
    expect(parseConcurrency(undefined, 'concurrency', 2)).toBe(2);
    for (const bad of ['0', '65', '1.5', 'many']) {
      const e = thrown(() => parseConcurrency(bad, 'input concurrency'));
      expect(e.code).toBe('USAGE');
      expect(e.message).toBe(`input concurrency "${bad}" must be an integer from 1 to 64`);
    }
  });
});

describe('parseCreated', () => {
  it('records now in whole seconds for true, nothing for false/undefined', () => {
    const now = () => new Date('2026-01-31T12:00:00.123Z');
    expect(parseCreated(true, '--created', now)).toBe('2026-01-31T12:00:00Z');
    expect(parseCreated(false, '--created')).toBeUndefined();
    expect(parseCreated(undefined, '--created')).toBeUndefined();
    expect(parseCreated('2026-01-31T12:00:00+02:00', '--created')).toBe('2026-01-31T12:00:00+02:00');
  });

  // Drift: the CLI accepted any Date.parse-able text starting with a date and a T (no seconds,
  // no offset), the actions anything Date.parse takes ("2026", "Jan 31 2026"); the ModelPack
  // config builder (isRfc3339) then refused it later with another message.
  it.each(['2026-01-31T12:00', '2026-01-31T12:00:00', '2026', 'Jan 31 2026', 'yesterday'])(
    'refuses %s as the config builder would, naming the label',
    (v) => {
      const e = thrown(() => parseCreated(v, 'input created'));
      expect(e.code).toBe('USAGE');
      expect(e.message).toBe(`input created "${v}" is not an RFC 3339 date-time`);
    },
  );
});

describe('parseKeyValues', () => {
  // Drift: the action trimmed key and value, the CLI did not (`-a " k = v "` gave key " k ").
  it('trims key and value, keeps = inside the value', () => {
    expect(parseKeyValues([' k = v ', 'a=b=c', 'empty='], '--annotation')).toEqual({ k: 'v', a: 'b=c', empty: '' });
  });

  it.each(['novalue', '=v', ' = v'])('refuses %j naming the label', (entry) => {
    const e = thrown(() => parseKeyValues([entry], 'input annotations'));
    expect(e.code).toBe('USAGE');
    expect(e.message).toBe(`input annotations "${entry}" is not key=value`);
  });
});

describe('metadataOverrides', () => {
  it('drops unset and empty values, trims text and list entries', () => {
    expect(
      metadataOverrides({
        name: ' m ',
        version: '',
        family: undefined,
        licenses: [' mit ', ''],
        authors: [],
      }),
    ).toEqual({ name: 'm', licenses: ['mit'] });
  });
});

describe('registryAccess', () => {
  const labels = { username: 'input username', password: 'input password' };

  it('refuses a password without a username, naming both settings', () => {
    const e = thrown(() => registryAccess({ password: 'pw' }, labels));
    expect(e.code).toBe('USAGE');
    expect(e.message).toBe('a password (input password) was given without a username');
    expect(e.hint).toBe('set input username too');
    expect(e.message).not.toContain('pw');
  });

  it('keeps the flags and the credentials given', () => {
    expect(registryAccess({ plainHttp: true, insecure: false }, labels)).toEqual({ plainHttp: true });
    expect(registryAccess({ username: 'u', password: 'p', dockerConfig: '/c.json' }, labels)).toEqual({
      username: 'u',
      password: 'p',
      dockerConfig: '/c.json',
    });
    expect(registryAccess({ username: 'u', password: '' }, labels)).toEqual({ username: 'u', password: '' });
  });
});

describe('parseRegistryHost', () => {
  it('takes host[:port] and the URL forms docker accepts; refuses repositories and junk, naming the label', () => {
    expect(parseRegistryHost('ghcr.io', 'HOST')).toBe('ghcr.io');
    expect(parseRegistryHost(' localhost:5000 ', 'HOST')).toBe('localhost:5000');
    expect(parseRegistryHost('https://index.docker.io/v1/', 'HOST')).toBe('index.docker.io');
    expect(parseRegistryHost('http://127.0.0.1:5000', 'HOST')).toBe('127.0.0.1:5000');
    expect(parseRegistryHost('[::1]:5000', 'HOST')).toBe('[::1]:5000');
    expect(thrown(() => parseRegistryHost('ghcr.io/acme/model', 'HOST'))).toMatchObject({
      code: 'USAGE',
      message: 'HOST "ghcr.io/acme/model" names a repository; a login is for a registry host',
      hint: 'pass the host alone, e.g. ghcr.io',
    });
    expect(thrown(() => parseRegistryHost('https://ghcr.io/acme', 'HOST')).code).toBe('USAGE');
    expect(thrown(() => parseRegistryHost('', 'HOST')).message).toBe('HOST is empty');
    expect(thrown(() => parseRegistryHost('bad host', 'HOST')).message).toContain('is not a registry host');
  });
});

describe('readPublicKeys', () => {
  it('reads each file and names a missing one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ms-keys-'));
    try {
      const path = join(dir, 'a.pub');
      await writeFile(path, 'PEM');
      expect(await readPublicKeys([path])).toEqual([{ pem: 'PEM', name: path }]);
      await expect(readPublicKeys([join(dir, 'nope.pub')])).rejects.toMatchObject({
        code: 'INPUT',
        message: `cannot read public key ${join(dir, 'nope.pub')}`,
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('requireReference', () => {
  it('returns the tag or digest, or names the label', () => {
    expect(requireReference({ reference: 'v1' }, 'h/r:v1', 'reference')).toBe('v1');
    const e = thrown(() => requireReference({}, 'h/r', 'input reference'));
    expect(e.code).toBe('USAGE');
    expect(e.message).toBe('input reference "h/r" names no tag or digest');
  });
});

describe('planPromotion', () => {
  const D = `sha256:${'a'.repeat(64)}`;
  const base: PromotionRequest = {
    source: 'src.example/m:v1',
    destination: 'dst.example/m',
    record: false,
    signing: {},
    env: {},
    labels: { source: 'input source', destination: 'input destination', key: 'input key', noRecord: 'record: false' },
  };

  it('keeps the source tag when the destination names none, else the destination tag first', () => {
    expect(planPromotion(base)).toEqual({
      sourceReference: 'v1',
      destination: { kind: 'registry', spec: 'dst.example/m' },
      tags: ['v1'],
      record: false,
    });
    expect(planPromotion({ ...base, destination: 'dst.example/m:prod', tags: ['stable'] }).tags).toEqual([
      'prod',
      'stable',
    ]);
    expect(planPromotion({ ...base, source: `src.example/m@${D}` }).tags).toEqual([]);
  });

  it('plans a layout destination without opening it', () => {
    const dir = join(tmpdir(), 'ms-plan-not-created');
    expect(planPromotion({ ...base, destination: `oci:${dir}:v2` }).destination).toEqual({
      kind: 'oci-layout',
      path: dir,
      base: `oci:${dir}`,
    });
  });

  it('refuses what cannot succeed, naming the input', () => {
    expect(thrown(() => planPromotion({ ...base, source: 'src.example/m' })).message).toBe(
      'input source "src.example/m" names no tag or digest',
    );
    expect(thrown(() => planPromotion({ ...base, destination: `dst.example/m@${D}` })).message).toBe(
      `input destination "dst.example/m@${D}" names a digest`,
    );
    // Drift: the promote action accepted "oci:" and failed only after verifying the source.
    expect(thrown(() => planPromotion({ ...base, destination: 'oci:' })).message).toBe(
      'input destination "oci:" names no layout directory',
    );
  });

  it('needs a signer for the record, up front', () => {
    const e = thrown(() => planPromotion({ ...base, record: true }));
    expect(e.code).toBe('USAGE');
    expect(e.message).toBe('promote signs a promotion record, and no signer is configured');
    expect(e.hint).toContain('input key');
    expect(e.hint).toContain('record: false');
    expect(planPromotion({ ...base, record: true, signing: { key: { path: 'k.pem' } } }).record).toBe(true);
    expect(planPromotion({ ...base, record: true, env: { SIGSTORE_ID_TOKEN: 't' } }).record).toBe(true);
  });
});

describe('parseChoice', () => {
  it('takes an allowed value and names the label and the choices otherwise', () => {
    expect(parseChoice('intoto', REKOR_ENTRY_TYPES, '--rekor-entry-type')).toBe('intoto');
    expect(thrown(() => parseChoice('rekord', REKOR_ENTRY_TYPES, 'input rekor-entry-type')).message).toBe(
      'input rekor-entry-type "rekord" is not one of dsse, intoto',
    );
  });
});

describe('parseAttestationKinds', () => {
  // Drift: the CLI dropped a repeated kind, the actions signed and attached it twice.
  it('checks each kind and attests a repeated one once', () => {
    expect(parseAttestationKinds(['slsa', ' mof', 'slsa', ''], 'input types')).toEqual(['slsa', 'mof']);
    expect(parseAttestationKinds(['sbom', 'scan'], '--type')).toEqual(['sbom', 'scan']);
    const e = thrown(() => parseAttestationKinds(['slsa', 'cyclonedx'], '--type'));
    expect(e.code).toBe('USAGE');
    expect(e.message).toBe('--type "cyclonedx" is not one of slsa, mof, files, sbom, scan');
  });
});

describe('parseSbomFormats', () => {
  it('cyclonedx by default, each format checked, a repeated one once', () => {
    expect(parseSbomFormats([], 'input sbom-format')).toEqual(['cyclonedx']);
    expect(parseSbomFormats(['spdx', ' cyclonedx', 'spdx'], '--sbom-format')).toEqual(['spdx', 'cyclonedx']);
    const e = thrown(() => parseSbomFormats(['swid'], '--sbom-format'));
    expect(e.message).toBe('--sbom-format "swid" is not one of cyclonedx, spdx');
  });
});

describe('customPredicates', () => {
  const labels = { type: '--predicate-type', path: '--predicate' };
  it('pairs the type with its file, or refuses one without the other', () => {
    expect(customPredicates(undefined, undefined, labels)).toEqual([]);
    expect(customPredicates('https://x.dev/p', 'p.json', labels)).toEqual([
      { predicateType: 'https://x.dev/p', path: 'p.json' },
    ]);
    expect(thrown(() => customPredicates('https://x.dev/p', '', labels)).message).toBe(
      '--predicate-type and --predicate go together',
    );
  });
});

describe('packTags', () => {
  const D = `sha256:${'b'.repeat(64)}`;
  it('sets the target tag and every tag given, else latest', () => {
    // The target's tag is kept beside the extra ones (it was dropped: `-o DIR:v1 -t stable` set only stable).
    expect(packTags({ reference: 'v1' }, 'h/r:v1', ['a', 'b'], '--push')).toEqual(['v1', 'a', 'b']);
    expect(packTags({ reference: 'v1' }, 'h/r:v1', ['v1', 'a'], '--push')).toEqual(['v1', 'a']);
    expect(packTags({}, 'h/r', ['a'], '--push')).toEqual(['a']);
    expect(packTags({ reference: 'v1' }, 'h/r:v1', [], '--push')).toEqual(['v1']);
    expect(packTags({}, 'h/r', undefined, '--push')).toEqual(['latest']);
  });

  // Drift: the CLI refused a digest target, the pack and release actions went on packing.
  it('refuses a target that names a digest, naming the input', () => {
    const e = thrown(() => packTags({ reference: D }, `h/r@${D}`, [], 'input push'));
    expect(e.code).toBe('USAGE');
    expect(e.message).toBe(`input push "h/r@${D}" names a digest`);
  });
});

describe('MODELSHIP_VERSION', () => {
  it('is the version of packages/core', async () => {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(MODELSHIP_VERSION).toBe(pkg.version);
  });
});
