/**
 * The session store over Upstash's REST API (`@upstash/redis`): session keys, the sightings
 * of orphaned sessions, and the run lock. Every call is one HTTP request (several commands
 * travel in one pipeline where they can), so nothing needs to be kept warm between runs.
 */
import { Redis } from '@upstash/redis';
import type { KeyRead, SessionKeySnapshot, SessionStore } from '../ports.js';
import type { RetryPolicy } from './retry.js';
import { withRetry } from './retry.js';
import { messageOf } from '../errors.js';
import { FINGERPRINT_FUNCTION, deleteArchivedKey, readKeyValue, restoreKeyValue } from './upstash-values.js';

/** The run lock's key. */
export const LOCK_KEY = 'lab-reconciler:lock';

/** The set of session ids whose keys are still to be deleted. */
export const PENDING_KEYS = 'lab-reconciler:pending-session-keys';

/** Where the first sighting of an orphaned session is kept (the contract's name). */
export function sightingKey(namespace: string, sessionId: string): string {
  return `lab-reconciler:sighting:${namespace}:${sessionId}`;
}

/** Where the first sighting of a stale session key is kept (the contract's name). */
export function keySightingKey(sessionId: string): string {
  return `lab-reconciler:sighting:key:${sessionId}`;
}

/**
 * Where a stale key's delete leaves word of itself for a few minutes, so that the same delete,
 * retried after its answer was lost, reports `deleted` rather than "gone, by somebody else".
 */
export function deletedKeyMark(sessionId: string): string {
  return `lab-reconciler:deleted-key:${sessionId}`;
}

/** The set of session ids whose stale keys have a sighting, so that a run can forget them. */
export const KEY_SIGHTINGS = 'lab-reconciler:key-sightings';

/** Keys asked for per SCAN page: one request per page, whatever the page holds. */
export const SCAN_COUNT = 1000;

// Deletes the lock only if it still holds this owner's token: a run whose lock expired and
// was taken by another must not release the other's.
const RELEASE_SCRIPT = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`;

// Extends the lock only for its owner: a run whose lock expired and was taken must learn it.
const RENEW_SCRIPT = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) else return 0 end`;

/** Keys per DEL or MGET: keeps each command, and so each request, of a bounded size. */
const CHUNK = 500;

// A stale key is deleted only if it is the key that was seen stale, unchanged: its sighting
// holds `{firstSeenAt}:{fingerprint}`, the fingerprint a SHA-1 of its type and whole value,
// made here, server side, so that the check and the delete are one atomic step. A key that
// is recreated or rewritten between two runs (a new session under the same id, key first)
// starts its confirmation over instead of being deleted.
const SIGHTING_FUNCTIONS = `${FINGERPRINT_FUNCTION}
local function sighted(value)
  if not value then return nil, nil end
  local sep = string.find(value, ":", 1, true)
  if not sep then return nil, nil end
  return string.sub(value, 1, sep - 1), string.sub(value, sep + 1)
end
`;

// KEYS: the index set, then per stale key its session key and its sighting key.
// ARGV: now, ttl seconds, "1" when read-only, then the session ids.
// Answers per key: its first sighting time, "new" (unseen, read-only), or "gone".
const KEY_SIGHTINGS_SCRIPT = `${SIGHTING_FUNCTIONS}
local out = {}
for i = 2, #KEYS, 2 do
  local id = ARGV[3 + i / 2]
  local current = fingerprint(KEYS[i])
  if not current then
    out[#out + 1] = "gone"
  else
    local at, seen = sighted(redis.call("GET", KEYS[i + 1]))
    if at and seen == current then
      if ARGV[3] ~= "1" then redis.call("EXPIRE", KEYS[i + 1], ARGV[2]) end
      out[#out + 1] = at
    elseif ARGV[3] == "1" then
      out[#out + 1] = "new"
    else
      redis.call("SET", KEYS[i + 1], ARGV[1] .. ":" .. current, "EX", ARGV[2])
      redis.call("SADD", KEYS[1], id)
      out[#out + 1] = ARGV[1]
    end
  end
end
return out`;

// KEYS: the session key, its sighting key, the index set, the delete's mark.
// ARGV: the session id, now, ttl, the first sighting the run's decision was made on, and the
// fingerprint of the value archived ("" without an archive).
const DELETE_STALE_SCRIPT = `${SIGHTING_FUNCTIONS}
local current = fingerprint(KEYS[1])
local sighting = redis.call("GET", KEYS[2])
if not current then
  -- Gone: by this very delete when its answer was lost and it is retried (its mark says so),
  -- or by somebody else.
  if redis.call("GET", KEYS[4]) == ARGV[2] then return "deleted" end
  redis.call("DEL", KEYS[2])
  redis.call("SREM", KEYS[3], ARGV[1])
  return "absent"
end
local at, seen = sighted(sighting)
-- Only the very sighting the decision was made on confirms, and only one older than now: one
-- started over since (by this delete, found the key changed, its answer lost, then retried;
-- or by another run) is a first sighting, whatever the key holds.
local confirmed = at and at == ARGV[4] and seen == current and current ~= "unsupported" and tonumber(at) ~= nil and tonumber(at) < tonumber(ARGV[2])
  and (ARGV[5] == "" or ARGV[5] == current)
if confirmed then
  redis.call("DEL", KEYS[1], KEYS[2])
  redis.call("SREM", KEYS[3], ARGV[1])
  redis.call("SET", KEYS[4], ARGV[2], "EX", 600)
  return "deleted"
end
redis.call("SET", KEYS[2], ARGV[2] .. ":" .. current, "EX", ARGV[3])
redis.call("SADD", KEYS[3], ARGV[1])
return "changed"`;

/** Keys per sighting script: each reads a value, so fewer than a plain MGET. */
const SIGHTING_CHUNK = 100;

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
    readonly keyPrefix: string,
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

  async scanSessionKeys(): Promise<string[]> {
    const match = `${globEscape(this.keyPrefix)}*`;
    const keys = new Set<string>();
    let cursor = '0';
    let page = 0;
    do {
      page += 1;
      const from = cursor;
      let answer: unknown;
      try {
        answer = await retried(() => this.redis.scan(from, { match, count: SCAN_COUNT }));
      } catch (error) {
        throw new Error(`SCAN failed on page ${page}, after ${keys.size} keys: ${messageOf(error)}`);
      }
      const [next, found] = scanPage(answer, page);
      // SCAN may return a key more than once; the set keeps each once.
      for (const key of found) keys.add(key);
      cursor = next;
    } while (cursor !== '0');
    return [...keys];
  }

  async keySightings(
    sessionIds: readonly string[],
    { now, ttlSeconds, readOnly }: { now: number; ttlSeconds: number; readOnly: boolean },
  ): Promise<Map<string, number | undefined>> {
    const result = new Map<string, number | undefined>();
    for (const ids of chunks(sessionIds, SIGHTING_CHUNK)) {
      const keys = [KEY_SIGHTINGS, ...ids.flatMap((id) => [this.sessionKey(id), keySightingKey(id)])];
      const args = [String(now), String(ttlSeconds), readOnly ? '1' : '0', ...ids];
      // Read-only, it runs as EVAL_RO: a dry run can use a read-only token, and Redis refuses a write.
      const answers = await retried(() => (readOnly ? this.redis.evalRo(KEY_SIGHTINGS_SCRIPT, keys, args) : this.redis.eval(KEY_SIGHTINGS_SCRIPT, keys, args)));
      if (!Array.isArray(answers) || answers.length !== ids.length) throw new Error(`the key sightings script answered ${JSON.stringify(answers)?.slice(0, 80)}`);
      ids.forEach((id, index) => {
        const answer = String(answers[index]);
        if (answer === 'gone') return;
        const seen = Number(answer);
        // "new" is not a time; anything else we did not write only delays a delete.
        result.set(id, Number.isFinite(seen) && seen > 0 ? seen : undefined);
      });
    }
    return result;
  }

  async forgetKeySightingsExcept(stillStale: ReadonlySet<string>): Promise<void> {
    const sighted = (await retried(() => this.redis.smembers(KEY_SIGHTINGS))).map(String);
    const forget = sighted.filter((id) => !stillStale.has(id));
    for (const ids of chunks(forget)) {
      const pipeline = this.redis.pipeline();
      pipeline.del(...ids.map(keySightingKey));
      pipeline.srem(KEY_SIGHTINGS, ...ids);
      await retried(() => pipeline.exec());
    }
  }

  async deleteStaleKey(
    sessionId: string,
    { firstSeenAt, now, ttlSeconds, fingerprint = '' }: { firstSeenAt: number; now: number; ttlSeconds: number; fingerprint?: string },
  ): Promise<'deleted' | 'changed' | 'absent'> {
    const keys = [this.sessionKey(sessionId), keySightingKey(sessionId), KEY_SIGHTINGS, deletedKeyMark(sessionId)];
    const args = [sessionId, String(now), String(ttlSeconds), String(firstSeenAt), fingerprint];
    const answer = String(await retried(() => this.redis.eval(DELETE_STALE_SCRIPT, keys, args)));
    if (answer === 'deleted' || answer === 'changed' || answer === 'absent') return answer;
    throw new Error(`the stale key delete script answered ${JSON.stringify(answer).slice(0, 80)}`);
  }

  async readSessionKey(sessionId: string): Promise<KeyRead | null> {
    return retried(() => readKeyValue(this.redis, this.sessionKey(sessionId)));
  }

  async deleteArchivedKey(sessionId: string, fingerprint: string): Promise<'deleted' | 'absent' | 'changed'> {
    return retried(() => deleteArchivedKey(this.redis, this.sessionKey(sessionId), fingerprint));
  }

  /**
   * Writes an archived key back (a restore), with its value and TTL, unless a key of that name
   * exists now. A write whose answer was lost, retried, finds its own key: `exists`.
   */
  async restoreSessionKey(snapshot: SessionKeySnapshot, options: { dryRun: boolean }): Promise<'restored' | 'exists'> {
    return retried(() => restoreKeyValue(this.redis, snapshot, options));
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

/** SCAN's MATCH is a glob: the prefix's own `*?[]\\` must match themselves. */
export function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** One SCAN answer, checked: `[nextCursor, keys]`. */
function scanPage(answer: unknown, page: number): [string, string[]] {
  if (Array.isArray(answer) && answer.length === 2 && Array.isArray(answer[1])) {
    const [next, keys] = answer as [unknown, unknown[]];
    if ((typeof next === 'string' || typeof next === 'number') && /^\d+$/.test(String(next))) return [String(next), keys.map(String)];
  }
  throw new Error(`SCAN page ${page} answered ${JSON.stringify(answer)?.slice(0, 80)}, not [cursor, keys]`);
}

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
