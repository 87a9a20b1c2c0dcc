/**
 * Runs `work` over `items` with at most `concurrency` at once, in order of the items.
 * Before each item starts, `shouldStart` may refuse it (for example when the deadline is
 * near); refused items are handed to `onSkipped` and never started.
 */
export async function forEachBounded<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
  options: { shouldStart?: () => boolean; onSkipped?: (item: T) => void } = {},
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      if (options.shouldStart && !options.shouldStart()) {
        options.onSkipped?.(item);
        continue;
      }
      await work(item);
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker);
  await Promise.all(workers);
}

/** A counting semaphore: at most `limit` holders at once, the others wait in order. */
export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly limit: number) {}

  /** Runs `task` once a place is free, and frees the place when it settles. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active++;
    }
    try {
      return await task();
    } finally {
      const wake = this.waiting.shift();
      // The place passes straight to the next waiter, so `active` only drops when none waits.
      if (wake) wake();
      else this.active--;
    }
  }
}

/**
 * Like Promise.all, but waits for every promise before rejecting with the first failure: no
 * request of a step is left running once the step has failed (or the run has ended).
 */
export async function settleAll<T extends readonly unknown[]>(promises: readonly [...{ [K in keyof T]: Promise<T[K]> }]): Promise<T> {
  const results = await Promise.allSettled(promises);
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
