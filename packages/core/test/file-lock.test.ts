import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { withFileLock } from '../src/file-lock.js';

const tmp = mkdtempSync(join(tmpdir(), 'file-lock-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('withFileLock', () => {
  it('a holder that takes longer than the stale age keeps the lock: a waiter does not break it', async () => {
    const lock = join(tmp, 'held.lock');
    const events: string[] = [];
    const long = withFileLock(
      lock,
      async () => {
        events.push('long:start');
        await sleep(1200);
        events.push('long:end');
      },
      { staleMs: 300 },
    );
    await sleep(50);
    const waiter = withFileLock(
      lock,
      async () => {
        events.push('waiter');
      },
      { staleMs: 300, timeoutMs: 5000 },
    );
    await Promise.all([long, waiter]);
    expect(events).toEqual(['long:start', 'long:end', 'waiter']);
  });
});
