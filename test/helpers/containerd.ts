/**
 * Starts Debian's containerd (1.6) as root on a private socket, with its root and state
 * directories in a temp dir and no CRI plugin, for tests that pull and unpack images with
 * `ctr` exactly as a node's containerd does. stop() kills it and removes the temp dir (after
 * unmounting what the test mounted there); the process is also killed on exit.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

export const CONTAINERD_BINARY = process.env['MODELSHIP_CONTAINERD_BIN'] ?? '/usr/bin/containerd';
export const CTR_BINARY = process.env['MODELSHIP_CTR_BIN'] ?? '/usr/bin/ctr';

const run = promisify(execFile);

export interface TestContainerd {
  socket: string;
  dir: string;
  /** Runs `ctr -a SOCKET ARGS…`; rejects with its stderr on a non-zero exit. */
  ctr(args: string[]): Promise<{ stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

/** Why this machine cannot run the containerd tests, or undefined when it can. */
export function containerdUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'containerd mounts snapshots, which needs root: run the tests as root';
  return undefined;
}

const live = new Set<ChildProcess>();
let hooked = false;

export async function startContainerd(): Promise<TestContainerd> {
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const p of live) p.kill('SIGKILL');
    });
  }
  const dir = await mkdtemp(join(tmpdir(), 'modelship-containerd-'));
  const socket = join(dir, 'containerd.sock');
  // version 2 is what containerd 1.6 reads; the CRI plugin (kubelet's) is not needed to pull.
  const config = `version = 2
root = "${join(dir, 'root')}"
state = "${join(dir, 'state')}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "${socket}"
[ttrpc]
  address = "${socket}.ttrpc"
[debug]
  address = "${join(dir, 'debug.sock')}"
[metrics]
  address = ""
`;
  const configPath = join(dir, 'config.toml');
  await writeFile(configPath, config);
  const proc = spawn(CONTAINERD_BINARY, ['--config', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(proc);
  let log = '';
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (d: string) => (log = (log + d).slice(-8000)));
  let spawnError: Error | undefined;
  proc.once('error', (e) => (spawnError = e));

  const ctr = async (args: string[]): Promise<{ stdout: string; stderr: string }> => {
    try {
      return await run(CTR_BINARY, ['-a', socket, ...args], { maxBuffer: 16 * 1024 * 1024 });
    } catch (e) {
      const err = e as Error & { stderr?: string };
      throw new Error(`ctr ${args.join(' ')} failed: ${err.stderr ?? err.message}`);
    }
  };
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    live.delete(proc);
    // Snapshots may still be mounted under the root if a test failed mid-way.
    await run('umount', ['-R', join(dir, 'root')]).catch(() => {});
    await rm(dir, { recursive: true, force: true }).catch(() => rmSync(dir, { recursive: true, force: true }));
  };

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (spawnError) throw new Error(`cannot start ${CONTAINERD_BINARY}: ${spawnError.message}`);
    if (proc.exitCode !== null) {
      await stop();
      throw new Error(`containerd exited (${proc.exitCode}): ${log}`);
    }
    if (
      await ctr(['version']).then(
        () => true,
        () => false,
      )
    )
      break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`containerd did not answer on ${socket}: ${log}`);
    }
    await sleep(100);
  }
  return { socket, dir, ctr, stop };
}
