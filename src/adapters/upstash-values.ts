/**
 * A session key's whole value, for the archive and for a restore: read in one atomic script
 * (type, remaining TTL, value, fingerprint), deleted only while it holds the value archived,
 * and written back in one script (only if no key of that name exists).
 * The six core types; a module's type (JSON, for one) is refused, never archived half.
 */
import type { Redis } from '@upstash/redis';
import type { KeyRead, SessionKeySnapshot } from '../ports.js';
import { valueProblem } from '../core/archive.js';

const TYPES: readonly SessionKeySnapshot['type'][] = ['string', 'hash', 'list', 'set', 'zset', 'stream'];

/**
 * `fingerprint(key)`: a SHA-1 of a key's type and whole value (a stream's: its length and last
 * id), made server side, so that a check of it and a delete are one atomic step: nil when the
 * key is gone, "unsupported" for a type whose value cannot be read (a module's, such as JSON),
 * which is then never taken as unchanged. The sightings of stale keys hold it; the archive
 * reads it with the value, so that a key is deleted only while it is the value archived.
 */
export const FINGERPRINT_FUNCTION = `
local function fingerprint(key)
  local kind = redis.call("TYPE", key)
  if type(kind) == "table" then kind = kind.ok end
  if kind == "none" then return nil end
  local parts = {}
  if kind == "string" then
    parts = { redis.call("GET", key) }
  elseif kind == "list" then
    parts = redis.call("LRANGE", key, 0, -1)
  elseif kind == "set" then
    parts = redis.call("SMEMBERS", key)
    table.sort(parts)
  elseif kind == "hash" then
    local flat = redis.call("HGETALL", key)
    for i = 1, #flat, 2 do parts[#parts + 1] = #flat[i] .. ":" .. flat[i] .. flat[i + 1] end
    table.sort(parts)
  elseif kind == "zset" then
    parts = redis.call("ZRANGE", key, 0, -1, "WITHSCORES")
  elseif kind == "stream" then
    parts = { tostring(redis.call("XLEN", key)) }
    local last = redis.call("XREVRANGE", key, "+", "-", "COUNT", 1)
    if last[1] then parts[2] = last[1][1] end
  else
    -- A type whose value this script cannot read (a module's, such as JSON): no change could be
    -- seen, so such a key is never confirmed (the delete refuses it).
    return "unsupported"
  end
  local text = kind
  for i = 1, #parts do text = text .. "\\n" .. #parts[i] .. ":" .. parts[i] end
  return redis.sha1hex(text)
end
`;

// KEYS: the key. Answers {"none"}, {type} for a type it cannot read, or {type, pttl, value,
// fingerprint}: all read in one step, so the fingerprint is the value's.
const READ_SCRIPT = `${FINGERPRINT_FUNCTION}
local key = KEYS[1]
local kind = redis.call("TYPE", key)
if type(kind) == "table" then kind = kind.ok end
if kind == "none" then return { "none" } end
local value
if kind == "string" then value = { redis.call("GET", key) }
elseif kind == "hash" then value = redis.call("HGETALL", key)
elseif kind == "list" then value = redis.call("LRANGE", key, 0, -1)
elseif kind == "set" then value = redis.call("SMEMBERS", key)
elseif kind == "zset" then value = redis.call("ZRANGE", key, 0, -1, "WITHSCORES")
elseif kind == "stream" then value = redis.call("XRANGE", key, "-", "+")
else return { kind } end
return { kind, redis.call("PTTL", key), value, fingerprint(key) }`;

// KEYS: the key. ARGV: the fingerprint of the value archived. Deletes the key only while it
// holds that value: one rewritten since its archive is left for a later run to archive again.
const DELETE_ARCHIVED_SCRIPT = `${FINGERPRINT_FUNCTION}
local current = fingerprint(KEYS[1])
if not current then return "absent" end
if current ~= ARGV[1] or current == "unsupported" then return "changed" end
redis.call("DEL", KEYS[1])
return "deleted"`;

// KEYS: the key. ARGV: type, pttl, then the value flat (a stream: id, field count, fields...).
// Writes nothing when the key exists. Every write goes through pcall: a command that fails
// half-way (a score or stream id a hand-edited record got wrong) deletes what was written, so
// that no half key is left to be taken for one that "exists". Arguments go in slices, under
// Lua's stack limit.
const RESTORE_SCRIPT = `
local key = KEYS[1]
if redis.call("EXISTS", key) == 1 then return "exists" end
local kind, pttl = ARGV[1], tonumber(ARGV[2])
local function try(...)
  local answer = redis.pcall(...)
  if type(answer) == "table" and answer.err then
    redis.call("DEL", key)
    error(answer.err)
  end
end
local function many(command, from, to, step)
  for i = from, to, step do try(command, key, unpack(ARGV, i, math.min(i + step - 1, to))) end
end
if kind == "string" then try("SET", key, ARGV[3])
elseif kind == "hash" then many("HSET", 3, #ARGV, 1000)
elseif kind == "list" then many("RPUSH", 3, #ARGV, 1000)
elseif kind == "set" then many("SADD", 3, #ARGV, 1000)
elseif kind == "zset" then many("ZADD", 3, #ARGV, 1000)
elseif kind == "stream" then
  local i = 3
  while i <= #ARGV do
    local count = tonumber(ARGV[i + 1])
    try("XADD", key, ARGV[i], unpack(ARGV, i + 2, i + 1 + count))
    i = i + 2 + count
  end
else return redis.error_reply("cannot restore a key of type " .. kind) end
-- What was left of the TTL; 0 (expiring as it was read) keeps a millisecond, not forever.
if pttl and pttl >= 0 then try("PEXPIRE", key, math.max(1, pttl)) end
return "restored"`;

/** Reads a key whole; null when there is none. Rejects for a type the archive cannot hold. */
export async function readKeyValue(redis: Redis, key: string): Promise<KeyRead | null> {
  const answer = (await redis.evalRo(READ_SCRIPT, [key], [])) as unknown;
  if (!Array.isArray(answer) || typeof answer[0] !== 'string') throw new Error(`the key read script answered ${JSON.stringify(answer)?.slice(0, 80)}`);
  const [kind, pttl, raw, fingerprint] = answer as [string, unknown, unknown, unknown];
  if (kind === 'none') return null;
  if (!(TYPES as readonly string[]).includes(kind)) throw new Error(`session key ${key} is of type ${kind}, which the archive cannot hold`);
  const type = kind as SessionKeySnapshot['type'];
  const value = fromFlat(type, raw);
  const problem = valueProblem(type, value);
  if (problem !== undefined || typeof pttl !== 'number' || typeof fingerprint !== 'string') {
    throw new Error(`the key read script answered an unreadable value for ${key}: ${problem ?? 'no TTL or fingerprint'}`);
  }
  return { snapshot: { key, type, value, pttlMs: pttl }, fingerprint };
}

/** Deletes a key only while it holds the value whose fingerprint is given (the one archived). */
export async function deleteArchivedKey(redis: Redis, key: string, fingerprint: string): Promise<'deleted' | 'absent' | 'changed'> {
  const answer = String(await redis.eval(DELETE_ARCHIVED_SCRIPT, [key], [fingerprint]));
  if (answer === 'deleted' || answer === 'absent' || answer === 'changed') return answer;
  throw new Error(`the archived key delete script answered ${JSON.stringify(answer).slice(0, 80)}`);
}

/** Writes a key back with its value and TTL, unless one of that name exists now. */
export async function restoreKeyValue(redis: Redis, snapshot: SessionKeySnapshot, { dryRun }: { dryRun: boolean }): Promise<'restored' | 'exists'> {
  const problem = valueProblem(snapshot.type, snapshot.value);
  if (problem) throw new Error(`cannot restore ${snapshot.key}: ${problem}`);
  if (dryRun) return (await redis.exists(snapshot.key)) > 0 ? 'exists' : 'restored';
  const args = [snapshot.type, String(snapshot.pttlMs), ...toFlat(snapshot)];
  const answer = String(await redis.eval(RESTORE_SCRIPT, [snapshot.key], args));
  if (answer === 'restored' || answer === 'exists') return answer;
  throw new Error(`the key restore script answered ${JSON.stringify(answer).slice(0, 80)}`);
}

/** The script's flat answer → the record's value (see SessionKeySnapshot). */
function fromFlat(type: SessionKeySnapshot['type'], raw: unknown): unknown {
  if (!Array.isArray(raw)) return raw;
  const strings = raw.map((v) => (Array.isArray(v) ? v : String(v)));
  switch (type) {
    case 'string':
      return strings[0];
    case 'hash':
      return Object.fromEntries(pairs(strings as string[]));
    case 'zset':
      return pairs(strings as string[]);
    case 'stream':
      return (raw as unknown[][]).map(([id, fields]) => [String(id), (fields as unknown[]).map(String)]);
    default:
      return strings;
  }
}

/** The record's value → the restore script's arguments after type and TTL. */
function toFlat({ type, value }: SessionKeySnapshot): string[] {
  switch (type) {
    case 'string':
      return [value as string];
    case 'hash':
      return Object.entries(value as Record<string, string>).flat();
    case 'zset':
      // ZADD takes the score first.
      return (value as [string, string][]).flatMap(([member, score]) => [score, member]);
    case 'stream':
      return (value as [string, string[]][]).flatMap(([id, fields]) => [id, String(fields.length), ...fields]);
    default:
      return value as string[];
  }
}

function pairs(flat: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}
