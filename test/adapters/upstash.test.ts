/**
 * The session store through the real @upstash/redis client, the Upstash REST bridge and a
 * private redis-server; and whole runs that use it together with the local API server.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LOCK_KEY, PENDING_KEYS, sightingKey } from '../../src/adapters/upstash.js';
import { reconcile, sightingTtlSeconds } from '../../src/reconcile.js';
import type { RunSettings } from '../../src/reconcile.js';
import type { Clock } from '../../src/ports.js';
import { silentLogger } from '../../src/ports.js';
import type { KubeApiServer } from '../support/kube-api-server.js';
import type { RespClient } from '../support/resp-client.js';
import type { UpstashBridge } from '../support/upstash-bridge.js';
import type { LocalServers } from '../support/servers.js';
import { startLocalServers } from '../support/servers.js';
import { clusterFor, names, seedSession, settings, storeFor } from '../support/lab.js';

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
const ttl = async (key: string) => Number(await direct.call('TTL', key));

class TestClock implements Clock {
  constructor(public time: number) {}
  now(): number {
    return this.time;
  }
}

const run = (changes: Partial<RunSettings> = {}, clock?: Clock) =>
  reconcile(settings({ namespaces: ['jupyter-lab'], confirmSeconds: 0, ...changes }), {
    cluster: clusterFor(server),
    store: storeFor(bridge),
    logger: silentLogger,
    ...(clock ? { clock } : {}),
  });

describe('UpstashSessionStore', () => {
  it('deletes a session key and tells whether it was there', async () => {
    // Prepare
    const store = storeFor(bridge);
    await direct.call('SET', 'lab_session:abc', '{"user":"ada"}');

    // Act
    const first = await store.deleteSessionKey('abc');
    const second = await store.deleteSessionKey('abc');

    // Assess
    expect([first, second]).toEqual([true, false]);
    expect(await get('lab_session:abc')).toBeNull();
  });

  it('takes the lock once, with a time to live, and lets only its owner release it', async () => {
    // Prepare
    const store = storeFor(bridge);

    // Act
    const first = await store.acquireLock('owner-1', 60_000);
    const second = await store.acquireLock('owner-2', 60_000);
    await store.releaseLock('owner-2');
    const afterWrongRelease = await get(LOCK_KEY);
    await store.releaseLock('owner-1');

    // Assess
    expect([first, second]).toEqual([true, false]);
    expect(afterWrongRelease).toBe('owner-1');
    expect(await get(LOCK_KEY)).toBeNull();
  });

  it('renews the lock only for its owner', async () => {
    // Prepare
    const store = storeFor(bridge);
    await store.acquireLock('owner-1', 1_000);

    // Act
    const byOwner = await store.renewLock('owner-1', 60_000);
    const byOther = await store.renewLock('owner-2', 60_000);
    const ttlLeft = Number(await direct.call('PTTL', LOCK_KEY));
    await direct.call('DEL', LOCK_KEY);
    const afterExpiry = await store.renewLock('owner-1', 60_000);

    // Assess
    expect([byOwner, byOther, afterExpiry]).toEqual([true, false, false]);
    expect(ttlLeft).toBeGreaterThan(50_000);
    expect(await get(LOCK_KEY)).toBeNull();
  });

  it('records a first sighting once, with a TTL, reads it back later, and forgets it', async () => {
    // Prepare
    const store = storeFor(bridge);
    const key = sightingKey('jupyter-lab', 's1');

    // Act
    const first = await store.sightings('jupyter-lab', ['s1'], { now: 1_000, ttlSeconds: 600, readOnly: false });
    const later = await store.sightings('jupyter-lab', ['s1', 's2'], { now: 5_000, ttlSeconds: 600, readOnly: true });
    const ttlLeft = await ttl(key);
    await store.forgetSightings('jupyter-lab', ['s1']);

    // Assess
    expect(key).toBe('lab-reconciler:sighting:jupyter-lab:s1');
    expect(first.get('s1')).toBe(1_000);
    expect(later.get('s1')).toBe(1_000);
    expect(later.has('s2')).toBe(false);
    expect(ttlLeft).toBeGreaterThan(590);
    expect(await get(key)).toBeNull();
  });

  it('surfaces a Redis that refuses as an error', async () => {
    // Prepare
    const store = storeFor(bridge);
    bridge.fail({ command: 'DEL', effect: { status: 500, body: { error: 'ERR server is down' } }, times: Infinity });

    // Act / Assess
    await expect(store.deleteSessionKey('abc')).rejects.toThrow();
  });
});

describe('a run with a session store', () => {
  it('deletes the session key only once every Kubernetes resource of the session is gone', async () => {
    // Prepare
    seedSession(server, 'jupyter-lab', 'jupyter', 'dead');
    await direct.call('SET', 'lab_session:dead', '{}');
    const leftAtDelete: string[][] = [];
    bridge.beforeCommand = (command) => {
      if (command[0] === 'DEL' && command.includes('lab_session:dead')) {
        leftAtDelete.push([...names(server, 'Service', 'jupyter-lab'), ...names(server, 'Ingress', 'jupyter-lab'), ...names(server, 'ConfigMap', 'jupyter-lab')]);
      }
    };

    // Act
    const summary = await run();

    // Assess
    expect(summary.sessions[0]).toMatchObject({ action: 'cleaned', sessionKey: 'deleted' });
    expect(summary.totals.sessionKeysDeleted).toBe(1);
    expect(leftAtDelete).toEqual([[]]);
    expect(await get('lab_session:dead')).toBeNull();
  });

  it('spares a session first seen orphaned (unconfirmed), then cleans it once seen long enough', async () => {
    // Prepare
    seedSession(server, 'jupyter-lab', 'jupyter', 'dead');
    await direct.call('SET', 'lab_session:dead', '{}');
    const clock = new TestClock(Date.now());

    // Act: three runs, 0 s, 120 s and 241 s after the first sighting.
    const first = await run({ confirmSeconds: 240 }, clock);
    const sighting = await get(sightingKey('jupyter-lab', 'dead'));
    clock.time += 120_000;
    const second = await run({ confirmSeconds: 240 }, clock);
    clock.time += 121_000;
    const third = await run({ confirmSeconds: 240 }, clock);

    // Assess
    expect(first.sessions[0]).toMatchObject({ action: 'spared', reason: 'unconfirmed' });
    expect(Number(sighting)).toBe(clock.time - 241_000);
    expect(second.sessions[0]).toMatchObject({ action: 'spared', reason: 'unconfirmed' });
    expect(third.sessions[0]).toMatchObject({ action: 'cleaned', reason: 'no-deployment', sessionKey: 'deleted' });
    expect(names(server, 'Service', 'jupyter-lab')).toEqual([]);
    expect(await get('lab_session:dead')).toBeNull();
    // A cleaned session's sighting is forgotten.
    expect(await get(sightingKey('jupyter-lab', 'dead'))).toBeNull();
    expect(await ttl(sightingKey('jupyter-lab', 'dead'))).toBe(-2);
  });

  it('makes a session whose Deployment came back lose its sighting, so it starts over', async () => {
    // Prepare: seen orphaned once, then the lab-controller recreates the Deployment.
    seedSession(server, 'jupyter-lab', 'jupyter', 's1');
    const clock = new TestClock(Date.now());
    await run({ confirmSeconds: 240 }, clock);
    server.create('Deployment', 'jupyter-lab', 'jupyter-lab-s1');

    // Act
    clock.time += 60_000;
    await run({ confirmSeconds: 240 }, clock);

    // Assess
    expect(await get(sightingKey('jupyter-lab', 's1'))).toBeNull();
  });

  it('keeps the sighting for as long as the confirmation may take', async () => {
    // Prepare
    seedSession(server, 'jupyter-lab', 'jupyter', 'dead');

    // Act
    await run({ confirmSeconds: 240, intervalSeconds: 300 });

    // Assess
    const expected = sightingTtlSeconds({ confirmSeconds: 240, intervalSeconds: 300 });
    expect(expected).toBeGreaterThanOrEqual(240 + 3 * 300);
    expect(await ttl(sightingKey('jupyter-lab', 'dead'))).toBeGreaterThan(expected - 10);
  });

  it('keeps the session key of a session whose Service was recreated with a new uid', async () => {
    // Prepare
    seedSession(server, 'jupyter-lab', 'jupyter', 'dead');
    await direct.call('SET', 'lab_session:dead', '{}');
    server.beforeServe = (request) => {
      if (request.verb === 'delete' && request.kind === 'Ingress') server.replace('Service', 'jupyter-lab', 'jupyter-service-dead');
    };

    // Act
    const summary = await run();

    // Assess
    expect(summary.sessions[0]).toMatchObject({ action: 'failed', reason: 'conflict', sessionKey: 'pending' });
    expect(names(server, 'Service', 'jupyter-lab')).toEqual(['jupyter-service-dead']);
    expect(await get('lab_session:dead')).toBe('{}');
  });

  it('keeps the key of a session id that is alive in another namespace', async () => {
    // Prepare
    seedSession(server, 'jupyter-lab', 'jupyter', 'shared');
    seedSession(server, 'ubuntu-lab', 'ubuntu', 'shared', { deployment: true });
    await direct.call('SET', 'lab_session:shared', '{}');

    // Act
    const summary = await run({ namespaces: ['jupyter-lab', 'ubuntu-lab'] });

    // Assess
    expect(summary.sessions).toHaveLength(1);
    expect(summary.sessions[0]).toMatchObject({ namespace: 'jupyter-lab', action: 'cleaned', sessionKey: 'kept' });
    expect(await get('lab_session:shared')).toBe('{}');
  });

  it('lets only one of two concurrent runs act: the other returns locked, nothing is deleted twice', async () => {
    // Prepare
    for (let i = 0; i < 10; i++) {
      seedSession(server, 'jupyter-lab', 'jupyter', `d${i}`);
      await direct.call('SET', `lab_session:d${i}`, '{}');
    }
    server.latencyMs = 5;

    // Act
    const [a, b] = await Promise.all([run(), run()]);

    // Assess
    expect([a.status, b.status].sort()).toEqual(['locked', 'ok']);
    const winner = a.status === 'ok' ? a : b;
    expect(winner.totals).toMatchObject({ cleanedUp: 10, resourcesDeleted: 30, sessionKeysDeleted: 10 });
    const deletes = server.requests.filter((r) => r.verb === 'delete');
    expect(deletes).toHaveLength(30);
    expect(new Set(deletes.map((r) => `${r.kind}/${r.name}`)).size).toBe(30);
    expect(bridge.commands.filter((c) => c[0] === 'DEL' && c[1]?.startsWith('lab_session:'))).toHaveLength(10);
    expect(await get(LOCK_KEY)).toBeNull();
  });

  it('does nothing, and says why, when the session store refuses the lock', async () => {
    // Prepare
    seedSession(server, 'jupyter-lab', 'jupyter', 'dead');
    bridge.fail({ command: 'SET', effect: { status: 500, body: { error: 'ERR unavailable' } }, times: Infinity });

    // Act
    const summary = await run();

    // Assess
    expect(summary.status).toBe('failed');
    expect(summary.warnings.join(' ')).toMatch(/run lock/);
    expect(server.requests).toHaveLength(0);
  });

  it('reports a session key that could not be deleted, and deletes it in the next run', async () => {
    // Prepare
    seedSession(server, 'jupyter-lab', 'jupyter', 'dead');
    await direct.call('SET', 'lab_session:dead', '{}');
    bridge.fail({ command: 'DEL', effect: { status: 500, body: { error: 'ERR unavailable' } }, times: Infinity });

    // Act
    const first = await run();
    const pendingAfterFirst = await direct.call('SMEMBERS', PENDING_KEYS);
    bridge.reset();
    const second = await run();

    // Assess
    expect(first.status).toBe('partial');
    expect(first.sessions[0]).toMatchObject({ action: 'failed', reason: 'session-key-failed', sessionKey: 'failed' });
    expect(first.sessions[0]!.error).toContain('lab_session:dead');
    expect((pendingAfterFirst as Buffer[]).map(String)).toEqual(['dead']);
    expect(second).toMatchObject({ status: 'ok', sessions: [], totals: { sessionKeysDeleted: 1 } });
    expect(await get('lab_session:dead')).toBeNull();
    expect(await direct.call('SMEMBERS', PENDING_KEYS)).toEqual([]);
  });

  it('cleans nothing when the session store cannot record the keys to delete', async () => {
    // Prepare
    seedSession(server, 'jupyter-lab', 'jupyter', 'dead');
    bridge.fail({ command: 'SADD', effect: { status: 500, body: { error: 'ERR unavailable' } }, times: Infinity });

    // Act
    const summary = await run();

    // Assess
    expect(summary.status).toBe('partial');
    expect(summary.sessions[0]).toMatchObject({ action: 'failed', reason: 'store-failed' });
    expect(server.countRequests({ verb: 'delete' })).toBe(0);
  });

  it('writes nothing to the session store in a dry run, not even the lock', async () => {
    // Prepare
    seedSession(server, 'jupyter-lab', 'jupyter', 'dead');
    await direct.call('SET', 'lab_session:dead', '{}');

    // Act
    const summary = await run({ dryRun: true, confirmSeconds: 240 });

    // Assess
    const writes = bridge.commands.filter((c) => ['SET', 'DEL', 'EVAL', 'EVALSHA', 'EXPIRE', 'PEXPIRE', 'SADD', 'SREM'].includes(c[0]!));
    expect(writes).toEqual([]);
    expect(summary.sessions[0]).toMatchObject({ action: 'spared', reason: 'unconfirmed' });
    expect(await get('lab_session:dead')).toBe('{}');
  });
});
