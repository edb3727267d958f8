// A reader that closes the CLI's standard output early (`modelship … | head -1`).
import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { CLI, REPO_ROOT } from './helpers/tmp.js';

function runWithClosedStdout(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    // Closed before node has even loaded the CLI: its first write gets EPIPE.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

describe('standard output closed by the reader', () => {
  it('no unhandled EPIPE: the command ends with its own exit code and a clean stderr', async () => {
    const help = await runWithClosedStdout(['--help']);
    expect(help.stderr).toBe('');
    expect(help.status).toBe(0);
  });

  it('a failing command still fails with its code, and says why on stderr', async () => {
    const r = await runWithClosedStdout(['inspect', 'oci:/nonexistent-modelship-layout:v1']);
    expect(r.stderr).not.toMatch(/EPIPE|Unhandled/);
    expect(r.stderr).toMatch(/nonexistent-modelship-layout/);
    expect(r.status).not.toBe(0);
  });
});
