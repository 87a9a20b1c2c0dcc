/**
 * Retries with capped exponential backoff and jitter, honouring `Retry-After`, within a
 * bounded budget: a run must end in time even when the API server keeps refusing.
 */

export interface RetryPolicy {
  /** Most attempts in all, the first included. */
  maxAttempts: number;
  /** The first backoff before jitter. */
  baseDelayMs: number;
  /** No single wait is longer than this (a longer `Retry-After` gives up instead). */
  maxDelayMs: number;
  /** The waits of one request add up to at most this. */
  budgetMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 5_000, budgetMs: 15_000 };

/** What the caller tells about a failure: whether to retry it, and any wait the server asked for. */
export interface RetryVerdict {
  retryable: boolean;
  /** From `Retry-After`, in milliseconds. */
  retryAfterMs?: number;
}

export interface RetryOptions {
  policy: RetryPolicy;
  classify: (error: unknown) => RetryVerdict;
  /** Called before each wait, for logs. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `attempt` until it succeeds, the error is not retryable, or the attempts or budget run out. */
export async function withRetry<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  const { policy, classify } = options;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? defaultSleep;
  let waited = 0;
  for (let attemptNumber = 1; ; attemptNumber++) {
    try {
      return await attempt();
    } catch (error) {
      const verdict = classify(error);
      if (!verdict.retryable || attemptNumber >= policy.maxAttempts) throw error;
      const delay = backoffDelay(attemptNumber, verdict.retryAfterMs, policy, random);
      if (delay === undefined || waited + delay > policy.budgetMs) throw error;
      options.onRetry?.(error, attemptNumber, delay);
      waited += delay;
      await sleep(delay);
    }
  }
}

/**
 * The wait before attempt `attempt + 1`: half fixed, half random ("equal jitter") over the capped exponential, or what the
 * server asked for when it said; undefined when the server asked for more than the cap.
 */
export function backoffDelay(attempt: number, retryAfterMs: number | undefined, policy: RetryPolicy, random: () => number): number | undefined {
  if (retryAfterMs !== undefined) {
    return retryAfterMs > policy.maxDelayMs ? undefined : retryAfterMs;
  }
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Parses `Retry-After` (seconds, or an HTTP date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
