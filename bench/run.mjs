#!/usr/bin/env node
// npm run bench: performance of pack and push, measured against peers in the same run.
//   BENCH_SHARDS (default 4) x BENCH_SHARD_MIB (default 1024) synthetic safetensors shards.
// Prints: hashing throughput vs `openssl dgst -sha256` on the same bytes (per core used),
// pack into a layout, push to a local docker-registry vs `curl -T` of the same blobs, re-push
// of the unchanged model, peak RSS and bytes read per operation. Not a test: nothing asserted.
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { request as httpRequest, createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const shards = Number(process.env.BENCH_SHARDS ?? 4);
const shardMiB = Number(process.env.BENCH_SHARD_MIB ?? 1024);
const work = process.env.BENCH_DIR ?? join(root, '.bench');
const model = join(work, 'model');
// The CLI as the setup action installs it (dist/cli: one ncc bundle), built here from the
// sources so it is never stale: loading it takes ~0.3 s where the compiled sources' ~200 ESM
// modules take ~0.5 s, and a 4 GiB pull is ~4 s. BENCH_CLI=source runs packages/cli instead.
const cli =
  process.env.BENCH_CLI === 'source'
    ? join(root, 'packages', 'cli', 'bin', 'modelship.js')
    : join(work, 'cli', 'index.js');
const cores = availableParallelism();

const fmt = (bytes, ms) => `${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s`;
const now = () => performance.now();
const line = (k, v) => console.log(`${k.padEnd(44)} ${v}`);

function time(fn) {
  const t = now();
  const r = fn();
  return [now() - t, r];
}

async function freePort() {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}

/** Flush dirty pages first: otherwise one contender pays for the previous one's writeback. */
function settle() {
  spawnSync('sync');
}

function runCli(args, cacheDir) {
  settle();
  const report = join(work, `report-${Date.now()}.json`);
  const t = now();
  const r = spawnSync(process.execPath, ['--import', join(root, 'bench', 'rss-report.mjs'), cli, ...args], {
    env: { ...process.env, MODELSHIP_BENCH_REPORT: report, MODELSHIP_CACHE_DIR: cacheDir },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const ms = now() - t;
  if (r.status !== 0) throw new Error(`modelship ${args.join(' ')} failed:\n${r.stderr}`);
  const rep = JSON.parse(readFileSync(report, 'utf8'));
  rmSync(report);
  return { ms, ...rep, json: JSON.parse(r.stdout) };
}

async function main() {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  if (process.env.BENCH_CLI !== 'source')
    execFileSync(
      process.execPath,
      [
        join(root, 'node_modules', '@vercel', 'ncc', 'dist', 'ncc', 'cli.js'),
        'build',
        join(root, 'packages', 'cli', 'lib', 'bin.js'),
        '-o',
        join(work, 'cli'),
        '--quiet',
      ],
      { stdio: 'inherit' },
    );
  console.log(
    `modelship bench: ${shards} x ${shardMiB} MiB shards, ${cores} cores, node ${process.version}, CLI ${process.env.BENCH_CLI === 'source' ? 'packages/cli (sources)' : 'bundled as dist/cli'}\n`,
  );
  execFileSync(
    process.execPath,
    [
      join(root, 'scripts', 'make-sample-model.mjs'),
      model,
      '--shards',
      String(shards),
      '--shard-mib',
      String(shardMiB),
    ],
    { stdio: 'ignore' },
  );
  const files = readdirSync(model).map((f) => join(model, f));
  const weights = files.filter((f) => f.endsWith('.safetensors'));
  const total = files.reduce((a, f) => a + statSync(f).size, 0);
  const weightBytes = weights.reduce((a, f) => a + statSync(f).size, 0);
  line('model size', `${(total / 2 ** 30).toFixed(2)} GiB in ${files.length} files`);
  // Warm the page cache so every contender reads from memory, not from a cold disk (streamed:
  // the bench process itself stays small).
  const warm = Buffer.alloc(8 * 1024 * 1024);
  for (const f of files) {
    const fd = openSync(f, 'r');
    while (readSync(fd, warm, 0, warm.length, null) > 0);
    closeSync(fd);
  }

  // 1. Hashing: openssl on one core, openssl with one process per core, modelship's pool.
  const [o1] = time(() => execFileSync('openssl', ['dgst', '-sha256', ...weights]));
  const parallelOpenssl = await new Promise((res) => {
    const t = now();
    const groups = Array.from({ length: cores }, (_, i) => weights.filter((_, j) => j % cores === i)).filter(
      (g) => g.length,
    );
    let left = groups.length;
    for (const g of groups)
      spawn('openssl', ['dgst', '-sha256', ...g], { stdio: 'ignore' }).on(
        'close',
        () => --left === 0 && res(now() - t),
      );
  });
  const { hashFiles } = await import(join(root, 'packages', 'core', 'lib', 'hash-pool.js'));
  await hashFiles([weights[0]]); // start the pool
  const t0 = now();
  await hashFiles(weights);
  const h = now() - t0;
  const used = Math.min(cores, weights.length);
  line('openssl dgst -sha256, 1 process', fmt(weightBytes, o1));
  line(`openssl dgst -sha256, ${cores} processes`, fmt(weightBytes, parallelOpenssl));
  line(`modelship hash pool (${used} workers)`, fmt(weightBytes, h));
  line('  ratio per core used vs openssl 1 core', (weightBytes / h / used / (weightBytes / o1)).toFixed(2));
  line(`  ratio vs openssl ${cores} processes`, (parallelOpenssl / h).toFixed(2));

  // 2. Pack into a layout (cold digest cache).
  const cacheDir = join(work, 'cache');
  const layout = join(work, 'layout');
  const p1 = runCli(['pack', model, '--output', `${layout}:v1`, '--json', '--no-progress'], cacheDir);
  line('pack -> OCI layout (cold cache)', `${(p1.ms / 1000).toFixed(2)} s, ${fmt(total, p1.ms)}`);
  line('  peak RSS', `${(p1.maxRssKiB / 1024).toFixed(0)} MB`);
  line('  bytes read / model size', (p1.rchar / total).toFixed(3));
  const p2 = runCli(['pack', model, '--output', `${layout}:v1`, '--json', '--no-progress'], cacheDir);
  line(
    're-pack -> same layout (warm cache)',
    `${(p2.ms / 1000).toFixed(2)} s, bytes read / size ${(p2.rchar / total).toFixed(3)}`,
  );

  // 3. Push to a local docker-registry vs curl.
  if (!existsSync('/usr/bin/docker-registry')) {
    line('push', 'skipped: docker-registry not installed (apt-get install docker-registry)');
    return;
  }
  const first = await startBenchRegistry('registry');
  const reg = first.proc;
  try {
    const host = first.host;
    // curl baseline: monolithic POST + PUT -T of each file, 4 at a time like modelship.
    // Disk writeback makes single runs noisy: alternate the contenders, best of `rounds` each.
    const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
    const curlTimes = [];
    const pushRuns = [];
    const pushOnce = (i) =>
      runCli(
        [
          'pack',
          model,
          '--push',
          `${host}/bench/model${i}:v1`,
          '--plain-http',
          '--json',
          '--no-progress',
          '--no-cache',
        ],
        join(work, `cache-push-${i}`),
      );
    // Untimed, a first upload into the fresh registry: in three runs without it, the upload
    // that came second in round 0 took 17–22 s against 11–13 s in later rounds (the page cache
    // was then filling up: the model, the layout and the registry's first copy).
    await curlUpload(host, 'warm/model', files);
    // Without modelship, a script that does not know the digests hashes each file, then PUTs
    // it (a monolithic PUT needs the digest first): `openssl dgst` then `curl -T`, per lane.
    const diyTimes = [];
    const contenders = [
      async (i) => curlTimes.push(await curlUpload(host, `curl/model${i}`, files)),
      async (i) => pushRuns.push(pushOnce(i)),
      async (i) => diyTimes.push(await curlUpload(host, `diy/model${i}`, files, true)),
    ];
    // Alternate who goes first, so nobody always follows another's writeback.
    for (let i = 0; i < rounds; i++)
      for (const run of i % 2 === 0 ? contenders : [...contenders].reverse()) await run(i);
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const pushTimes = pushRuns.map((r) => r.ms);
    const curlMs = Math.min(...curlTimes);
    const push1 = pushRuns.reduce((a, b) => (b.ms < a.ms ? b : a));
    const secs = (xs) => xs.map((x) => (x / 1000).toFixed(1)).join(', ');
    line(`curl -T of the same blobs (4 parallel) x${rounds}`, `${secs(curlTimes)} s; best ${fmt(total, curlMs)}`);
    line(`pack --push -> registry (no cache) x${rounds}`, `${secs(pushTimes)} s; best ${fmt(total, push1.ms)}`);
    line(
      '  ratio push / curl: best, median',
      `${(push1.ms / curlMs).toFixed(2)}, ${(median(pushTimes) / median(curlTimes)).toFixed(2)}`,
    );
    line('  peak RSS', `${(push1.maxRssKiB / 1024).toFixed(0)} MB`);
    line('  bytes read / model size', (push1.rchar / total).toFixed(3));
    line(
      `openssl dgst, then curl -T, per lane x${rounds}`,
      `${secs(diyTimes)} s; best ${fmt(total, Math.min(...diyTimes))}`,
    );
    line(
      '  ratio push / (openssl + curl): best, median',
      `${(push1.ms / Math.min(...diyTimes)).toFixed(2)}, ${(median(pushTimes) / median(diyTimes)).toFixed(2)}`,
    );
    const cacheP = join(work, 'cache-push2');
    runCli(['pack', model, '--output', `${join(work, 'layout2')}:v1`, '--json', '--no-progress'], cacheP);
    // Only the digest cache it warmed is needed: its 4 GiB would crowd the page cache of the pulls.
    rmSync(join(work, 'layout2'), { recursive: true, force: true });
    const repush = [0, 1, 2].map(() =>
      runCli(['pack', model, '--push', `${host}/bench/model0:v1`, '--plain-http', '--json', '--no-progress'], cacheP),
    );
    line(
      're-push unchanged model (warm cache) x3',
      `${repush.map((r) => (r.ms / 1000).toFixed(2)).join(', ')} s; blobs uploaded: ${repush.map((r) => r.json.stats.uploaded).join(', ')}`,
    );
    const push3 = runCli(
      ['push', `oci:${layout}:v1`, `${host}/bench/copy:v1`, '--plain-http', '--json', '--no-progress'],
      cacheP,
    );
    line(
      'push layout -> registry (new repo)',
      `${(push3.ms / 1000).toFixed(2)} s, ${fmt(total, push3.ms)}, RSS ${(push3.maxRssKiB / 1024).toFixed(0)} MB`,
    );
    await promoteBench(host, layout, total, rounds, cacheP);
    await importBench(host, files, total, cacheP);
    await pullBench(host, `bench/copy`, total, Math.max(rounds, 5), cacheP);
    await resumeBench(host, cacheP);
  } finally {
    reg.kill();
  }
}

/** runCli without blocking the event loop: the stand-in Hub answers from this process. */
function runCliAsync(args, cacheDir, env = {}) {
  settle();
  const report = join(work, `report-${Date.now()}.json`);
  const t = now();
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['--import', join(root, 'bench', 'rss-report.mjs'), cli, ...args], {
      env: { ...process.env, MODELSHIP_BENCH_REPORT: report, MODELSHIP_CACHE_DIR: cacheDir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      const ms = now() - t;
      if (code !== 0) return rej(new Error(`modelship ${args.join(' ')} failed:\n${err}`));
      const rep = JSON.parse(readFileSync(report, 'utf8'));
      rmSync(report);
      res({ ms, ...rep, json: JSON.parse(out) });
    });
  });
}

/** The stand-in Hub of the tests (test/helpers/hf-hub.ts, node: imports only), transpiled as is. */
async function loadHubStandIn() {
  const ts = (await import('typescript')).default;
  const src = readFileSync(join(root, 'test', 'helpers', 'hf-hub.ts'), 'utf8');
  const js = ts.transpileModule(src, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const path = join(work, 'hf-hub.mjs');
  writeFileSync(path, js);
  return import(path);
}

/**
 * 5. Import from a Hub (the tests' stand-in on loopback: API, resolve/ redirects to a CDN origin
 * serving the shards from disk) into the registry, vs the do-it-yourself way: curl every file
 * from the same stand-in (4 at a time), then pack --push the download. Then a re-import of the
 * unchanged revision.
 */
async function importBench(host, files, total, cacheDir) {
  const { startHubStandIn } = await loadHubStandIn();
  const { hashFiles } = await import(join(root, 'packages', 'core', 'lib', 'hash-pool.js'));
  const hub = await startHubStandIn({ pageSize: 1000 });
  try {
    const weights = files.filter((f) => f.endsWith('.safetensors'));
    const digests = await hashFiles(weights);
    hub.addRepo('bench/model');
    hub.commit(
      'bench/model',
      files.map((f) => {
        const path = f.slice(model.length + 1);
        const i = weights.indexOf(f);
        return i >= 0
          ? { path, file: f, size: statSync(f).size, sha256: digests[i].digest.slice('sha256:'.length) }
          : { path, data: readFileSync(f) };
      }),
    );
    const env = { HF_ENDPOINT: hub.url, HF_HOME: join(work, 'hf-home'), HF_TOKEN: '' };
    const imported = await runCliAsync(
      ['import', 'hf://bench/model', '--push', `${host}/bench/imported:v1`, '--plain-http', '--json', '--no-progress'],
      cacheDir,
      env,
    );
    const download = join(work, 'hub-download', 'model');
    mkdirSync(download, { recursive: true });
    settle();
    const t = now();
    const q = files.map((f) => f.slice(model.length + 1));
    const lane = async () => {
      for (let p = q.shift(); p; p = q.shift()) {
        await new Promise((res, rej) =>
          spawn('curl', ['-sSfL', '-o', join(download, p), `${hub.url}/bench/model/resolve/main/${p}`], {
            stdio: 'ignore',
          }).on('close', (c) => (c === 0 ? res() : rej(new Error(`curl exit ${c}`)))),
        );
      }
    };
    await Promise.all([lane(), lane(), lane(), lane()]);
    const curlMs = now() - t;
    const packed = await runCliAsync(
      [
        'pack',
        download,
        '--push',
        `${host}/bench/curl-pack:v1`,
        '--plain-http',
        '--json',
        '--no-progress',
        '--no-cache',
      ],
      cacheDir,
    );
    const both = curlMs + packed.ms;
    line('import hf:// -> registry (stand-in Hub)', `${(imported.ms / 1000).toFixed(2)} s, ${fmt(total, imported.ms)}`);
    line('  peak RSS', `${(imported.maxRssKiB / 1024).toFixed(0)} MB; disk: a few MB of small files and headers`);
    line(
      'curl the files from the stand-in + pack --push',
      `${(curlMs / 1000).toFixed(2)} + ${(packed.ms / 1000).toFixed(2)} = ${(both / 1000).toFixed(2)} s; disk: the whole model`,
    );
    line('  ratio import / (curl + pack)', (imported.ms / both).toFixed(2));
    const sameLayers =
      JSON.stringify(imported.json.layers.map((l) => l.digest)) ===
      JSON.stringify(packed.json.layers.map((l) => l.digest));
    line('  same layer digests', sameLayers ? 'yes' : 'NO');
    hub.resetStats();
    const again = await runCliAsync(
      ['import', 'hf://bench/model', '--push', `${host}/bench/imported:v1`, '--plain-http', '--json', '--no-progress'],
      cacheDir,
      env,
    );
    line(
      're-import unchanged revision',
      `${(again.ms / 1000).toFixed(2)} s; ${again.json.stats.uploadedBytes} bytes uploaded, ${hub.stats.cdnBytes} LFS bytes downloaded`,
    );
  } finally {
    await hub.close();
    rmSync(join(work, 'hub-download'), { recursive: true, force: true });
  }
}

async function startBenchRegistry(name) {
  const port = await freePort();
  const regDir = join(work, name);
  mkdirSync(regDir, { recursive: true });
  writeFileSync(
    join(regDir, 'config.yml'),
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${regDir}/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const proc = spawn('/usr/bin/docker-registry', ['serve', join(regDir, 'config.yml')], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/v2/`);
      if (r.ok) break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { host: `127.0.0.1:${port}`, proc };
}

/**
 * 4. Promote: registry -> registry on another host (verify + copy with referrers + signed
 * record) vs `skopeo copy` of the same artifact (which copies no referrers), alternating, best
 * of `rounds`; then same-registry promote, where every blob is a cross-repo mount.
 */
async function promoteBench(host, layout, total, rounds, cacheDir) {
  const { generateKeyPairSync } = await import('node:crypto');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const key = join(work, 'promote.key');
  const pub = join(work, 'promote.pub');
  writeFileSync(key, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
  const policy = join(work, 'promote-policy.yaml');
  writeFileSync(policy, `version: 1\nsigners:\n  - key: { path: ${pub} }\n`);
  runCli(['sign', `oci:${layout}:v1`, '--key', key, '--no-tlog', '--json'], cacheDir);
  runCli(['attest', `oci:${layout}:v1`, '--type', 'slsa,mof', '--key', key, '--no-tlog', '--json'], cacheDir);
  runCli(['push', `oci:${layout}:v1`, `${host}/staging/model:v1`, '--plain-http', '--json', '--no-progress'], cacheDir);
  const src = `${host}/staging/model:v1`;
  const haveSkopeo = spawnSync('skopeo', ['--version'], { encoding: 'utf8' });
  const promoteTimes = [];
  const skopeoTimes = [];
  let best;
  let skopeoError;
  // Each copy goes to a registry of its own: skopeo's blob-info cache would otherwise mount
  // blobs it saw in an earlier round's destination, and a run's writeback would tax the next.
  const fresh = async (name, fn) => {
    const reg = await startBenchRegistry(name);
    try {
      return fn(reg.host);
    } finally {
      reg.proc.kill();
      rmSync(join(work, name), { recursive: true, force: true });
    }
  };
  const promoteOnce = (i) =>
    fresh(`registry-promote-${i}`, (dst) => {
      const r = runCli(
        [
          'promote',
          src,
          `${dst}/prod/model:v1`,
          '--policy',
          policy,
          '--key',
          key,
          '--no-tlog',
          '--plain-http',
          '--json',
          '--no-progress',
        ],
        cacheDir,
      );
      promoteTimes.push(r.ms);
      if (!best || r.ms < best.ms) best = r;
    });
  const skopeoOnce = (i) =>
    fresh(`registry-skopeo-${i}`, (dst) => {
      if (haveSkopeo.status !== 0 || skopeoError) return;
      settle();
      const t = now();
      const r = spawnSync(
        'skopeo',
        [
          'copy',
          '--src-tls-verify=false',
          '--dest-tls-verify=false',
          `docker://${src}`,
          `docker://${dst}/skopeo/model:v1`,
        ],
        { encoding: 'utf8' },
      );
      if (r.status !== 0) skopeoError = (r.stderr || r.stdout).trim().split('\n').pop();
      else skopeoTimes.push(now() - t);
    });
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      await skopeoOnce(i);
      await promoteOnce(i);
    } else {
      await promoteOnce(i);
      await skopeoOnce(i);
    }
  }
  const secs = (xs) => xs.map((x) => (x / 1000).toFixed(1)).join(', ');
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const s = best.json.stats;
  line(
    `promote registry -> registry x${rounds}`,
    `${secs(promoteTimes)} s; best ${fmt(total, best.ms)}; RSS ${(best.maxRssKiB / 1024).toFixed(0)} MB`,
  );
  line(
    '  copied',
    `${s.blobsCopied} blobs, ${s.referrersCopied} referrers, record ${best.json.record ? 'signed' : 'none'}`,
  );
  if (haveSkopeo.status !== 0) line('skopeo copy', 'skipped: skopeo not installed (apt-get install skopeo)');
  else if (skopeoError) line('skopeo copy', `failed: ${skopeoError}`);
  else {
    const version = haveSkopeo.stdout.trim().replace(/^skopeo version /, '');
    line(
      `skopeo ${version} copy (no referrers) x${rounds}`,
      `${secs(skopeoTimes)} s; best ${fmt(total, Math.min(...skopeoTimes))}`,
    );
    line(
      '  ratio promote / skopeo: best, median',
      `${(best.ms / Math.min(...skopeoTimes)).toFixed(2)}, ${(median(promoteTimes) / median(skopeoTimes)).toFixed(2)}`,
    );
  }

  // Same registry, another repository: every blob is a cross-repo mount.
  const mounts = [0, 1, 2].map((i) =>
    runCli(
      [
        'promote',
        src,
        `${host}/prod/mounted${i}:v1`,
        '--policy',
        policy,
        '--key',
        key,
        '--no-tlog',
        '--plain-http',
        '--json',
        '--no-progress',
      ],
      cacheDir,
    ),
  );
  const m = mounts[0].json.stats;
  line(
    `promote same registry (mount) x3, ${(total / 2 ** 30).toFixed(1)} GiB`,
    `${secs(mounts.map((r) => r.ms))} s; ${m.blobsMounted} blobs mounted, ${m.bytesCopied} bytes copied`,
  );
}

/**
 * POST + `curl -T` PUT of each file, 4 at a time. The digests are computed outside the timed
 * section (curl gets them for free), or with `hashInLane` by `openssl dgst` in the lane, timed,
 * just before the file's PUT.
 */
async function curlUpload(host, repo, files, hashInLane = false) {
  const dgst = (f) =>
    new Promise((res, rej) =>
      execFile('openssl', ['dgst', '-sha256', '-r', f], { encoding: 'utf8' }, (e, out) =>
        e ? rej(e) : res('sha256:' + out.split(' ')[0]),
      ),
    );
  const digests = new Map();
  if (!hashInLane) for (const f of files) digests.set(f, await dgst(f));
  settle();
  const start = now();
  const q = [...files];
  const lane = async () => {
    for (let f = q.shift(); f; f = q.shift()) {
      if (hashInLane) digests.set(f, await dgst(f));
      const r = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
      const loc = new URL(r.headers.get('location'), `http://${host}`);
      loc.searchParams.set('digest', digests.get(f));
      await new Promise((res, rej) =>
        spawn('curl', ['-sf', '-X', 'PUT', '-H', 'Content-Type: application/octet-stream', '-T', f, loc.toString()], {
          stdio: 'ignore',
        }).on('close', (c) => (c === 0 ? res() : rej(new Error(`curl exit ${c}`)))),
      );
    }
  };
  await Promise.all([lane(), lane(), lane(), lane()]);
  return now() - start;
}

/**
 * 6. Pull: `pull --extract DIR` and `pull --output LAYOUT` of the model from the registry vs 4
 * parallel `curl -sf -o` GETs of the same blobs (no hashing, nothing verified) and vs
 * `skopeo copy docker://… oci:…`, alternating who goes first, `rounds` times; best and median
 * ratios against curl. Each contender writes into a fresh directory.
 */
async function pullBench(host, repo, total, rounds, cacheDir) {
  const ref = `${host}/${repo}:v1`;
  const manifest = await (
    await fetch(`http://${host}/v2/${repo}/manifests/v1`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    })
  ).json();
  const blobs = [manifest.config, ...manifest.layers].map((d) => d.digest);
  const haveSkopeo = spawnSync('skopeo', ['--version'], { encoding: 'utf8' }).status === 0;
  const out = (name, i) => {
    const d = join(work, 'pull', `${name}-${i}`);
    rmSync(d, { recursive: true, force: true });
    mkdirSync(join(work, 'pull'), { recursive: true });
    return d;
  };
  const contenders = {
    curl: async (i) => {
      const dir = out('curl', i);
      mkdirSync(dir, { recursive: true });
      settle();
      const t = now();
      const q = [...blobs];
      const lane = async () => {
        for (let d = q.shift(); d; d = q.shift()) {
          await new Promise((res, rej) =>
            spawn('curl', ['-sf', '-o', join(dir, d.slice(7)), `http://${host}/v2/${repo}/blobs/${d}`], {
              stdio: 'ignore',
            }).on('close', (c) => (c === 0 ? res() : rej(new Error(`curl exit ${c}`)))),
          );
        }
      };
      await Promise.all([lane(), lane(), lane(), lane()]);
      return { ms: now() - t };
    },
    extract: (i) =>
      runCliAsync(['pull', ref, '--extract', out('extract', i), '--plain-http', '--json', '--no-progress'], cacheDir),
    output: (i) =>
      runCliAsync(
        ['pull', ref, '--output', `${out('layout', i)}:v1`, '--plain-http', '--json', '--no-progress'],
        cacheDir,
      ),
    ...(haveSkopeo
      ? {
          skopeo: async (i) => {
            const dir = out('skopeo', i);
            settle();
            const t = now();
            const r = spawnSync('skopeo', ['copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${dir}:v1`], {
              encoding: 'utf8',
            });
            if (r.status !== 0) throw new Error(`skopeo copy failed: ${(r.stderr || r.stdout).trim()}`);
            return { ms: now() - t };
          },
        }
      : {}),
  };
  const names = Object.keys(contenders);
  const runs = Object.fromEntries(names.map((n) => [n, []]));
  // The issue's figures are with the page cache warm: read the registry's blobs once, untimed,
  // so the first contender does not pay the disk reads the others then get for free.
  for (const d of blobs) {
    const r = await fetch(`http://${host}/v2/${repo}/blobs/${d}`);
    for await (const _ of r.body);
  }
  for (let i = 0; i < rounds; i++) {
    // Alternate the order (reversed every other round), so nobody always follows another's writeback.
    for (const n of i % 2 === 0 ? names : [...names].reverse()) {
      runs[n].push(await contenders[n](i));
      // Each contender's 4 GiB goes before the next starts: all of them start with the same free
      // memory, and nobody's reads of the registry's blobs compete with pages another just wrote.
      settle();
      rmSync(join(work, 'pull'), { recursive: true, force: true });
    }
  }
  const secs = (xs) => xs.map((x) => (x / 1000).toFixed(1)).join(', ');
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const ms = (n) => runs[n].map((r) => r.ms);
  const curlBest = Math.min(...ms('curl'));
  line(`curl -sf -o, 4 parallel GETs (no hashing) x${rounds}`, `${secs(ms('curl'))} s; best ${fmt(total, curlBest)}`);
  const rows = [
    ['extract', 'pull --extract DIR'],
    ['output', 'pull --output LAYOUT'],
    ['skopeo', 'skopeo copy docker:// oci:'],
  ];
  for (const [n, label] of rows) {
    if (!runs[n]) {
      line(label, 'skipped: skopeo not installed (apt-get install skopeo)');
      continue;
    }
    const best = runs[n].reduce((a, b) => (b.ms < a.ms ? b : a));
    line(
      `${label} x${rounds}`,
      `${secs(ms(n))} s; best ${fmt(total, best.ms)}${best.maxRssKiB ? `; RSS ${(best.maxRssKiB / 1024).toFixed(0)} MB` : ''}`,
    );
    line(
      '  ratio / curl: best, median',
      `${(best.ms / curlBest).toFixed(2)}, ${(median(ms(n)) / median(ms('curl'))).toFixed(2)}`,
    );
    const t = best.json?.timings;
    if (t)
      line(
        '  busy (network, hashing, disk; wall)',
        `${[t.networkMs, t.hashingMs, t.diskMs].map((x) => (x / 1000).toFixed(1)).join(', ')}; ${(t.wallMs / 1000).toFixed(1)} s`,
      );
  }
}

/**
 * A proxy in front of the registry that counts request body bytes of blob uploads and response
 * body bytes of blob GETs, and calls `onBytes` as they arrive (the bench kills the client at
 * 50 %). It buffers each request body fully before forwarding it upstream, as nginx does by
 * default (proxy_request_buffering on): a client killed mid-PATCH then leaves the registry with
 * whole PATCHes only. Without it, Debian's distribution 2.8 keeps a session whose last PATCH
 * reached it only in part in a state it cannot resume from, which would measure the registry,
 * not the client.
 */
async function startCountingProxy(upstream) {
  const counts = { sent: 0, fetched: 0 };
  let onBytes = () => {};
  const server = createHttpServer((req, res) => {
    const upload = req.url.includes('/blobs/uploads/');
    const chunks = [];
    let aborted = false;
    req.on('aborted', () => (aborted = true));
    req.on('data', (c) => {
      chunks.push(c);
      if (upload) {
        counts.sent += c.length;
        onBytes(counts);
      }
    });
    req.on('end', () => {
      if (aborted) return;
      const body = Buffer.concat(chunks);
      const headers = { ...req.headers };
      delete headers['transfer-encoding'];
      if (body.length || req.method === 'PATCH' || req.method === 'PUT')
        headers['content-length'] = String(body.length);
      const up = httpRequest(
        {
          host: upstream.split(':')[0],
          port: Number(upstream.split(':')[1]),
          method: req.method,
          path: req.url,
          headers,
        },
        (ur) => {
          res.writeHead(ur.statusCode, ur.headers);
          const blobGet = req.method === 'GET' && /\/blobs\/sha256:/.test(req.url);
          ur.on('data', (c) => {
            if (blobGet) {
              counts.fetched += c.length;
              onBytes(counts);
            }
          });
          ur.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      res.on('close', () => up.destroy());
      up.end(body);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    host: `127.0.0.1:${server.address().port}`,
    counts,
    watch: (fn) => (onBytes = fn),
    reset: () => {
      counts.sent = 0;
      counts.fetched = 0;
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

/** Runs the CLI; SIGKILLs it when `killWhen(counts)` first holds. Resolves with how it ended. */
function runUntil(args, env, proxy, killWhen) {
  return new Promise((res) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, stdio: 'ignore' });
    let killed = false;
    proxy.watch((c) => {
      if (!killed && killWhen?.(c)) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('close', (code) => {
      proxy.watch(() => {});
      res({ code, killed });
    });
  });
}

/**
 * 7. Resume: a push of one multi-chunk blob (BENCH_RESUME_MIB, default 256 MiB, chunks of
 * BENCH_RESUME_CHUNK_MIB, default 32 MiB) killed with SIGKILL at ~50 % of the bytes, then run
 * again: bytes the second run sent, and of them the ones the first had sent already (both
 * runs' bytes less the blob), vs the chunk size. Then a pull of it killed at ~50 % and run
 * again into the same layout and the same directory: bytes fetched twice, counted the same way.
 */
async function resumeBench(host, cacheDir) {
  const mib = Number(process.env.BENCH_RESUME_MIB ?? 256);
  const chunkMiB = Number(process.env.BENCH_RESUME_CHUNK_MIB ?? 32);
  const size = mib * 1024 * 1024;
  const dir = join(work, 'resume-model');
  mkdirSync(dir, { recursive: true });
  // One safetensors file of random bytes (a fresh digest: the registry has no part of it yet):
  // an 8-byte length, a 120-byte JSON header padded with spaces, then the tensor's bytes.
  const data = size - 128;
  const json = JSON.stringify({ w: { dtype: 'U8', shape: [data], data_offsets: [0, data] } }).padEnd(120, ' ');
  const fd = openSync(join(dir, 'model.safetensors'), 'w');
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(120n);
  writeFileSync(fd, Buffer.concat([head, Buffer.from(json)]));
  const { randomFillSync } = await import('node:crypto');
  const buf = Buffer.alloc(8 * 1024 * 1024);
  for (let left = data; left > 0; left -= buf.length)
    writeFileSync(fd, randomFillSync(buf).subarray(0, Math.min(left, buf.length)));
  closeSync(fd);
  const blob = statSync(join(dir, 'model.safetensors')).size;
  const proxy = await startCountingProxy(host);
  const env = {
    MODELSHIP_CACHE_DIR: join(cacheDir, 'resume'),
    MODELSHIP_UPLOAD_CHUNK_SIZE: String(chunkMiB * 1024 * 1024),
    MODELSHIP_STATE_DIR: join(work, 'resume-state'),
  };
  const pct = (n) => `${((n / blob) * 100).toFixed(0)} %`;
  const mb = (n) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  try {
    const push = ['pack', dir, '--push', `${proxy.host}/bench/resume:v1`, '--plain-http', '--json', '--no-progress'];
    // Half-way through the chunk that crosses 50 %: a kill on a chunk boundary, after the proxy
    // forwarded a whole chunk and before its answer reached the client, leaves distribution 2.8
    // one chunk ahead of the client's record, which it cannot resume (docs/cli.md).
    const chunk = chunkMiB * 1024 * 1024;
    const killAt = Math.floor(blob / 2 / chunk) * chunk + chunk / 2;
    const first = await runUntil(push, env, proxy, (c) => c.sent >= killAt);
    const sentFirst = proxy.counts.sent;
    proxy.reset();
    const second = await runUntil(push, env, proxy);
    line(
      `push of a ${mb(blob)} blob killed at ${pct(killAt)}, re-run`,
      first.killed
        ? `${second.code === 0 ? 'ok' : `exit ${second.code}`}; ${mb(sentFirst)} sent, then ${mb(proxy.counts.sent)}: ${mb(Math.max(0, sentFirst + proxy.counts.sent - blob))} sent twice; chunk ${chunkMiB} MiB`
        : 'not killed: the push ended before 50 % (a larger BENCH_RESUME_MIB)',
    );

    const layout = join(work, 'resume-layout');
    const extract = join(work, 'resume-extract');
    for (const [label, target] of [
      ['pull --output', ['--output', `${layout}:v1`]],
      ['pull --extract', ['--extract', extract]],
    ]) {
      proxy.reset();
      const pull = ['pull', `${proxy.host}/bench/resume:v1`, ...target, '--plain-http', '--json', '--no-progress'];
      const a = await runUntil(pull, env, proxy, (c) => c.fetched >= blob / 2);
      const fetchedFirst = proxy.counts.fetched;
      proxy.reset();
      const b = await runUntil(pull, env, proxy);
      line(
        `${label} killed at 50 %, re-run`,
        a.killed
          ? `${b.code === 0 ? 'ok' : `exit ${b.code}`}; ${mb(fetchedFirst)} fetched, then ${mb(proxy.counts.fetched)}: ${mb(Math.max(0, fetchedFirst + proxy.counts.fetched - blob))} fetched twice`
          : 'not killed: the pull ended before 50 %',
      );
    }
  } finally {
    await proxy.close();
  }
}

await main();
