import { describe, expect, it } from 'vitest';
import type { RetryPolicy } from '../../src/adapters/retry.js';
import { backoffDelay, parseRetryAfter, withRetry } from '../../src/adapters/retry.js';

const POLICY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1_000, budgetMs: 2_500 };

describe('backoffDelay', () => {
  it('grows exponentially, stays within [half, whole] of the capped step, and never passes the cap', () => {
    for (const attempt of [1, 2, 3, 4, 5, 10]) {
      const step = Math.min(1_000, 100 * 2 ** (attempt - 1));
      expect(backoffDelay(attempt, undefined, POLICY, () => 0)).toBe(step / 2);
      expect(backoffDelay(attempt, undefined, POLICY, () => 0.999999)).toBe(step);
    }
  });

  it('waits what Retry-After asks, and gives up when it asks for more than the cap', () => {
    expect(backoffDelay(1, 700, POLICY, () => 0.5)).toBe(700);
    expect(backoffDelay(1, 5_000, POLICY, () => 0.5)).toBeUndefined();
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates, and ignores anything else', () => {
    const now = Date.parse('2026-11-26T12:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3_000);
    expect(parseRetryAfter('Thu, 26 Nov 2026 12:00:05 GMT', now)).toBe(5_000);
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });
});

describe('withRetry', () => {
  const retryable = () => ({ retryable: true });

  it('retries a retryable failure until it succeeds', async () => {
    // Prepare
    let calls = 0;
    const waits: number[] = [];

    // Act
    const result = await withRetry(
      async () => {
        calls++;
        if (calls < 3) throw new Error('busy');
        return 'done';
      },
      { policy: POLICY, classify: retryable, random: () => 0, sleep: async (ms) => void waits.push(ms) },
    );

    // Assess
    expect(result).toBe('done');
    expect(waits).toEqual([50, 100]);
  });

  it('does not retry an answer that is not retryable', async () => {
    let calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw new Error('forbidden');
      }, { policy: POLICY, classify: () => ({ retryable: false }), sleep: async () => {} }),
    ).rejects.toThrow('forbidden');
    expect(calls).toBe(1);
  });

  it('stops at the most attempts, and within the budget of waiting', async () => {
    // Act: attempts are capped at 5...
    let calls = 0;
    await expect(withRetry(async () => { calls++; throw new Error('down'); }, { policy: POLICY, classify: retryable, random: () => 0, sleep: async () => {} })).rejects.toThrow('down');
    // ...and waits of 900 ms each exhaust a 2,500 ms budget after two.
    let budgeted = 0;
    const waits: number[] = [];
    await expect(
      withRetry(async () => { budgeted++; throw new Error('slow down'); }, {
        policy: POLICY,
        classify: () => ({ retryable: true, retryAfterMs: 900 }),
        sleep: async (ms) => void waits.push(ms),
      }),
    ).rejects.toThrow('slow down');

    // Assess
    expect(calls).toBe(5);
    expect(waits).toEqual([900, 900]);
    expect(budgeted).toBe(3);
  });
});
