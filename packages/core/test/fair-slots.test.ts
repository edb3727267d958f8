import { describe, expect, it } from '@jest/globals';
import { FairSlots } from '../src/registry/fair-slots.js';

describe('FairSlots', () => {
  it('gives a free slot to the download with the fewest requests running', async () => {
    const slots = new FairSlots(4);
    const order: string[] = [];
    const running = new Map<string, number>();
    let peak = 0;
    const gates: (() => void)[] = [];
    const task = (owner: object, name: string): Promise<void> =>
      slots.run(owner, async () => {
        order.push(name);
        running.set(name[0]!, (running.get(name[0]!) ?? 0) + 1);
        peak = Math.max(
          peak,
          [...running.values()].reduce((a, b) => a + b, 0),
        );
        await new Promise<void>((res) => gates.push(res));
        running.set(name[0]!, running.get(name[0]!)! - 1);
      });
    const a = {};
    const b = {};
    // `a` asks for 6 at once and gets all 4 slots; `b` asks next and waits.
    const all = [...[1, 2, 3, 4, 5, 6].map((i) => task(a, `a${i}`)), ...[1, 2, 3].map((i) => task(b, `b${i}`))];
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['a1', 'a2', 'a3', 'a4']);
    // Each freed slot goes to `b` (fewer running) until they are even, then to the older `a`.
    const step = async (): Promise<void> => {
      gates.shift()!();
      await new Promise((r) => setImmediate(r));
    };
    await step();
    await step();
    expect(order.slice(4)).toEqual(['b1', 'b2']);
    await step();
    expect(order.slice(6)).toEqual(['a5']);
    while (gates.length) await step();
    await Promise.all(all);
    expect(order).toHaveLength(9);
    expect(peak).toBe(4);
  });

  it('frees the slot of a task that throws', async () => {
    const slots = new FairSlots(1);
    const o = {};
    await expect(slots.run(o, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(slots.run(o, () => Promise.resolve(7))).resolves.toBe(7);
  });
});
