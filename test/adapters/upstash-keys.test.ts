/**
 * The session store's side of "both directions", through the real @upstash/redis client, the
 * Upstash REST bridge and a private redis-server: the key scan (every page, the prefix as a
 * literal), the stale keys' sightings with their fingerprint, the compare-and-delete; and
 * whole runs with the local API server.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KEY_SIGHTINGS, SCAN_COUNT, globEscape, keySightingKey } from '../../src/adapters/upstash.js';
import { reconcile } from '../../src/reconcile.js';
import type { RunSettings } from '../../src/reconcile.js';
import type { Clock } from '../../src/ports.js';
import { silentLogger } from '../../src/ports.js';
import type { KubeApiServer } from '../support/kube-api-server.js';
import type { RespClient } from '../support/resp-client.js';
import type { UpstashBridge } from '../support/upstash-bridge.js';
import type { LocalServers } from '../support/servers.js';
import { startLocalServers } from '../support/servers.js';
import { clusterFor, names, seedSession, settings, storeFor } from '../support/lab.js';
import { FixedClock } from '../support/fakes.js';

let servers: LocalServers;
let bridge: UpstashBridge;
let server: KubeApiServer;
let direct: RespClient;

beforeAll(async () => {
  servers = await startLocalServers();
  ({ bridge, server, direct } = servers);
});
afterAll(() => servers.close());
beforeEach(() => servers.reset());

const get = (key: string) => servers.get(key);

/** Many keys at once, through MSET in batches (the bridge is not what is tested here). */
async function seedKeys(keys: readonly string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) await direct.call('MSET', ...keys.slice(i, i + 1000).flatMap((k) => [k, '{"user":"ada"}']));
}

const strings = (...command: string[]) => servers.strings(...command);

const scans = () => bridge.requests.filter((r) => r.commands.some((c) => c[0] === 'SCAN'));

describe('UpstashSessionStore.scanSessionKeys', () => {
  it('reads every page: every session key, among many more unrelated keys, once each', async () => {
    // Prepare: 2,500 session keys in a keyspace of 10,000
    const sessionKeys = Array.from({ length: 2500 }, (_, i) => `lab_session:s${i}`);
    await seedKeys([...sessionKeys, ...Array.from({ length: 7500 }, (_, i) => `cache:page:${i}`)]);
    // Act
    const keys = await storeFor(bridge).scanSessionKeys();
    // Assess
    expect(keys.sort()).toEqual([...sessionKeys].sort());
    // One request per page; SCAN examines about COUNT slots a page, matching or not.
    expect(scans().length).toBeGreaterThanOrEqual(Math.ceil(10_000 / SCAN_COUNT) - 1);
    expect(scans().every((r) => r.commands[0]![3] === 'lab_session:*' && r.commands[0]![5] === String(SCAN_COUNT))).toBe(true);
  });

  it('matches the prefix literally, even with the glob characters * ? [ ] \\ in it', async () => {
    // Prepare
    const prefix = 'lab[1]*?\\:';
    await seedKeys([`${prefix}a`, 'lab1xy\\:b', 'lab[1]zz\\:c', 'labx:d']);
    // Act
    const keys = await storeFor(bridge, prefix).scanSessionKeys();
    // Assess
    expect(globEscape(prefix)).toBe('lab\\[1\\]\\*\\?\\\\:');
    expect(keys).toEqual([`${prefix}a`]);
  });

  it('fails, naming the page, when a page after the first cannot be read: never a partial list', async () => {
    // Prepare: page 2 and later always fail (after the client's and the adapter's retries)
    await seedKeys(Array.from({ length: 3000 }, (_, i) => `lab_session:s${i}`));
    bridge.fail({ command: 'SCAN', match: (c) => c[1] !== '0', effect: { status: 500, body: { error: 'ERR busy' } }, times: Infinity });
    // Act / Assess
    await expect(storeFor(bridge).scanSessionKeys()).rejects.toThrow(/SCAN failed on page 2, after \d+ keys/);
  });

  it('refuses an answer that is not [cursor, keys]', async () => {
    bridge.fail({ command: 'SCAN', effect: 'malformed-json', times: Infinity });
    await expect(storeFor(bridge).scanSessionKeys()).rejects.toThrow(/SCAN failed on page 1/);
  });
});

describe('UpstashSessionStore stale key sightings and deletes', () => {
  const options = (now: number, readOnly = false) => ({ now, ttlSeconds: 3900, readOnly });

  it('records a first sighting with a TTL, keeps it while the key is unchanged, starts over when it changes', async () => {
    // Prepare
    const store = storeFor(bridge);
    await direct.call('SET', 'lab_session:a', 'v1');
    // Act
    const first = await store.keySightings(['a', 'gone'], options(1_000));
    const unchanged = await store.keySightings(['a'], options(2_000));
    await direct.call('SET', 'lab_session:a', 'v2');
    const changed = await store.keySightings(['a'], options(3_000));
    // Assess
    expect([...first]).toEqual([['a', 1_000]]);
    expect(unchanged.get('a')).toBe(1_000);
    expect(changed.get('a')).toBe(3_000);
    expect(await get(keySightingKey('a'))).toMatch(/^3000:[0-9a-f]{40}$/);
    expect(Number(await direct.call('TTL', keySightingKey('a')))).toBeGreaterThan(3800);
    expect(await strings('SMEMBERS', KEY_SIGHTINGS)).toEqual(['a']);
  });

  it('writes nothing when read-only: an unseen key has no sighting', async () => {
    // Prepare
    const store = storeFor(bridge);
    await direct.call('SET', 'lab_session:a', 'v1');
    // Act
    const seen = await store.keySightings(['a'], options(1_000, true));
    // Assess
    expect([...seen]).toEqual([['a', undefined]]);
    expect(await strings('KEYS', '*')).toEqual(['lab_session:a']);
  });

  it.each([
    ['a string', ['SET', 'k', 'v1'], ['SET', 'k', 'v2']],
    ['a hash', ['HSET', 'k', 'user', 'ada', 'lab', 'jupyter'], ['HSET', 'k', 'lab', 'ubuntu']],
    ['a set', ['SADD', 'k', 'x', 'y'], ['SADD', 'k', 'z']],
    ['a list', ['RPUSH', 'k', 'x', 'y'], ['LSET', 'k', '0', 'w']],
    ['a sorted set', ['ZADD', 'k', '1', 'x'], ['ZADD', 'k', '2', 'x']],
    ['a stream', ['XADD', 'k', '1-1', 'f', 'v'], ['XADD', 'k', '2-1', 'f', 'v']],
  ])('deletes %s only while it is unchanged since its sighting', async (_kind, create, change) => {
    // Prepare: two keys of this type, both seen stale; one changes afterwards
    const store = storeFor(bridge);
    for (const id of ['same', 'moved']) await direct.call(create[0]!, `lab_session:${id}`, ...create.slice(2));
    await store.keySightings(['same', 'moved'], options(1_000));
    await direct.call(change[0]!, 'lab_session:moved', ...change.slice(2));
    // Act
    const same = await store.deleteStaleKey('same', { firstSeenAt: 1_000, now: 9_000, ttlSeconds: 3900 });
    const moved = await store.deleteStaleKey('moved', { firstSeenAt: 1_000, now: 9_000, ttlSeconds: 3900 });
    // The same delete again (its answer lost, the client retries): it knows its own delete
    const retried = await store.deleteStaleKey('same', { firstSeenAt: 1_000, now: 9_000, ttlSeconds: 3900 });
    // A later run finds it gone
    const absent = await store.deleteStaleKey('same', { firstSeenAt: 1_000, now: 9_500, ttlSeconds: 3900 });
    // Assess
    expect([same, moved, retried, absent]).toEqual(['deleted', 'changed', 'deleted', 'absent']);
    expect(Number(await direct.call('EXISTS', 'lab_session:same'))).toBe(0);
    expect(Number(await direct.call('EXISTS', 'lab_session:moved'))).toBe(1);
    // The changed key's confirmation starts over; the deleted one's sighting is gone
    expect(await get(keySightingKey('moved'))).toMatch(/^9000:/);
    expect(await get(keySightingKey('same'))).toBeNull();
    expect(await strings('SMEMBERS', KEY_SIGHTINGS)).toEqual(['moved']);
  });

  it('deletes nothing when its sighting is not the one the decision was made on, or is not older than now', async () => {
    // Prepare: seen at 1,000; the decision believes 500 (another run started it over meanwhile)
    const store = storeFor(bridge);
    await direct.call('SET', 'lab_session:a', 'v1');
    await store.keySightings(['a'], options(1_000));
    // Act
    const otherSighting = await store.deleteStaleKey('a', { firstSeenAt: 500, now: 9_000, ttlSeconds: 3900 });
    // The retry of a delete whose answer was lost, after it started the sighting over at 9,000
    const ownRestart = await store.deleteStaleKey('a', { firstSeenAt: 9_000, now: 9_000, ttlSeconds: 3900 });
    // Assess
    expect([otherSighting, ownRestart]).toEqual(['changed', 'changed']);
    expect(await get('lab_session:a')).toBe('v1');
    expect(await get(keySightingKey('a'))).toMatch(/^9000:/);
  });

  it('deletes nothing of a key that was never seen stale', async () => {
    const store = storeFor(bridge);
    await direct.call('SET', 'lab_session:a', 'v1');
    expect(await store.deleteStaleKey('a', { firstSeenAt: 1_000, now: 9_000, ttlSeconds: 3900 })).toBe('changed');
    expect(await get('lab_session:a')).toBe('v1');
  });

  it('forgets the sightings of every key but those still stale', async () => {
    // Prepare
    const store = storeFor(bridge);
    for (const id of ['a', 'b', 'c']) await direct.call('SET', `lab_session:${id}`, 'v');
    await store.keySightings(['a', 'b', 'c'], options(1_000));
    // Act
    await store.forgetKeySightingsExcept(new Set(['b']));
    // Assess
    expect(await get(keySightingKey('a'))).toBeNull();
    expect(await get(keySightingKey('b'))).toMatch(/^1000:/);
    expect(await get(keySightingKey('c'))).toBeNull();
    expect(await strings('SMEMBERS', KEY_SIGHTINGS)).toEqual(['b']);
  });
});

describe('runs in both directions (local API server, Upstash bridge)', () => {
  const NOW = Date.now();
  const run = (clock: Clock, changes: Partial<RunSettings> = {}, prefix = 'lab_session:') =>
    reconcile(settings({ namespaces: ['jupyter-lab', 'ubuntu-lab'], staleKeys: 'delete', ...changes }), {
      cluster: clusterFor(server),
      store: storeFor(bridge, prefix),
      logger: silentLogger,
      clock,
    });

  beforeEach(async () => {
    // live: a session with its key; leak: a Deployment without its key; ghost: a key without a session
    seedSession(server, 'jupyter-lab', 'jupyter', 'live', { deployment: true, now: NOW });
    seedSession(server, 'ubuntu-lab', 'ubuntu', 'leak', { deployment: true, now: NOW });
    await seedKeys(['lab_session:live', 'lab_session:ghost', 'cache:ghost']);
  });

  it('sees a stale key first, deletes it in a later run after the confirm period, and never touches the rest', async () => {
    // Prepare
    const clock = new FixedClock(NOW);
    // Act
    const first = await run(clock);
    clock.advanceSeconds(299);
    const early = await run(clock);
    clock.advanceSeconds(1);
    const confirmed = await run(clock);
    // Assess
    expect(first.staleSessionKeys).toEqual([{ key: 'lab_session:ghost', sessionId: 'ghost', action: 'spared', reason: 'unconfirmed', firstSeenAt: new Date(NOW).toISOString() }]);
    expect(early.staleSessionKeys[0]).toMatchObject({ action: 'spared', reason: 'unconfirmed', firstSeenAt: new Date(NOW).toISOString() });
    expect(confirmed.staleSessionKeys[0]).toMatchObject({ action: 'deleted', reason: 'no-resources' });
    expect(confirmed.totals).toMatchObject({ staleSessionKeys: 1, staleSessionKeysDeleted: 1, leakedDeployments: 1, errors: 0 });
    expect(confirmed.leakedDeployments).toEqual([{ namespace: 'ubuntu-lab', labType: 'ubuntu', sessionId: 'leak', name: 'ubuntu-lab-leak', ageSeconds: 7500 }]);
    expect(await get('lab_session:ghost')).toBeNull();
    expect(await get('lab_session:live')).toBe('{"user":"ada"}');
    expect(await get('cache:ghost')).toBe('{"user":"ada"}');
    // The leaked Deployment is reported, never deleted
    expect(names(server, 'Deployment', 'ubuntu-lab')).toEqual(['ubuntu-lab-leak']);
    expect(server.requests.filter((r) => r.verb === 'delete')).toEqual([]);
    expect(await get(keySightingKey('ghost'))).toBeNull();
  });

  it('spares a key rewritten between its last sighting and its delete: a session starting again, key first', async () => {
    // Prepare: seen stale long ago
    const clock = new FixedClock(NOW);
    await run(clock);
    clock.advanceSeconds(600);
    // The platform rewrites the key just before the delete script runs (and starts the session's Deployment)
    bridge.beforeCommand = async (command) => {
      if (command[0] === 'EVAL' && command[1]!.includes('return "deleted"')) {
        bridge.beforeCommand = undefined;
        await direct.call('SET', 'lab_session:ghost', '{"user":"ada","restarted":true}');
        seedSession(server, 'jupyter-lab', 'jupyter', 'ghost', { deployment: true, now: clock.now() });
      }
    };
    // Act
    const summary = await run(clock);
    // Assess
    expect(summary.staleSessionKeys[0]).toMatchObject({ key: 'lab_session:ghost', action: 'spared', reason: 'unconfirmed', firstSeenAt: new Date(clock.now()).toISOString() });
    expect(await get('lab_session:ghost')).toBe('{"user":"ada","restarted":true}');
    // The next run sees its resources: no longer stale, its sighting forgotten
    const next = await run(clock);
    expect(next.staleSessionKeys).toEqual([]);
    expect(await get(keySightingKey('ghost'))).toBeNull();
  });

  it("never judges the product's own keys, even under a prefix they match", async () => {
    // Prepare: a prefix that the product's keys (lock, sightings, pending) also start with;
    // and a key whose id no resource name can carry (upper case), left alone and counted
    await seedKeys(['lab-ghost', 'lab-Upper']);
    const clock = new FixedClock(NOW);
    // Act
    await run(clock, {}, 'lab-');
    clock.advanceSeconds(600);
    const summary = await run(clock, {}, 'lab-');
    // Assess
    expect(summary.staleSessionKeys.map((k) => [k.key, k.action])).toEqual([['lab-ghost', 'deleted']]);
    expect(summary.warnings.join('\n')).toMatch(/^1 keys under lab- were left alone: their session ids could not name a Kubernetes resource/m);
    expect(await get('lab-ghost')).toBeNull();
    expect(await get('lab-Upper')).toBe('{"user":"ada"}');
    expect(await get('lab-reconciler:key-sightings')).toBeNull();
  });

  it.each([
    ['narrowed', { narrowed: true, namespaces: ['jupyter-lab'] }, /narrowed to jupyter-lab/],
    ['off', { staleKeys: 'off' as const }, /RECONCILIATION_STALE_KEYS is off/],
  ])('reads no key and judges nothing when %s, and says why', async (_case, changes, why) => {
    const clock = new FixedClock(NOW);
    await run(clock);
    clock.advanceSeconds(600);
    bridge.requests.length = 0;
    const summary = await run(clock, changes);
    expect(summary.staleSessionKeys).toEqual([]);
    expect(summary.leakedDeployments).toEqual([]);
    expect(summary.warnings.join('\n')).toMatch(why);
    expect(scans()).toEqual([]);
    expect(await get('lab_session:ghost')).toBe('{"user":"ada"}');
  });

  it('judges nothing when a namespace could not be listed, and says which', async () => {
    const clock = new FixedClock(NOW);
    await run(clock);
    clock.advanceSeconds(600);
    server.injectFault({ verb: 'list', kind: 'Deployment', namespace: 'ubuntu-lab', times: Infinity, effect: { type: 'status', code: 500 } });
    const summary = await run(clock);
    expect(summary.staleSessionKeys).toEqual([]);
    expect(summary.leakedDeployments).toEqual([]);
    expect(summary.warnings.join('\n')).toMatch(/Session keys were not judged: ubuntu-lab could not be listed completely/);
    expect(await get('lab_session:ghost')).toBe('{"user":"ada"}');
  });

  it('counts a scan that fails as an error of the run, and judges nothing', async () => {
    const clock = new FixedClock(NOW);
    await run(clock);
    clock.advanceSeconds(600);
    bridge.fail({ command: 'SCAN', effect: { status: 503 }, times: Infinity });
    const summary = await run(clock);
    expect(summary.status).toBe('partial');
    expect(summary.totals.errors).toBe(1);
    expect(summary.staleSessionKeys).toEqual([]);
    expect(summary.warnings.join('\n')).toMatch(/Could not read the session keys, so no stale session key or leaked Deployment was looked for: SCAN failed on page 1/);
    expect(await get('lab_session:ghost')).toBe('{"user":"ada"}');
  });

  it('in dry run reports what it would delete and writes nothing to the store', async () => {
    const clock = new FixedClock(NOW);
    await run(clock);
    clock.advanceSeconds(600);
    const before = (await strings('KEYS', '*')).sort();
    const sighting = await get(keySightingKey('ghost'));
    bridge.requests.length = 0;
    const summary = await run(clock, { dryRun: true });
    expect(summary.staleSessionKeys[0]).toMatchObject({ action: 'would-delete', reason: 'no-resources' });
    expect((await strings('KEYS', '*')).sort()).toEqual(before);
    expect(await get(keySightingKey('ghost'))).toBe(sighting);
    // Not a single command that can write: reads only, and the sightings' script as EVAL_RO
    const commands = new Set(bridge.requests.flatMap((r) => r.commands.map((c) => c[0]!)));
    expect([...commands].filter((c) => !['SCAN', 'MGET', 'EVAL_RO'].includes(c))).toEqual([]);
    expect(commands.has('EVAL_RO')).toBe(true);
  });
});
