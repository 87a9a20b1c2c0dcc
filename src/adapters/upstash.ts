/**
 * The session store over Upstash's REST API (`@upstash/redis`): session keys, the sightings
 * of orphaned sessions, and the run lock. Every call is one HTTP request (several commands
 * travel in one pipeline where they can), so nothing needs to be kept warm between runs.
 */
import { Redis } from '@upstash/redis';
import type { SessionStore } from '../ports.js';
import type { RetryPolicy } from './retry.js';
import { withRetry } from './retry.js';

/** The run lock's key. */
export const LOCK_KEY = 'lab-reconciler:lock';

/** The set of session ids whose keys are still to be deleted. */
export const PENDING_KEYS = 'lab-reconciler:pending-session-keys';

/** Where the first sighting of an orphaned session is kept (the contract's name). */
export function sightingKey(namespace: string, sessionId: string): string {
  return `lab-reconciler:sighting:${namespace}:${sessionId}`;
}

// Deletes the lock only if it still holds this owner's token: a run whose lock expired and
// was taken by another must not release the other's.
const RELEASE_SCRIPT = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`;

// Extends the lock only for its owner: a run whose lock expired and was taken must learn it.
const RENEW_SCRIPT = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) else return 0 end`;

/** Keys per DEL or MGET: keeps each command, and so each request, of a bounded size. */
const CHUNK = 500;

export interface UpstashOptions {
  url: string;
  token: string;
  /** Each HTTP request is abandoned after this long. */
  timeoutMs?: number;
}

/** A client configured as the reconciler needs it: no telemetry, raw strings, bounded retries. */
export function createUpstashClient({ url, token, timeoutMs = 10_000 }: UpstashOptions): Redis {
  return new Redis({
    url,
    token,
    enableTelemetry: false,
    // Values are read as the strings they are; the reconciler parses what it stored.
    automaticDeserialization: false,
    retry: { retries: 3, backoff: (retryCount) => Math.min(2_000, 100 * 2 ** retryCount) },
    signal: () => AbortSignal.timeout(timeoutMs),
  });
}

export class UpstashSessionStore implements SessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
  ) {}

  sessionKey(sessionId: string): string {
    return `${this.keyPrefix}${sessionId}`;
  }

  async acquireLock(owner: string, ttlMs: number): Promise<boolean> {
    return retried(async () => {
      if ((await this.redis.set(LOCK_KEY, owner, { nx: true, px: ttlMs })) === 'OK') return true;
      // A SET that ran but whose answer was lost, then retried, finds this run's own token.
      return String(await this.redis.get(LOCK_KEY)) === owner;
    });
  }

  async releaseLock(owner: string): Promise<void> {
    await retried(() => this.redis.eval(RELEASE_SCRIPT, [LOCK_KEY], [owner]));
  }

  async renewLock(owner: string, ttlMs: number): Promise<boolean> {
    return Number(await retried(() => this.redis.eval(RENEW_SCRIPT, [LOCK_KEY], [owner, String(ttlMs)]))) === 1;
  }

  async sightings(
    namespace: string,
    sessionIds: readonly string[],
    { now, ttlSeconds, readOnly }: { now: number; ttlSeconds: number; readOnly: boolean },
  ): Promise<Map<string, number>> {
    const result = new Map<string, number>();
    for (const ids of chunks(sessionIds)) {
      const keys = ids.map((id) => sightingKey(namespace, id));
      const pipeline = this.redis.pipeline();
      // SET NX keeps the first sighting; a later run only reads it back.
      if (!readOnly) for (const key of keys) pipeline.set(key, String(now), { nx: true, ex: ttlSeconds });
      pipeline.mget(...keys);
      const replies = (await retried(() => pipeline.exec())) as unknown[];
      const values = replies[replies.length - 1] as (string | null)[];
      ids.forEach((id, index) => {
        const seen = Number(values[index]);
        // Anything that is not a time we wrote is treated as never seen: it only delays a clean.
        if (values[index] !== null && values[index] !== undefined && Number.isFinite(seen) && seen > 0) result.set(id, seen);
      });
    }
    return result;
  }

  async forgetSightings(namespace: string, sessionIds: readonly string[]): Promise<void> {
    for (const ids of chunks(sessionIds)) {
      await retried(() => this.redis.del(...ids.map((id) => sightingKey(namespace, id))));
    }
  }

  async deleteSessionKey(sessionId: string): Promise<boolean> {
    return (await retried(() => this.redis.del(this.sessionKey(sessionId)))) > 0;
  }

  async markPendingKeys(sessionIds: readonly string[]): Promise<void> {
    for (const ids of chunks(sessionIds)) {
      const [first, ...rest] = ids;
      if (first !== undefined) await retried(() => this.redis.sadd(PENDING_KEYS, first, ...rest));
    }
  }

  async pendingKeys(): Promise<string[]> {
    return (await retried(() => this.redis.smembers(PENDING_KEYS))).map(String);
  }

  async unmarkPendingKeys(sessionIds: readonly string[]): Promise<void> {
    for (const ids of chunks(sessionIds)) {
      if (ids.length > 0) await retried(() => this.redis.srem(PENDING_KEYS, ...ids));
    }
  }
}

/**
 * The Upstash client retries network errors only; an HTTP 5xx or 429 from Upstash is worth
 * another try too. Every call here is idempotent (the lock's SET NX is made so above).
 */
function retried<T>(call: () => Promise<T>): Promise<T> {
  return withRetry(call, { policy: STORE_RETRY, classify: () => ({ retryable: true }) });
}

const STORE_RETRY: RetryPolicy = { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1_000, budgetMs: 2_000 };

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}
