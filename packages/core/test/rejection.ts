import { expect } from '@jest/globals';
import { ModelshipError, type ErrorCode } from '../src/errors.js';

/** The ModelshipError `p` rejects with (failing the test if it resolves or throws anything else), with `code` when given. */
export async function rejection(p: Promise<unknown>, code?: ErrorCode): Promise<ModelshipError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ModelshipError);
  if (code !== undefined) expect((e as ModelshipError).code).toBe(code);
  return e as ModelshipError;
}
