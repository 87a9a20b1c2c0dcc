/**
 * Whole runs in both directions over the in-memory fakes: the cap shared by sessions and stale
 * keys, a key's sighting forgotten when its session has resources again, and the unhappy
 * paths of the key side (sightings that cannot be read, deletes that fail, the lock lost, the
 * deadline). The same paths over the real client and redis-server: test/adapters/upstash-keys.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { RunSettings } from '../src/reconcile.js';
import { reconcile } from '../src/reconcile.js';
import { addSession, fakeWorld, keySightingKey } from './support/fakes.js';

const NS = 'jupyter-lab';
const SETTINGS: RunSettings = {
  enabled: true,
  namespaces: [NS],
  dryRun: false,
  minAgeSeconds: 300,
  confirmSeconds: 0,
  maxDeletions: 50,
  concurrency: 2,
  intervalSeconds: 300,
  staleKeys: 'delete',
  narrowed: false,
};

function world() {
  const fakes = fakeWorld();
  const { clock, cluster, store, logger } = fakes;
  // A live session, so that the namespace lists something (an empty one holds every delete back)
  addSession(cluster, { sessionId: 'anchor', deployment: true, now: clock.now() });
  store.seedSessions('anchor');
  const run = (changes: Partial<RunSettings> = {}, deadline?: number) =>
    reconcile({ ...SETTINGS, ...changes }, { cluster, store, logger, clock, ...(deadline !== undefined ? { deadline } : {}) });
  return { ...fakes, run };
}

/** Stale keys seen by a first run, old enough to be deleted by the next. */
async function confirmedStale(w: ReturnType<typeof world>, ...ids: string[]) {
  w.store.seedSessions(...ids);
  await w.run();
  w.clock.advanceSeconds(600);
}

describe('reconcile in both directions', () => {
  it('counts sessions to clean and stale keys to delete against one cap: over it, it deletes neither and says so', async () => {
    // Prepare: 2 orphaned sessions to clean and 2 confirmed stale keys, cap 3
    const w = world();
    await confirmedStale(w, 'k1', 'k2');
    for (const id of ['s1', 's2']) addSession(w.cluster, { sessionId: id, now: w.clock.now() });
    w.store.seedSessions('s1', 's2');
    // Act
    const summary = await w.run({ maxDeletions: 3 });
    // Assess
    expect(summary.status).toBe('aborted');
    expect(summary.sessions.map((s) => s.reason)).toEqual(['cap-exceeded', 'cap-exceeded']);
    expect(summary.staleSessionKeys.map((k) => [k.action, k.reason])).toEqual([['spared', 'cap-exceeded'], ['spared', 'cap-exceeded']]);
    expect(summary.warnings).toContain('Found 2 sessions to clean and 2 stale session keys to delete, more than RECONCILIATION_MAX_DELETIONS (3): deleted none of them (circuit breaker open)');
    expect(w.store.has('lab_session:k1') && w.store.has('lab_session:s1')).toBe(true);
    expect(w.cluster.deletes()).toEqual([]);
  });

  it('forgets the sighting of a key whose session has resources again, so that confirmation starts over', async () => {
    // Prepare: seen stale, then its session comes back
    const w = world();
    await confirmedStale(w, 'back');
    addSession(w.cluster, { sessionId: 'back', deployment: true, kinds: [], now: w.clock.now() });
    // Act: one run sees it alive, then the session goes again and two runs follow
    const alive = await w.run();
    w.cluster.remove('Deployment', NS, 'jupyter-lab-back');
    const again = await w.run();
    w.clock.advanceSeconds(600);
    const later = await w.run();
    // Assess
    expect(alive.staleSessionKeys).toEqual([]);
    expect(again.staleSessionKeys[0]).toMatchObject({ action: 'spared', reason: 'unconfirmed', firstSeenAt: new Date(w.clock.now() - 600_000).toISOString() });
    expect(later.staleSessionKeys[0]).toMatchObject({ action: 'deleted' });
  });

  it('confirms no key when the sightings cannot be read, and counts it as an error', async () => {
    const w = world();
    await confirmedStale(w, 'k1');
    w.store.fail('keySightings', new Error('ECONNRESET'));
    const summary = await w.run();
    expect(summary.status).toBe('partial');
    expect(summary.staleSessionKeys[0]).toMatchObject({ action: 'spared', reason: 'unconfirmed' });
    expect(summary.warnings.join('\n')).toMatch(/Could not read or record the stale session keys' sightings; no stale key was confirmed: ECONNRESET/);
    expect(w.store.has('lab_session:k1')).toBe(true);
  });

  it('reports a key whose delete failed as failed, counts the error, and deletes it in a later run', async () => {
    const w = world();
    await confirmedStale(w, 'k1', 'k2');
    w.store.fail('deleteStaleKey', new Error('HTTP 500'), 1);
    const summary = await w.run();
    expect(summary.status).toBe('partial');
    expect(summary.totals).toMatchObject({ staleSessionKeys: 2, staleSessionKeysDeleted: 1, errors: 1 });
    expect(summary.staleSessionKeys.find((k) => k.action === 'failed')).toMatchObject({ reason: 'delete-failed', error: 'HTTP 500' });
    const next = await w.run();
    expect(next.staleSessionKeys.map((k) => k.action)).toEqual(['deleted']);
    expect(w.store.has('lab_session:k1') || w.store.has('lab_session:k2')).toBe(false);
  });

  it('starts no key delete past the deadline, and reports why', async () => {
    const w = world();
    await confirmedStale(w, 'k1');
    const summary = await w.run({}, w.clock.now() - 1);
    expect(summary.staleSessionKeys[0]).toMatchObject({ action: 'failed', reason: 'delete-failed', error: 'not started: too little time was left before the deadline' });
    expect(w.store.has('lab_session:k1')).toBe(true);
  });

  it('deletes no key once the lock is lost', async () => {
    // Prepare: the lock is taken by another run before the renewal (ttl 30 ms: renewed every 10)
    const w = world();
    await confirmedStale(w, 'k1');
    w.store.fail('renewLock', new Error('ETIMEDOUT'));
    const slow = new Promise<void>((resolve) => setTimeout(resolve, 60));
    const observe = w.cluster.observe.bind(w.cluster);
    w.cluster.observe = async (namespace, sink) => {
      await slow;
      return observe(namespace, sink);
    };
    // Act
    const summary = await reconcile(SETTINGS, { cluster: w.cluster, store: w.store, logger: w.logger, clock: w.clock, lockTtlMs: 30 });
    // Assess
    expect(summary.staleSessionKeys[0]).toMatchObject({ action: 'failed', reason: 'delete-failed', error: 'not started: the run lost its lock' });
    expect(w.store.has('lab_session:k1')).toBe(true);
    expect(w.store.callsOf('deleteStaleKey')).toEqual([]);
  });

  it('deletes no stale key while an allowlisted namespace lists nothing at all (perhaps a typo), and says so', async () => {
    // Prepare: a confirmed stale key; the run also lists a namespace with no object in it
    const w = world();
    await confirmedStale(w, 'k1');
    // Act
    const summary = await w.run({ namespaces: [NS, 'jupyterlab'] });
    // Assess
    expect(summary.staleSessionKeys).toMatchObject([{ key: 'lab_session:k1', action: 'spared', reason: 'unconfirmed' }]);
    expect(summary.warnings).toContainEqual(expect.stringMatching(/^Deleted no stale session key: jupyterlab listed no object at all; a namespace that does not exist lists as empty/));
    expect(w.store.has('lab_session:k1')).toBe(true);
    expect(w.store.callsOf('deleteStaleKey')).toEqual([]);
    // Once the allowlist is right again, the key goes
    expect((await w.run()).staleSessionKeys).toMatchObject([{ action: 'deleted' }]);
  });

  it('forgets no key sighting in a run that could not judge the keys', async () => {
    const w = world();
    await confirmedStale(w, 'k1');
    w.store.fail('scanSessionKeys', new Error('HTTP 503'));
    const summary = await w.run();
    expect(summary.totals.errors).toBe(1);
    expect(w.store.callsOf('forgetKeySightingsExcept')).toHaveLength(1); // the first run's only
    expect(w.store.has(keySightingKey('k1'))).toBe(true);
  });
});
