import { existsSync } from 'node:fs';
import { Redis, errors, type RedisConfigNodejs } from '@upstash/redis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from './redis-server.js';
import { RespClient, replyToString } from './resp-client.js';
import { UpstashBridge } from './upstash-bridge.js';

/** The lock release the reconciler will use: delete only if we still own it. */
const COMPARE_AND_DELETE = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`;

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

let server: RedisServer;
let bridge: UpstashBridge;
/** Straight to redis-server, bypassing the bridge: to prepare and to check. */
let direct: RespClient;

beforeAll(async () => {
  server = await startRedisServer();
  bridge = await UpstashBridge.start({ redisPort: server.port });
  direct = await RespClient.connect(server.port);
});

afterAll(async () => {
  await bridge?.close();
  await direct?.close();
  await server?.stop();
});

beforeEach(async () => {
  bridge.reset();
  await direct.call('FLUSHDB');
});

function client(options: Partial<RedisConfigNodejs> = {}): Redis {
  return new Redis({ url: bridge.url, token: bridge.token, enableTelemetry: false, ...options });
}

async function valueOf(key: string): Promise<string | null> {
  return replyToString(await direct.call('GET', key));
}

/** A raw request, to pin the wire format itself rather than what the client makes of it. */
async function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${bridge.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bridge.token}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

describe('startRedisServer', () => {
  it('starts a private redis-server on its own port and removes it on stop', async () => {
    // Prepare
    const other = await startRedisServer();
    const probe = await RespClient.connect(other.port);
    const dir = replyToString(((await probe.call('CONFIG', 'GET', 'dir')) as Buffer[])[1] ?? null) ?? '';
    await probe.close();

    // Act
    await other.stop();

    // Assess
    expect(other.port).not.toBe(6379);
    expect(other.port).not.toBe(server.port);
    expect(other.url).toBe(`redis://127.0.0.1:${other.port}`);
    expect(dir).toMatch(/lab-reconciler-redis-/);
    expect(existsSync(dir)).toBe(false);
    await expect(RespClient.connect(other.port)).rejects.toThrow(/ECONNREFUSED/);
    await other.stop(); // a second stop is harmless
  });

  it('says clearly when redis-server is not installed', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await expect(startRedisServer()).rejects.toThrow(/redis-server was not found on PATH/);
    } finally {
      process.env.PATH = path;
    }
  });

  it('runs without persistence', async () => {
    expect(replyToString(await direct.call('CONFIG', 'GET', 'save'))).toBe('["save",""]');
    expect(replyToString(await direct.call('CONFIG', 'GET', 'appendonly'))).toBe('["appendonly","no"]');
  });
});

describe('UpstashBridge wire format', () => {
  it('base64-encodes string results when asked, as Upstash does, and not otherwise', async () => {
    await post('/', ['SET', 'k', 'välue']);

    const encoded = await post('/', ['GET', 'k'], { 'upstash-encoding': 'base64' });
    const plain = await post('/', ['GET', 'k']);

    expect(encoded).toEqual({ status: 200, json: { result: b64('välue') } });
    expect(plain).toEqual({ status: 200, json: { result: 'välue' } });
  });

  it('keeps numbers and nil, and encodes strings inside nested arrays', async () => {
    const script = `return {1, false, 'x', {2, 'y'}}`;

    const reply = await post('/', ['EVAL', script, 0], { 'upstash-encoding': 'base64' });

    expect(reply).toEqual({ status: 200, json: { result: [1, null, b64('x'), [2, b64('y')]] } });
  });

  it('turns JSON numbers into Redis arguments and logs commands with the name upper-cased', async () => {
    await post('/', ['set', 'n', 42, 'px', 60000]);

    expect(await direct.call('PTTL', 'n')).toBeGreaterThan(59_000);
    expect(bridge.commands).toEqual([['SET', 'n', '42', 'px', '60000']]);
  });

  it('answers a Redis error on a single command with 400 and the Redis message', async () => {
    await direct.call('SET', 'word', 'abc');

    const reply = await post('/', ['INCR', 'word']);

    expect(reply).toEqual({ status: 400, json: { error: 'ERR value is not an integer or out of range' } });
  });

  it('answers a pipeline with 200 and one result or error per command, in order', async () => {
    const reply = await post('/pipeline', [['SET', 'a', 'x'], ['INCR', 'a'], ['GET', 'missing']]);

    expect(reply).toEqual({
      status: 200,
      json: [{ result: 'OK' }, { error: 'ERR value is not an integer or out of range' }, { result: null }],
    });
  });

  it('rejects a missing or wrong token with 401 Unauthorized and runs nothing', async () => {
    const wrong = await post('/', ['SET', 'k', 'v'], { authorization: 'Bearer nope' });
    const res = await fetch(bridge.url, { method: 'POST', body: JSON.stringify(['SET', 'k', 'v']) });

    expect(wrong).toEqual({ status: 401, json: { error: 'Unauthorized' } });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: 'Unauthorized' });
    expect(await valueOf('k')).toBeNull();
    expect(bridge.commands).toEqual([]);
  });

  it('refuses commands that would change the shared connection', async () => {
    const reply = await post('/', ['MULTI']);

    expect(reply.status).toBe(400);
    expect(await post('/', ['SET', 'after', 'v'])).toEqual({ status: 200, json: { result: 'OK' } });
  });
});

describe('UpstashBridge with @upstash/redis', () => {
  it('serves GET, SET and DEL', async () => {
    const redis = client();

    const set = await redis.set('session', 'alive');
    const got = await redis.get('session');
    const deleted = await redis.del('session');
    const gone = await redis.get('session');

    expect(set).toBe('OK');
    expect(got).toBe('alive');
    expect(deleted).toBe(1);
    expect(gone).toBeNull();
    expect(await valueOf('session')).toBeNull();
  });

  it('sends what the client sends: base64 encoding, the bearer token, no telemetry', async () => {
    await client().get('k');

    const [request] = bridge.requests;
    expect(request?.headers['upstash-encoding']).toBe('base64');
    expect(request?.headers.authorization).toBe(`Bearer ${bridge.token}`);
    expect(request?.headers['content-type']).toBe('application/json');
    expect(Object.keys(request?.headers ?? {}).filter((h) => h.startsWith('upstash-telemetry'))).toEqual([]);
    expect(request?.headers).toHaveProperty('upstash-sync-token');
  });

  it('takes a lock with SET NX PX once, and the second attempt gets null', async () => {
    const redis = client();

    const first = await redis.set('lock', 'owner-a', { nx: true, px: 10_000 });
    const second = await redis.set('lock', 'owner-b', { nx: true, px: 10_000 });

    expect(first).toBe('OK');
    expect(second).toBeNull();
    expect(await valueOf('lock')).toBe('owner-a');
    expect(await direct.call('PTTL', 'lock')).toBeGreaterThan(9_000);
    expect(bridge.commands[0]).toEqual(['SET', 'lock', 'owner-a', 'nx', 'px', '10000']);
  });

  it('serves TTL, PTTL and PEXPIRE', async () => {
    const redis = client();
    await redis.set('sighting', 'first-seen');

    const noTtl = await redis.ttl('sighting');
    const expired = await redis.pexpire('sighting', 5_000);
    const ttl = await redis.ttl('sighting');
    const pttl = await redis.pttl('sighting');
    const missing = await redis.ttl('missing');

    expect(noTtl).toBe(-1);
    expect(expired).toBe(1);
    expect(ttl).toBeGreaterThanOrEqual(4);
    expect(ttl).toBeLessThanOrEqual(5);
    expect(pttl).toBeGreaterThan(4_000);
    expect(pttl).toBeLessThanOrEqual(5_000);
    expect(missing).toBe(-2);
  });

  it('runs a compare-and-delete Lua script with EVAL', async () => {
    const redis = client();
    await redis.set('lock', 'owner-a');

    const notOwner = await redis.eval(COMPARE_AND_DELETE, ['lock'], ['owner-b']);
    const stillThere = await valueOf('lock');
    const owner = await redis.eval(COMPARE_AND_DELETE, ['lock'], ['owner-a']);

    expect(notOwner).toBe(0);
    expect(stillThere).toBe('owner-a');
    expect(owner).toBe(1);
    expect(await valueOf('lock')).toBeNull();
    expect(bridge.commands.at(-1)).toEqual(['EVAL', COMPARE_AND_DELETE, '1', 'lock', 'owner-a']);
  });

  it('falls back from EVALSHA to EVAL for a script Redis has not seen', async () => {
    const redis = client();
    await direct.call('SCRIPT', 'FLUSH'); // earlier tests EVAL'd the same script
    await redis.set('lock', 'owner-a');

    const released = await redis.createScript<number>(COMPARE_AND_DELETE).exec(['lock'], ['owner-a']);

    expect(released).toBe(1);
    expect(bridge.commands.map(([name]) => name)).toEqual(['SET', 'EVALSHA', 'EVAL']);
  });

  it('auto-pipelines commands awaited together into one /pipeline request per kind', async () => {
    const redis = client();

    const results = await Promise.all([redis.set('a', 'x'), redis.set('b', 'y'), redis.del('c')]);

    expect(results).toEqual(['OK', 'OK', 0]);
    expect(bridge.requests.map((r) => [r.path, r.commands.length])).toEqual([['/pipeline', 3]]);
  });

  it('sends an explicit transaction to /multi-exec and runs it atomically', async () => {
    const redis = client();

    const results = await redis.multi().set('counter', 1).incr('counter').get('counter').exec();

    expect(results).toEqual(['OK', 2, 2]);
    expect(bridge.requests.map((r) => r.path)).toEqual(['/multi-exec']);
  });

  it('serves SCAN and MGET over several keys, with nil for a missing one', async () => {
    const redis = client();
    await direct.call('MSET', 'lab_session:a', 'alpha', 'lab_session:b', 'beta', 'lab_session:c', 'gamma', 'other', 'x');

    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, page] = await redis.scan(cursor, { match: 'lab_session:*', count: 2 });
      keys.push(...page);
      cursor = String(next);
    } while (cursor !== '0');
    const values = await redis.mget<(string | null)[]>('lab_session:a', 'lab_session:missing', 'lab_session:c');

    expect(keys.sort()).toEqual(['lab_session:a', 'lab_session:b', 'lab_session:c']);
    expect(values).toEqual(['alpha', null, 'gamma']);
  });

  it('returns nil as null', async () => {
    const redis = client();

    expect(await redis.get('missing')).toBeNull();
    expect(await redis.getdel('missing')).toBeNull();
  });

  it('surfaces a Redis error as a thrown error, pipelined or not', async () => {
    await direct.call('SET', 'word', 'abc');

    await expect(client().incr('word')).rejects.toThrow('ERR value is not an integer');
    await expect(client({ enableAutoPipelining: false }).incr('word')).rejects.toThrow(
      'ERR value is not an integer',
    );
  });

  it('makes the client throw on a wrong token, before anything reaches Redis', async () => {
    const redis = client({ token: 'wrong-token' });

    await expect(redis.set('k', 'v')).rejects.toThrow(/Unauthorized/);
    expect(await valueOf('k')).toBeNull();
  });
});

describe('UpstashBridge faults', () => {
  it('answers a matching command with the status asked for, once, and leaves others alone', async () => {
    const redis = client();
    await direct.call('SET', 'k', 'v');
    const fault = bridge.fail({ command: 'DEL', effect: { status: 503 } });

    const got = await redis.get('k');
    const failed = redis.del('k');

    expect(got).toBe('v');
    await expect(failed).rejects.toThrow(/Service Unavailable/);
    expect(await valueOf('k')).toBe('v'); // the DEL never reached Redis
    expect(fault.hits).toBe(1);
    expect(await redis.del('k')).toBe(1); // times defaults to 1
  });

  it('sends a custom body with the status, e.g. a 500 or a 401 from a rotated token', async () => {
    const redis = client();
    bridge.fail({ command: 'set', effect: { status: 500, body: { error: 'ERR internal' } } });
    bridge.fail({ command: 'SET', effect: { status: 401, body: { error: 'Unauthorized' } } });

    await expect(redis.set('k', 'v')).rejects.toThrow(/ERR internal/);
    await expect(redis.set('k', 'v')).rejects.toThrow(/Unauthorized/);
    expect(await redis.set('k', 'v')).toBe('OK');
  });

  it('fails every request with times: Infinity', async () => {
    const redis = client({ enableAutoPipelining: false });
    const fault = bridge.fail({ times: Infinity, effect: { status: 503 } });

    const results = await Promise.allSettled([redis.get('a'), redis.set('b', 'x'), redis.eval('return 1', [], [])]);

    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(fault.hits).toBe(3);
  });

  it('resets the connection: the client retries by itself, and throws when retries run out', async () => {
    bridge.fail({ command: 'SET', effect: 'reset' });
    const retried = await client().set('k', 'v');
    const sentTimes = bridge.commands.filter(([name]) => name === 'SET').length;

    bridge.fail({ command: 'SET', effect: 'reset', times: Infinity });
    const noRetry = client({ retry: { retries: 0 } }).set('k', 'w');

    expect(retried).toBe('OK');
    expect(sentTimes).toBe(2);
    await expect(noRetry).rejects.toMatchObject({ message: 'fetch failed', cause: { code: 'ECONNRESET' } });
    expect(await valueOf('k')).toBe('v');
  });

  it('can fail a request after Redis ran it, so a write lands although the client saw an error', async () => {
    bridge.fail({ command: 'SET', effect: { status: 503 }, when: 'after' });

    await expect(client().set('k', 'v')).rejects.toThrow(/Service Unavailable/);
    expect(await valueOf('k')).toBe('v');
  });

  it('hangs until the client gives up, when the client has a timeout', async () => {
    bridge.fail({ command: 'GET', effect: 'hang' });
    const redis = client({ signal: () => AbortSignal.timeout(200) });

    await expect(redis.get('k')).rejects.toThrow(/abort|timeout/i);
  });

  it('shows why the timeout must be a signal factory: a plain AbortSignal turns a hang into null', async () => {
    await direct.call('SET', 'k', 'v');
    bridge.fail({ command: 'GET', effect: 'hang' });
    const redis = client({ signal: AbortSignal.timeout(200), enableAutoPipelining: false });

    const result = await redis.get('k');

    // The client fakes `{"result": signal.reason}` on abort: a hang reads as a missing key.
    expect(result).toBeNull();
    expect(await valueOf('k')).toBe('v');
  });

  it('answers malformed JSON, which the client reports as a parse error', async () => {
    bridge.fail({ effect: 'malformed-json' });

    await expect(client().get('k')).rejects.toBeInstanceOf(errors.UpstashJSONParseError);
  });

  it('adds latency and then serves the request normally', async () => {
    await direct.call('SET', 'k', 'v');
    bridge.fail({ command: 'GET', latencyMs: 300 });
    const started = performance.now();

    const got = await client().get('k');

    expect(got).toBe('v');
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('lets a race test act between two commands with beforeCommand', async () => {
    // Prepare: we hold the lock; just before our release runs, it expires and another run takes it.
    const redis = client();
    await redis.set('lock', 'owner-a', { nx: true, px: 10_000 });
    bridge.beforeCommand = async ([name]) => {
      if (name === 'EVAL') await direct.call('SET', 'lock', 'owner-b');
    };

    // Act
    const released = await redis.eval(COMPARE_AND_DELETE, ['lock'], ['owner-a']);

    // Assess: the compare-and-delete saw the other owner and left its lock alone.
    expect(released).toBe(0);
    expect(await valueOf('lock')).toBe('owner-b');
  });

  it('calls beforeCommand for each command of pipelines and transactions too, before it runs', async () => {
    const redis = client();
    const seen: string[] = [];
    bridge.beforeCommand = async ([name, key]) => {
      seen.push(`${name} ${key} exists=${String(await direct.call('EXISTS', key ?? ''))}`);
    };

    await Promise.all([redis.set('p', 'x'), redis.set('q', 'y')]);
    await redis.multi().set('t', 'z').del('t').exec();

    expect(seen).toEqual(['SET p exists=0', 'SET q exists=0', 'SET t exists=0', 'DEL t exists=0']);
  });
});
