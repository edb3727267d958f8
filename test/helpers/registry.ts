/**
 * Starts Debian's `docker-registry` (distribution 2.8.2) on a free 127.0.0.1 port for
 * integration tests, with no auth, htpasswd, or token auth through a local token server.
 * Every process started here is killed on stop() and, as a last resort, on process exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import bcrypt from 'bcryptjs';
import { startTokenServer, type AccessRules, type TokenServer } from './token-server.js';

/** MODELSHIP_REGISTRY_BIN, else Debian's `docker-registry` or distribution's `registry` on PATH (scripts/test-tools.mjs checks one is there). */
export const REGISTRY_BINARY =
  process.env['MODELSHIP_REGISTRY_BIN'] ??
  ['docker-registry', 'registry']
    .flatMap((b) => (process.env['PATH'] ?? '').split(delimiter).map((d) => join(d, b)))
    .find((p) => {
      try {
        accessSync(p, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    }) ??
  'docker-registry';
const DEBUG = !!process.env['MODELSHIP_TEST_DEBUG'];

export type RegistryAuthMode = 'none' | 'htpasswd' | 'token';

export interface StartRegistryOptions {
  auth?: RegistryAuthMode;
  /** username → password (htpasswd and token modes). */
  users?: Record<string, string>;
  /** token mode: username → repository pattern → actions (default: every user gets pull,push on `*`). */
  access?: Record<string, AccessRules>;
  /** token mode: what anonymous requests are granted (default nothing). */
  anonymous?: AccessRules;
  /** token mode: token lifetime in seconds. */
  tokenExpiresIn?: number;
}

export interface AccessLogEntry {
  method: string;
  path: string;
  status: number;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** The registry's filesystem storage root. */
  storageDir: string;
  /** Where a blob's bytes live on disk (for tamper tests). */
  blobPath(digest: string): string;
  /** Requests the registry logged since start (or the last clear). */
  accessLog(): AccessLogEntry[];
  clearAccessLog(): void;
  tokenServer?: TokenServer;
  /** Kills the registry process; storage stays so restart() can bring it back. */
  stop(): Promise<void>;
  /** (Re)starts on the same port with the same storage. */
  restart(): Promise<void>;
  /** stop() plus the token server and the temp dir: call in afterAll. */
  cleanup(): Promise<void>;
}

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when a test forgets cleanup() or the worker dies: no registry outlives us.
  process.on('exit', () => {
    for (const p of live) p.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

function configYaml(o: { port: number; storage: string; auth: string }): string {
  // The fixed secret keeps upload `_state` tokens valid across restart().
  return `version: 0.1
log:
  level: ${DEBUG ? 'debug' : 'warn'}
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: ${o.storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:${o.port}
  secret: modelship-test-secret
${o.auth}`;
}

async function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) {
    live.delete(p);
    return;
  }
  const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
  p.kill('SIGTERM');
  const timer = setTimeout(() => p.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
  live.delete(p);
}

export async function startRegistry(opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  installExitHook();
  const mode = opts.auth ?? 'none';
  const dir = await mkdtemp(join(tmpdir(), 'modelship-registry-'));
  dirs.add(dir);
  const storageDir = join(dir, 'storage');
  const users = opts.users ?? {};
  let tokenServer: TokenServer | undefined;
  let auth = '';
  try {
    if (mode === 'htpasswd') {
      const lines = Object.entries(users).map(([u, p]) => `${u}:${bcrypt.hashSync(p, 4)}`);
      const htpasswd = join(dir, 'htpasswd');
      await writeFile(htpasswd, lines.join('\n') + '\n');
      auth = `auth:\n  htpasswd:\n    realm: modelship-test\n    path: ${htpasswd}\n`;
    } else if (mode === 'token') {
      const tokenUsers = Object.fromEntries(
        Object.entries(users).map(([u, p]) => [
          u,
          { password: p, access: opts.access?.[u] ?? { '*': ['pull', 'push'] } },
        ]),
      );
      tokenServer = await startTokenServer({
        dir,
        users: tokenUsers,
        ...(opts.anonymous ? { anonymous: opts.anonymous } : {}),
        ...(opts.tokenExpiresIn !== undefined ? { expiresIn: opts.tokenExpiresIn } : {}),
      });
      auth = `auth:\n  token:\n    realm: ${tokenServer.realm}\n    service: ${tokenServer.service}\n    issuer: ${tokenServer.issuer}\n    rootcertbundle: ${tokenServer.certPath}\n`;
    }
  } catch (e) {
    await tokenServer?.stop();
    await rm(dir, { recursive: true, force: true });
    dirs.delete(dir);
    throw e;
  }

  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const configPath = join(dir, 'config.yml');
  await writeFile(configPath, configYaml({ port, storage: storageDir, auth }));

  let log: AccessLogEntry[] = [];
  let recent: string[] = [];
  let proc: ChildProcess | undefined;

  const onLine = (line: string): void => {
    const m = /"([A-Z]+) (\S+) HTTP\/[\d.]+" (\d{3}) /.exec(line);
    if (m) log.push({ method: m[1]!, path: m[2]!, status: Number(m[3]) });
    else {
      recent.push(line);
      if (recent.length > 50) recent = recent.slice(-50);
    }
    if (DEBUG) process.stderr.write(`[registry ${port}] ${line}\n`);
  };

  const launch = async (): Promise<void> => {
    const p = spawn(REGISTRY_BINARY, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(p);
    proc = p;
    for (const s of [p.stdout, p.stderr]) {
      let buf = '';
      s?.setEncoding('utf8');
      s?.on('data', (d: string) => {
        buf += d;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          onLine(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
    }
    let spawnError: Error | undefined;
    p.once('error', (e) => (spawnError = e));
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (spawnError) {
        live.delete(p);
        throw new Error(`cannot start ${REGISTRY_BINARY}: ${spawnError.message}`);
      }
      if (p.exitCode !== null) {
        live.delete(p);
        throw new Error(`docker-registry exited with ${p.exitCode} before answering:\n${recent.join('\n')}`);
      }
      try {
        const res = await fetch(`http://${host}/v2/`);
        await res.arrayBuffer();
        if (res.status === 200 || res.status === 401) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await stopProcess(p);
        throw new Error(`docker-registry did not answer on ${host} within 15 s:\n${recent.join('\n')}`);
      }
      await sleep(50);
    }
  };

  try {
    await launch();
  } catch (e) {
    await tokenServer?.stop();
    await rm(dir, { recursive: true, force: true });
    dirs.delete(dir);
    throw e;
  }

  let disposed = false;
  const reg: TestRegistry = {
    host,
    url: `http://${host}`,
    storageDir,
    blobPath: (digest: string) => {
      const hex = digest.slice(digest.indexOf(':') + 1);
      return join(storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    },
    accessLog: () => [...log],
    clearAccessLog: () => {
      log = [];
    },
    stop: async () => {
      if (proc) await stopProcess(proc);
    },
    restart: async () => {
      if (disposed) throw new Error('registry was cleaned up; start a new one');
      if (proc) await stopProcess(proc);
      await launch();
    },
    cleanup: async () => {
      if (proc) await stopProcess(proc);
      if (disposed) return;
      disposed = true;
      await tokenServer?.stop();
      await rm(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
  };
  if (tokenServer) reg.tokenServer = tokenServer;
  return reg;
}
