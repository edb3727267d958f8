import { spawn } from 'node:child_process';
import { CLI, REPO_ROOT, copySample } from './tmp.js';

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built `modelship` bin as a user would (a child process). Async so a test can serve
 * HTTP (token server, proxies) from the same process while the CLI runs.
 */
export function runCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string; honourFileModes?: boolean } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    // Root reads any file whatever its mode. To test a permission error as root, the CLI runs
    // as root without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH (util-linux setpriv), so mode bits
    // apply. Switching to another uid instead fails wherever the checkout is not world-readable
    // (a clone under `mktemp -d` is 0700): that user could not even load the CLI.
    const dropDac = options.honourFileModes === true && process.getuid?.() === 0;
    const [cmd, argv] = dropDac
      ? [
          'setpriv',
          [
            '--bounding-set=-dac_override,-dac_read_search',
            '--inh-caps=-dac_override,-dac_read_search',
            '--',
            process.execPath,
            CLI,
            ...args,
          ],
        ]
      : [process.execPath, [CLI, ...args]];
    const child = spawn(cmd, argv, {
      cwd: options.cwd ?? REPO_ROOT,
      env: { ...process.env, MODELSHIP_DEBUG: '', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/**
 * Packs a private copy of the sample model into `target` (`--push` for a registry reference,
 * `--output` for `oci:DIR:TAG`) and returns the manifest digest; throws with the CLI's stderr.
 */
export async function packSample(workDir: string, target: string, extra: string[] = []): Promise<string> {
  const model = copySample(workDir, `sample-${Math.random().toString(36).slice(2, 8)}`);
  const where = target.startsWith('oci:') ? ['--output', target.slice(4)] : ['--push', target, '--plain-http'];
  const r = await runCli(['pack', model, ...where, '--json', '--no-cache', ...extra]);
  if (r.status !== 0) throw new Error(`pack ${target} failed (${r.status}): ${r.stderr}`);
  return (JSON.parse(r.stdout) as { digest: string }).digest;
}
