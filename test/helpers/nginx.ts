/**
 * Debian's nginx as a reverse proxy in front of a test registry, on a free 127.0.0.1 port, with
 * nginx's default request buffering (`proxy_request_buffering on`, what most registry
 * deployments run): a request body reaches the registry only once nginx has all of it. One
 * process (`master_process off`), config and temp files in a temp dir; killed on stop().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const NGINX_BINARY =
  ['/usr/sbin', ...(process.env['PATH'] ?? '').split(delimiter)]
    .map((d) => join(d, 'nginx'))
    .find((p) => {
      try {
        accessSync(p, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    }) ?? 'nginx';

export interface Nginx {
  /** `127.0.0.1:PORT` */
  host: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export async function startNginx(upstream: string): Promise<Nginx> {
  const dir = await mkdtemp(join(tmpdir(), 'modelship-nginx-'));
  const port = await freePort();
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((t) => `  ${t}_temp_path ${join(dir, t)};`)
    .join('\n');
  await writeFile(
    join(dir, 'nginx.conf'),
    `daemon off;
master_process off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 256; }
http {
  access_log off;
${temps}
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 0;
    location / {
      proxy_pass http://${upstream};
      # The registry builds its Location headers from Host: they must point back at the client's side.
      proxy_set_header Host $http_host;
      proxy_http_version 1.1;
      proxy_request_buffering on;
      proxy_read_timeout 300s;
    }
  }
}
`,
  );
  const proc: ChildProcess = spawn(
    NGINX_BINARY,
    ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')],
    {
      stdio: 'ignore',
    },
  );
  const host = `127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGKILL');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  process.once('exit', () => proc.kill('SIGKILL'));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) {
      await stop();
      throw new Error(`nginx exited with ${proc.exitCode} before answering`);
    }
    try {
      const res = await fetch(`http://${host}/v2/`);
      await res.arrayBuffer();
      if (res.status === 200 || res.status === 401) return { host, stop };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`nginx did not answer on ${host} within 10 s`);
    }
    await sleep(50);
  }
}
