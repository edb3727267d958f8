import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { runCli } from './helpers/cli.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { copySample, tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

interface Timings {
  networkMs: number;
  hashingMs: number;
  diskMs: number;
  wallMs: number;
  bytes: number;
}

function expectTimings(t: Timings | undefined): void {
  expect(t).toBeDefined();
  for (const k of ['networkMs', 'hashingMs', 'diskMs', 'wallMs', 'bytes'] as const) {
    expect(typeof t![k]).toBe('number');
    expect(t![k]).toBeGreaterThanOrEqual(0);
  }
}

describe('progress and where the time went (real docker-registry)', () => {
  let reg: TestRegistry;
  let model: string;
  const env = { MODELSHIP_CACHE_DIR: join(tmp.dir, 'cache') };
  beforeAll(async () => {
    reg = await startRegistry();
    model = copySample(tmp.dir);
  });
  afterAll(async () => reg?.cleanup());

  it('a cold pack --push ends with bytes sent and a busy line naming the network', async () => {
    const r = await runCli(['pack', model, '--push', `${reg.host}/p/model:v1`, '--plain-http'], { env });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^pack: .* transferred \(\d+ sent\), [\d.]+ s, [\d.]+ MB\/s$/m);
    expect(r.stderr).toMatch(/^busy: network [\d.]+ s.*; .* in [\d.]+ s, [\d.]+ MB\/s$/m);
  });

  it('a warm-cache pack --push says the blobs were present, never "0 B 0.0 MB/s"', async () => {
    const r = await runCli(['pack', model, '--push', `${reg.host}/p/model:v1`, '--plain-http'], { env });
    expect(r.status).toBe(0);
    expect(r.stderr).not.toMatch(/0 B 0\.0 MB\/s/);
    expect(r.stderr).not.toMatch(/0\.0 MB\/s/);
    expect(r.stderr).toMatch(/^pack: 0 B of [\d.]+ \w+ transferred \(\d+ present\), [\d.]+ s$/m);
    expect(r.stderr).toMatch(/^busy: network [\d.]+ s; nothing transferred, [\d.]+ s$/m);
  });

  it('pack --push --json carries a timings object with numbers', async () => {
    const r = await runCli(['pack', model, '--push', `${reg.host}/p/model:v1`, '--plain-http', '--json'], { env });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { timings?: Timings; stats: { skipped: number } };
    expectTimings(out.timings);
    expect(out.timings!.bytes).toBe(0); // warm cache: nothing read, nothing sent
    expect(out.stats.skipped).toBeGreaterThan(0);
  });

  it('pull --extract prints the busy line; --json has timings with the bytes written', async () => {
    const dir = join(tmp.dir, 'extracted');
    const r = await runCli(['pull', `${reg.host}/p/model:v1`, '--extract', dir, '--plain-http'], { env });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^busy: network [\d.]+ s.*; .* in [\d.]+ s, [\d.]+ MB\/s$/m);
    const again = await runCli(
      ['pull', `${reg.host}/p/model:v1`, '--extract', join(tmp.dir, 'extracted-json'), '--plain-http', '--json'],
      { env },
    );
    expect(again.status).toBe(0);
    const out = JSON.parse(again.stdout) as { timings?: Timings; bytes: number };
    expectTimings(out.timings);
    expect(out.timings!.bytes).toBe(out.bytes);
  });

  it('pull --output and push of a layout: progress counts blobs, busy line, --json timings', async () => {
    const layout = join(tmp.dir, 'pulled-oci');
    const r = await runCli(['pull', `${reg.host}/p/model:v1`, '--output', `${layout}:v1`, '--plain-http'], { env });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^pull: .* transferred \(\d+ sent\)/m);
    expect(r.stderr).toMatch(/^busy: network [\d.]+ s/m);
    // The registry has every blob: a push moves nothing and says so.
    const p = await runCli(['push', `oci:${layout}:v1`, `${reg.host}/p/model:v1`, '--plain-http'], { env });
    expect(p.status).toBe(0);
    expect(p.stderr).toMatch(/^push: 0 B of .* transferred \(\d+ present\), [\d.]+ s$/m);
    expect(p.stderr).not.toMatch(/0\.0 MB\/s/);
    const j = await runCli(['push', `oci:${layout}:v1`, `${reg.host}/p/copy:v1`, '--plain-http', '--json'], { env });
    expect(j.status).toBe(0);
    const out = JSON.parse(j.stdout) as { timings?: Timings; stats: { bytesCopied: number } };
    expectTimings(out.timings);
    expect(out.timings!.bytes).toBe(out.stats.bytesCopied);
    expect(out.timings!.networkMs).toBeGreaterThan(0);
  });
});
