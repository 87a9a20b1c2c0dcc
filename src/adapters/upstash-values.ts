/**
 * A session key's whole value, for the archive and for a restore: read in one atomic script
 * (type, remaining TTL, value) and written back in one (only if no key of that name exists).
 * The six core types; a module's type (JSON, for one) is refused, never archived half.
 */
import type { Redis } from '@upstash/redis';
import type { SessionKeySnapshot } from '../ports.js';
import { valueProblem } from '../core/archive.js';

const TYPES: readonly SessionKeySnapshot['type'][] = ['string', 'hash', 'list', 'set', 'zset', 'stream'];

// KEYS: the key. Answers {"none"}, {type} for a type it cannot read, or {type, pttl, value}.
const READ_SCRIPT = `
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
return { kind, redis.call("PTTL", key), value }`;

// KEYS: the key. ARGV: type, pttl, then the value flat (a stream: id, field count, fields...).
// Writes nothing when the key exists; arguments go in slices, under Lua's stack limit.
const RESTORE_SCRIPT = `
local key = KEYS[1]
if redis.call("EXISTS", key) == 1 then return "exists" end
local kind, pttl = ARGV[1], tonumber(ARGV[2])
local function many(command, from, to, step)
  for i = from, to, step do redis.call(command, key, unpack(ARGV, i, math.min(i + step - 1, to))) end
end
if kind == "string" then redis.call("SET", key, ARGV[3])
elseif kind == "hash" then many("HSET", 3, #ARGV, 1000)
elseif kind == "list" then many("RPUSH", 3, #ARGV, 1000)
elseif kind == "set" then many("SADD", 3, #ARGV, 1000)
elseif kind == "zset" then many("ZADD", 3, #ARGV, 1000)
elseif kind == "stream" then
  local i = 3
  while i <= #ARGV do
    local count = tonumber(ARGV[i + 1])
    redis.call("XADD", key, ARGV[i], unpack(ARGV, i + 2, i + 1 + count))
    i = i + 2 + count
  end
else return redis.error_reply("cannot restore a key of type " .. kind) end
if pttl and pttl > 0 then redis.call("PEXPIRE", key, pttl) end
return "restored"`;

/** Reads a key whole; null when there is none. Rejects for a type the archive cannot hold. */
export async function readKeyValue(redis: Redis, key: string): Promise<SessionKeySnapshot | null> {
  const answer = (await redis.evalRo(READ_SCRIPT, [key], [])) as unknown;
  if (!Array.isArray(answer) || typeof answer[0] !== 'string') throw new Error(`the key read script answered ${JSON.stringify(answer)?.slice(0, 80)}`);
  const [kind, pttl, raw] = answer as [string, unknown, unknown];
  if (kind === 'none') return null;
  if (!(TYPES as readonly string[]).includes(kind)) throw new Error(`session key ${key} is of type ${kind}, which the archive cannot hold`);
  const type = kind as SessionKeySnapshot['type'];
  const value = fromFlat(type, raw);
  const problem = valueProblem(type, value);
  if (problem !== undefined || typeof pttl !== 'number') throw new Error(`the key read script answered an unreadable value for ${key}: ${problem ?? 'no TTL'}`);
  return { key, type, value, pttlMs: pttl };
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
