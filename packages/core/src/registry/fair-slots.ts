/**
 * The connection slots a store's downloads share (registry/download.ts), handed out fairly:
 * a free slot goes to the download with the fewest requests running, the older one on a tie.
 * With a FIFO (p-limit) the first big blob's queued ranges took every slot and the next blob
 * waited; this way four blobs get one connection each, each fetched front to back (its hash
 * then runs from memory, blob-receiver.ts, and no two writers share a file), and a lone blob
 * still gets all the slots for its ranges.
 */
export class FairSlots {
  private active = 0;
  /** Per download, in the order they first asked (Map keeps insertion order). */
  private readonly owners = new Map<object, { running: number; waiting: (() => void)[] }>();

  constructor(private readonly size: number) {}

  async run<T>(owner: object, fn: () => Promise<T>): Promise<T> {
    let entry = this.owners.get(owner);
    if (!entry) {
      entry = { running: 0, waiting: [] };
      this.owners.set(owner, entry);
    }
    const e = entry;
    await new Promise<void>((res) => {
      e.waiting.push(res);
      this.pump();
    });
    try {
      return await fn();
    } finally {
      e.running--;
      this.active--;
      if (e.running === 0 && e.waiting.length === 0) this.owners.delete(owner);
      this.pump();
    }
  }

  private pump(): void {
    while (this.active < this.size) {
      let best: { running: number; waiting: (() => void)[] } | undefined;
      for (const e of this.owners.values()) if (e.waiting.length && (!best || e.running < best.running)) best = e;
      if (!best) return;
      best.running++;
      this.active++;
      best.waiting.shift()!();
    }
  }
}
