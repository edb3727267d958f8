import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tc from '@actions/tool-cache';
import { ModelshipError, toModelshipError } from '@modelship/core';

export interface PeerTool {
  name: string;
  version: string;
  url: string;
  sha256: string;
}

export interface InstalledTool {
  name: string;
  version: string;
  /** Directory added to PATH. */
  path: string;
  reused: boolean;
}

/** Lines of `NAME VERSION URL SHA256`; errors name the line and the field. */
export function parseTools(text: string): PeerTool[] {
  const out: PeerTool[] = [];
  const seen = new Set<string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line || line.startsWith('#')) continue;
    const where = `input tools, line ${i + 1}`;
    const parts = line.split(/\s+/);
    if (parts.length !== 4)
      throw new ModelshipError('USAGE', `${where}: expected "NAME VERSION URL SHA256", got ${parts.length} fields`, {
        hint: 'e.g. oras 1.2.3 https://example.com/oras_1.2.3_linux_amd64.tar.gz <64 hex digits>',
      });
    const [name, version, url, sha256] = parts as [string, string, string, string];
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name))
      throw new ModelshipError('USAGE', `${where}: tool name "${name}" may hold only letters, digits, . _ -`);
    if (!/^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]+)?$/.test(version))
      throw new ModelshipError('USAGE', `${where}: version "${version}" of ${name} is not X.Y.Z`, {
        hint: 'pin an exact release version; the tool cache is keyed by it',
      });
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ModelshipError('USAGE', `${where}: "${url}" is not a URL`);
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
      throw new ModelshipError('USAGE', `${where}: ${name} URL must be http(s), not ${parsed.protocol}`);
    if (!/^[0-9a-fA-F]{64}$/.test(sha256))
      throw new ModelshipError('USAGE', `${where}: sha256 of ${name} must be 64 hex digits`, {
        hint: 'copy the checksum published with the release (sha256sum FILE)',
      });
    if (seen.has(name)) throw new ModelshipError('USAGE', `${where}: tool ${name} is listed twice`);
    seen.add(name);
    out.push({ name, version: version.replace(/^v/, ''), url, sha256: sha256.toLowerCase() });
  }
  return out;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(path), h);
  return h.digest('hex');
}

type ArchiveKind = 'tar.gz' | 'tar.xz' | 'tar' | 'zip' | 'file';

function archiveKind(url: string): ArchiveKind {
  const path = new URL(url).pathname.toLowerCase();
  if (path.endsWith('.tar.gz') || path.endsWith('.tgz')) return 'tar.gz';
  if (path.endsWith('.tar.xz') || path.endsWith('.txz')) return 'tar.xz';
  if (path.endsWith('.tar')) return 'tar';
  if (path.endsWith('.zip')) return 'zip';
  return 'file';
}

/**
 * Where the executables are in an unpacked tree: archives often wrap everything in one
 * top-level folder (oras_1.2.3/…) and some keep binaries in bin/.
 */
export async function binDir(root: string): Promise<string> {
  let dir = root;
  for (;;) {
    const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => !e.name.startsWith('.'));
    if (entries.length === 1 && entries[0]!.isDirectory()) {
      dir = join(dir, entries[0]!.name);
      continue;
    }
    const bin = entries.find((e) => e.name === 'bin' && e.isDirectory());
    return bin ? join(dir, bin.name) : dir;
  }
}

/**
 * Downloads, checks the sha256, unpacks and caches one tool; a copy already in the tool cache
 * (verified when it was cached) is reused without a download. A checksum mismatch deletes the
 * download and caches nothing.
 */
export async function installTool(tool: PeerTool, tempDir: string): Promise<InstalledTool> {
  const found = tc.find(tool.name, tool.version);
  if (found) return { ...tool, path: await binDir(found), reused: true };

  let file: string;
  try {
    file = await tc.downloadTool(tool.url, join(tempDir, `modelship-tool-${tool.name}-${process.pid}-${Date.now()}`));
  } catch (e) {
    throw new ModelshipError('NETWORK', `cannot download ${tool.name} ${tool.version} from ${tool.url}`, {
      cause: toModelshipError(e),
      hint: 'check the URL and that the runner can reach it',
    });
  }
  let unpacked: string | undefined;
  try {
    const actual = await sha256File(file);
    if (actual !== tool.sha256)
      throw new ModelshipError(
        'INVALID',
        `checksum mismatch for ${tool.name} ${tool.version} from ${tool.url}: expected sha256 ${tool.sha256}, got ${actual}`,
        { hint: 'nothing was installed; check the pinned sha256 and the URL (the file may have been replaced)' },
      );
    const kind = archiveKind(tool.url);
    let cached: string;
    if (kind === 'file') {
      await chmod(file, 0o755);
      const fileName = process.platform === 'win32' && !/\.exe$/i.test(tool.name) ? `${tool.name}.exe` : tool.name;
      cached = await tc.cacheFile(file, fileName, tool.name, tool.version);
    } else {
      const dest = join(tempDir, `modelship-tool-${tool.name}-${process.pid}-${Date.now()}.d`);
      unpacked =
        kind === 'zip'
          ? await tc.extractZip(file, dest)
          : await tc.extractTar(file, dest, kind === 'tar.gz' ? 'xz' : kind === 'tar.xz' ? 'xJ' : 'x');
      if (!(await stat(unpacked)).isDirectory() || !(await readdir(unpacked)).length)
        throw new ModelshipError('INVALID', `the ${tool.name} archive from ${tool.url} is empty`);
      cached = await tc.cacheDir(unpacked, tool.name, tool.version);
    }
    return { ...tool, path: await binDir(cached), reused: false };
  } finally {
    await rm(file, { force: true });
    if (unpacked) await rm(unpacked, { recursive: true, force: true });
  }
}
