import { runAction } from '@modelship/action-common';
import { ModelshipError } from '@modelship/core';

export async function run(): Promise<void> {
  await runAction(async () => {
    throw new ModelshipError('INTERNAL', 'promote is not implemented yet');
  });
}
