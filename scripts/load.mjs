#!/usr/bin/env node
// Load check (npm run load; not part of CI — it writes tens of GiB): against a real
// docker-registry on 127.0.0.1,
//   1. 20 signed models pushed and then promoted concurrently in one process (in-process core:
//      peak RSS sampled, open file descriptors before/after),
//   2. a 1,000-file model packed, pushed, pulled and extracted byte-identical (CLI, peak RSS),
//   3. one LOAD_BIG_GIB (default 20) GiB sparse file packed to a layout, pushed and pulled back
//      into a layout (CLI, peak RSS, bytes read / size), when the disk has room.
// Figures go to stdout and, with LOAD_REPORT=file, as JSON; docs/reliability.md quotes them.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const root = resolve(import.meta.dirname, '..');
const work = process.env.LOAD_DIR ?? join(root, '.load');
const cli = join(root, 'packages', 'cli', 'bin', 'modelship.js');
const core = await import(join(root, 'packages', 'core', 'lib', 'index.js'));
const MODELS = Number(process.env.LOAD_MODELS ?? 20);
const FILES = Number(process.env.LOAD_FILES ?? 1000);
const BIG_GIB = Number(process.env.LOAD_BIG_GIB ?? 20);
const MiB = 1024 * 1024;
const report = { node: process.version };
const line = (k, v) => console.log(`${k.padEnd(48)} ${v}`);
const fds = () => readdirSync('/proc/self/fd').length;
const rssMiB = () => process.memoryUsage().rss / MiB;

async function freePort() {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}

async function startRegistry() {
  const dir = join(work, 'registry');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const cfg = join(dir, 'config.yml');
  writeFileSync(
    cfg,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'storage')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const p = spawn('/usr/bin/docker-registry', ['serve', cfg], { stdio: 'ignore' });
  process.on('exit', () => p.kill('SIGKILL'));
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/v2/`);
      if (r.ok) return { host: `127.0.0.1:${port}`, stop: () => p.kill('SIGTERM') };
    } catch {
      await sleep(100);
    }
  }
  throw new Error('docker-registry did not start');
}

/** Runs the CLI with the bench's RSS/rchar reporter preloaded. */
function runCli(args, env = {}) {
  const out = join(work, `rep-${process.hrtime.bigint()}.json`);
  const t = performance.now();
  const r = spawnSync(process.execPath, ['--import', join(root, 'bench', 'rss-report.mjs'), cli, ...args], {
    env: { ...process.env, MODELSHIP_BENCH_REPORT: out, MODELSHIP_CACHE_DIR: join(work, 'cache'), ...env },
    encoding: 'utf8',
    maxBuffer: 64 * MiB,
  });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`modelship ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  const rep = JSON.parse(readFileSync(out, 'utf8'));
  rmSync(out);
  return { ms, rssMiB: rep.maxRssKiB / 1024, rchar: rep.rchar, stdout: r.stdout };
}

function treeDigests(dir) {
  const out = new Map();
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(relative(dir, p), createHash('sha256').update(readFileSync(p)).digest('hex'));
    }
  };
  walk(dir);
  return out;
}

function makeModel(dir, weights) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'llama', architectures: ['LlamaForCausalLM'] }));
  writeFileSync(join(dir, 'README.md'), '---\nlicense: apache-2.0\n---\n# load test model\n');
  weights.forEach((bytes, i) => writeFileSync(join(dir, `model-${i}.safetensors`), bytes));
}

async function concurrentPushPromote(reg) {
  const keys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const keyPath = join(work, 'release.key');
  const pubPath = join(work, 'release.pub');
  writeFileSync(keyPath, keys.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(pubPath, keys.publicKey.export({ type: 'spki', format: 'pem' }));
  const layouts = [];
  for (let i = 0; i < MODELS; i++) {
    const m = join(work, 'models', `m${i}`);
    makeModel(m, [randomBytes(4 * MiB), randomBytes(4 * MiB)]);
    const layout = join(work, 'layouts', `m${i}`);
    runCli(['pack', m, '--output', `${layout}:v1`, '--json', '--no-progress', '--name', `m${i}`]);
    runCli(['sign', `oci:${layout}:v1`, '--key', keyPath, '--no-tlog']);
    layouts.push(layout);
  }
  const policy = core.parsePolicy(`version: 1\nsigners:\n  - key: { path: ${pubPath} }\n`, 'load-policy.yaml');
  const recordSetup = await core.signingSetup({ key: core.keySourceFrom(keyPath), tlog: false });
  // Let lazily opened things (worker pool, agents) settle before the baseline.
  await sleep(200);
  const fdsBefore = fds();
  let peak = rssMiB();
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB())), 25);
  const access = { plainHttp: true, dockerConfig: '/nonexistent', backoffMs: 100 };
  const t = performance.now();
  const results = await Promise.all(
    layouts.map(async (layout, i) => {
      const src = await core.OciLayoutStore.open(layout);
      const staging = new core.RegistryStore({ registry: reg.host, repository: `staging/m${i}`, ...access });
      const prodRepo = `prod/m${i}`;
      try {
        const root = await src.resolve('v1');
        const pushed = await core.copyGraph(src, staging, root, { tags: ['v1'] });
        const promoted = await core.promoteArtifact({
          source: { name: `${reg.host}/staging/m${i}`, store: staging, reference: root.digest },
          destination: {
            name: `${reg.host}/${prodRepo}`,
            store: async () => new core.RegistryStore({ registry: reg.host, repository: prodRepo, ...access }),
          },
          tags: ['v1'],
          policy,
          recordSetup,
        });
        return { pushed, promoted };
      } finally {
        await src.close();
        await staging.close();
      }
    }),
  );
  const ms = performance.now() - t;
  clearInterval(sampler);
  await sleep(500);
  const fdsAfter = fds();
  const mounted = results.reduce((a, r) => a + r.promoted.stats.blobsMounted, 0);
  const copied = results.reduce((a, r) => a + r.promoted.stats.blobsCopied, 0);
  // Every promoted model verifies at the destination.
  let verified = 0;
  for (let i = 0; i < MODELS; i++) {
    const store = new core.RegistryStore({ registry: reg.host, repository: `prod/m${i}`, ...access });
    const r = await core.verifyArtifact({ store, reference: 'v1', policy });
    await store.close();
    if (r.ok) verified++;
  }
  report.concurrent = {
    models: MODELS,
    seconds: ms / 1000,
    peakRssMiB: peak,
    fdsBefore,
    fdsAfter,
    mounted,
    copied,
    verified,
  };
  line(`${MODELS} models push + promote, concurrently`, `${(ms / 1000).toFixed(1)} s`);
  line('  peak RSS (whole process)', `${peak.toFixed(0)} MiB`);
  line('  open fds before / after', `${fdsBefore} / ${fdsAfter}`);
  line('  promote blobs mounted / copied', `${mounted} / ${copied}`);
  line('  verified at destination', `${verified} / ${MODELS}`);
  if (verified !== MODELS || fdsAfter > fdsBefore) process.exitCode = 1;
}

function thousandFiles(reg) {
  const m = join(work, 'many');
  mkdirSync(m, { recursive: true });
  writeFileSync(join(m, 'config.json'), JSON.stringify({ model_type: 'bert' }));
  for (let i = 0; i < FILES; i++) {
    const d = join(m, `part-${i % 10}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, `shard-${i}.bin`), randomBytes(1024 + ((i * 7919) % (256 * 1024))));
  }
  const ref = `${reg.host}/load/many:v1`;
  const p = runCli(['pack', m, '--push', ref, '--plain-http', '--json', '--no-progress']);
  const out = join(work, 'many-extracted');
  const q = runCli(['pull', ref, '--plain-http', '--extract', out, '--no-progress']);
  const a = treeDigests(m);
  const b = treeDigests(out);
  const same = a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
  report.thousandFiles = {
    files: FILES,
    packPushSeconds: p.ms / 1000,
    packRssMiB: p.rssMiB,
    pullSeconds: q.ms / 1000,
    pullRssMiB: q.rssMiB,
    identical: same,
  };
  line(`${FILES}-file model pack + push`, `${(p.ms / 1000).toFixed(1)} s, peak RSS ${p.rssMiB.toFixed(0)} MiB`);
  line(
    `${FILES}-file model pull + extract`,
    `${(q.ms / 1000).toFixed(1)} s, peak RSS ${q.rssMiB.toFixed(0)} MiB, identical: ${same}`,
  );
  if (!same) process.exitCode = 1;
}

function bigSparse(reg) {
  const size = BIG_GIB * 1024 * MiB;
  const m = join(work, 'big');
  makeModel(m, []);
  const fd = openSync(join(m, 'model.safetensors'), 'w');
  ftruncateSync(fd, size);
  closeSync(fd);
  const p = runCli(['pack', m, '--output', `${join(work, 'big-oci')}:v1`, '--json', '--no-progress', '--no-cache']);
  report.big = { gib: BIG_GIB, packSeconds: p.ms / 1000, packRssMiB: p.rssMiB, bytesReadPerSize: p.rchar / size };
  line(
    `${BIG_GIB} GiB sparse file pack -> layout`,
    `${(p.ms / 1000).toFixed(1)} s, peak RSS ${p.rssMiB.toFixed(0)} MiB, read/size ${(p.rchar / size).toFixed(3)}`,
  );
  const fs = statfsSync(work);
  if (fs.bavail * fs.bsize > 2.5 * size) {
    const q = runCli([
      'push',
      `oci:${join(work, 'big-oci')}:v1`,
      `${reg.host}/load/big:v1`,
      '--plain-http',
      '--no-progress',
    ]);
    report.big.pushSeconds = q.ms / 1000;
    report.big.pushRssMiB = q.rssMiB;
    line(`${BIG_GIB} GiB push -> registry`, `${(q.ms / 1000).toFixed(1)} s, peak RSS ${q.rssMiB.toFixed(0)} MiB`);
    // And back: the pull writes the blob for real (the registry's copy is not sparse either).
    const left = statfsSync(work);
    const pulled = join(work, 'big-pulled');
    if (left.bavail * left.bsize > 1.2 * size) {
      // Twice: received by the download workers (plain HTTP), then through undici on the main
      // thread, the way every pull over HTTPS goes (MODELSHIP_RAW_GET=0).
      for (const [key, label, env] of [
        ['pull', 'pull registry -> layout', {}],
        ['pullUndici', 'pull registry -> layout, undici', { MODELSHIP_RAW_GET: '0' }],
      ]) {
        const r = runCli(
          ['pull', `${reg.host}/load/big:v1`, '--output', `${pulled}:v1`, '--plain-http', '--json', '--no-progress'],
          env,
        );
        report.big[`${key}Seconds`] = r.ms / 1000;
        report.big[`${key}RssMiB`] = r.rssMiB;
        line(
          `${BIG_GIB} GiB ${label}`,
          `${(r.ms / 1000).toFixed(1)} s, peak RSS ${r.rssMiB.toFixed(0)} MiB (target < 200)`,
        );
        rmSync(pulled, { recursive: true, force: true });
      }
    } else line(`${BIG_GIB} GiB pull registry -> layout`, 'skipped: not enough free disk for the pulled copy');
  } else line(`${BIG_GIB} GiB push -> registry`, 'skipped: not enough free disk for the registry copy');
}

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const reg = await startRegistry();
try {
  await concurrentPushPromote(reg);
  thousandFiles(reg);
  if (BIG_GIB > 0) bigSparse(reg);
} finally {
  reg.stop();
  if (process.env.LOAD_REPORT) writeFileSync(process.env.LOAD_REPORT, JSON.stringify(report, null, 2));
  if (!process.env.LOAD_KEEP) rmSync(work, { recursive: true, force: true });
}
