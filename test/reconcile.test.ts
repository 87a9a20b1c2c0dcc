import { describe, expect, it } from 'vitest';
import type { RunSettings } from '../src/reconcile.js';
import { reconcile, sightingTtlSeconds } from '../src/reconcile.js';
import type { CallRecord } from './support/fakes.js';
import { FakeCluster, FakeSessionStore, FixedClock, LOCK_KEY, RecordingLogger, addSession, fakeWorld, sightingKey } from './support/fakes.js';

const NS = 'jupyter-lab';

const SETTINGS: RunSettings = {
  enabled: true,
  namespaces: ['jupyter-lab', 'ubuntu-lab'],
  dryRun: false,
  minAgeSeconds: 300,
  confirmSeconds: 240,
  maxDeletions: 50,
  concurrency: 4,
  intervalSeconds: 300,
  staleKeys: 'report',
  narrowed: false,
};

const world = fakeWorld;
type World = ReturnType<typeof world>;

function run(w: World, settings: Partial<RunSettings> = {}, options: { noStore?: boolean; deadline?: number } = {}) {
  return reconcile(
    { ...SETTINGS, ...settings },
    { cluster: w.cluster, store: options.noStore ? undefined : w.store, logger: w.logger, clock: w.clock, deadline: options.deadline },
  );
}

function orphan(w: World, sessionId: string, namespace = NS): void {
  addSession(w.cluster, { sessionId, namespace, labType: namespace.split('-')[0], now: w.clock.now() });
  w.store.seedSessions(sessionId);
}

describe('reconcile', () => {
  it('returns disabled and makes no call at all when disabled', async () => {
    // Prepare
    const w = world();
    orphan(w, 'abc');
    // Act
    const summary = await run(w, { enabled: false });
    // Assess
    expect(summary.status).toBe('disabled');
    expect(w.log).toEqual([]);
    expect(summary.sessions).toEqual([]);
  });

  it('returns locked and deletes nothing when another run holds the lock', async () => {
    // Prepare
    const w = world();
    orphan(w, 'abc');
    w.store.setKey(LOCK_KEY, 'run-other', 60_000);
    // Act
    const summary = await run(w, { confirmSeconds: 0 });
    // Assess
    expect(summary.status).toBe('locked');
    expect(w.log.map((c) => c.operation)).toEqual(['acquireLock']);
    expect(w.store.get(LOCK_KEY)).toBe('run-other');
    expect(w.cluster.has('Service', NS, 'jupyter-service-abc')).toBe(true);
  });

  it('returns failed and touches nothing when the lock cannot be taken', async () => {
    // Prepare
    const w = world();
    orphan(w, 'abc');
    w.store.fail('acquireLock', new Error('ECONNREFUSED'));
    // Act
    const summary = await run(w, { confirmSeconds: 0 });
    // Assess
    expect(summary.status).toBe('failed');
    expect(summary.totals.errors).toBe(1);
    expect(summary.warnings.join(' ')).toContain('ECONNREFUSED');
    expect(w.log.map((c) => c.operation)).toEqual(['acquireLock']);
  });

  it('takes the lock first and releases it last', async () => {
    // Prepare
    const w = world();
    orphan(w, 'abc');
    // Act
    const summary = await run(w, { confirmSeconds: 0 });
    // Assess
    expect(summary.status).toBe('ok');
    expect(w.log[0]?.operation).toBe('acquireLock');
    expect(w.log.at(-1)?.operation).toBe('releaseLock');
    expect(w.store.has(LOCK_KEY)).toBe(false);
  });

  it('cleans the other namespaces, and nothing in one that cannot be listed, with status partial', async () => {
    // Prepare
    const w = world();
    orphan(w, 'a', 'jupyter-lab');
    orphan(w, 'b', 'ubuntu-lab');
    w.cluster.fail('observe', { namespace: 'jupyter-lab' }, new Error('403 Forbidden on page 2 of Deployments'));
    // Act
    const summary = await run(w, { confirmSeconds: 0 });
    // Assess
    expect(summary.status).toBe('partial');
    expect(w.cluster.deletes().map((c) => c.subject)).toEqual([
      'Ingress/ubuntu-lab/ubuntu-ingress-b',
      'Service/ubuntu-lab/ubuntu-service-b',
      'ConfigMap/ubuntu-lab/ubuntu-config-b',
    ]);
    expect(w.cluster.has('Service', 'jupyter-lab', 'jupyter-service-a')).toBe(true);
    expect(w.store.has('lab_session:a')).toBe(true);
    // b's id could be alive in the namespace that was not listed: its key waits for a full run.
    expect(w.store.has('lab_session:b')).toBe(true);
    expect(summary.sessions.find((s) => s.sessionId === 'b')).toMatchObject({ action: 'cleaned', sessionKey: 'pending' });
    expect(summary.namespaces.find((n) => n.namespace === 'jupyter-lab')).toMatchObject({ errors: 1 });
    expect(summary.namespaces.find((n) => n.namespace === 'jupyter-lab')?.error).toContain('403 Forbidden');
  });

  it('returns failed when no namespace can be listed', async () => {
    // Prepare
    const w = world();
    orphan(w, 'a', 'jupyter-lab');
    w.cluster.fail('observe', {}, new Error('connect ETIMEDOUT'));
    // Act
    const summary = await run(w, { confirmSeconds: 0 });
    // Assess
    expect(summary.status).toBe('failed');
    expect(summary.totals).toMatchObject({ namespacesChecked: 0, errors: 2 });
    expect(w.cluster.deletes()).toEqual([]);
    expect(w.store.has(LOCK_KEY)).toBe(false);
  });

  it('without a session store says so in the warnings and cleans on the first sighting', async () => {
    // Prepare
    const w = world();
    orphan(w, 'abc');
    // Act
    const summary = await run(w, { confirmSeconds: 240 }, { noStore: true });
    // Assess
    expect(summary.status).toBe('ok');
    expect(summary.warnings.some((m) => m.includes('No session store') && m.includes('RECONCILIATION_CONFIRM_SECONDS acted as 0'))).toBe(true);
    expect(summary.sessions.map((s) => [s.sessionId, s.action, s.sessionKey])).toEqual([['abc', 'cleaned', 'no-store']]);
    expect(w.log.filter((c) => c.port === 'store')).toEqual([]);
  });

  it('spares a new orphan as unconfirmed, then cleans it on a run confirmSeconds later', async () => {
    // Prepare
    const w = world();
    orphan(w, 'abc');
    const firstAt = w.clock.now();
    // Act: the first run
    const first = await run(w);
    // Assess: seen, recorded, not cleaned
    expect(first.sessions.map((s) => [s.action, s.reason])).toEqual([['spared', 'unconfirmed']]);
    expect(w.store.get(sightingKey(NS, 'abc'))).toBe(String(firstAt));
    expect(w.store.ttlMs(sightingKey(NS, 'abc'))).toBe(sightingTtlSeconds(SETTINGS) * 1000);
    expect(w.cluster.deletes()).toEqual([]);

    // Act: a run too early, then one confirmSeconds after the first sighting
    w.clock.advanceSeconds(239);
    const early = await run(w);
    w.clock.advanceSeconds(1);
    const due = await run(w);
    // Assess
    expect(early.sessions.map((s) => s.reason)).toEqual(['unconfirmed']);
    expect(due.sessions.map((s) => [s.action, s.sessionKey])).toEqual([['cleaned', 'deleted']]);
    expect(w.store.get(sightingKey(NS, 'abc'))).toBe(undefined);
    expect(w.store.has('lab_session:abc')).toBe(false);
  });

  it('keeps the sighting of an id while another lab type of it is still orphaned in the namespace', async () => {
    // Prepare: two lab types of one id, seen orphaned; one of them too young to clean yet
    const w = world();
    orphan(w, 'abc');
    addSession(w.cluster, { sessionId: 'abc', labType: 'pg16', kinds: ['ConfigMap'], ageSeconds: 0, now: w.clock.now() + 240_000 });
    const firstAt = w.clock.now();
    await run(w);
    w.clock.advanceSeconds(240);
    // Act
    const due = await run(w);
    // Assess: one cleaned, the other spared, and the sighting they share stays
    expect(due.sessions.map((s) => [s.labType, s.action, s.reason])).toEqual([['jupyter', 'cleaned', 'no-deployment'], ['pg16', 'spared', 'too-young']]);
    expect(w.store.get(sightingKey(NS, 'abc'))).toBe(String(firstAt));
  });

  it('forgets the sighting of a session that is alive again, so that it must be confirmed anew', async () => {
    // Prepare: seen orphaned once, then the lab-controller recreates its Deployment
    const w = world();
    orphan(w, 'abc');
    await run(w);
    expect(w.store.has(sightingKey(NS, 'abc'))).toBe(true);
    w.cluster.add({ kind: 'Deployment', namespace: NS, name: 'jupyter-lab-abc', createdAt: w.clock.now() });
    w.clock.advanceSeconds(300);
    // Act
    const alive = await run(w);
    // Assess
    expect(alive.sessions).toEqual([]);
    expect(w.store.has(sightingKey(NS, 'abc'))).toBe(false);

    // Act: the Deployment goes again; a run long after the first sighting must not clean yet
    w.cluster.remove('Deployment', NS, 'jupyter-lab-abc');
    w.clock.advanceSeconds(300);
    const again = await run(w);
    // Assess
    expect(again.sessions.map((s) => s.reason)).toEqual(['unconfirmed']);
    expect(w.cluster.has('Service', NS, 'jupyter-service-abc')).toBe(true);
  });

  it('in dry run writes nothing to the session store: no lock, no sighting', async () => {
    // Prepare
    const w = world();
    orphan(w, 'abc');
    const before = w.store.snapshot();
    // Act
    const summary = await run(w, { dryRun: true });
    // Assess
    expect(summary.dryRun).toBe(true);
    expect(w.store.snapshot()).toEqual(before);
    // Only reads: the keys' scan, and the sightings read without recording.
    const storeCalls = w.log.filter((c) => c.port === 'store');
    expect(storeCalls.map((c) => c.operation).sort()).toEqual(['scanSessionKeys', 'sightings']);
    expect(storeCalls.find((c) => c.operation === 'sightings')?.readOnly).toBe(true);
    expect(w.cluster.has('Service', NS, 'jupyter-service-abc')).toBe(true);
  });

  it('in dry run still uses sightings recorded by earlier real runs', async () => {
    // Prepare: a real run records the sighting
    const w = world();
    orphan(w, 'abc');
    await run(w);
    w.clock.advanceSeconds(300);
    // Act
    const summary = await run(w, { dryRun: true });
    // Assess
    expect(summary.sessions.map((s) => s.action)).toEqual(['would-clean']);
    expect(w.cluster.deletes({ dryRun: false })).toEqual([]);
    expect(w.cluster.deletes({ dryRun: true })).toHaveLength(3);
  });

  it('spares every orphan, with status partial, when sightings cannot be read', async () => {
    // Prepare
    const w = world();
    orphan(w, 'abc');
    w.store.fail('sightings', new Error('Upstash 503'));
    // Act
    const summary = await run(w);
    // Assess
    expect(summary.status).toBe('partial');
    expect(summary.sessions.map((s) => s.reason)).toEqual(['unconfirmed']);
    expect(summary.warnings.join(' ')).toContain('Upstash 503');
    expect(w.cluster.deletes()).toEqual([]);
  });

  it('with confirmSeconds 0 and a store neither reads nor records sightings', async () => {
    const w = world();
    orphan(w, 'abc');
    const summary = await run(w, { confirmSeconds: 0 });
    expect(summary.sessions.map((s) => s.action)).toEqual(['cleaned']);
    expect(w.store.callsOf('sightings')).toEqual([]);
    expect(w.store.callsOf('forgetSightings')).toEqual([]);
  });

  it('opens the circuit breaker: aborted, nothing deleted, a warning', async () => {
    // Prepare: three sessions to clean over two namespaces, a cap of 2
    const w = world();
    orphan(w, 'a', 'jupyter-lab');
    orphan(w, 'b', 'jupyter-lab');
    orphan(w, 'c', 'ubuntu-lab');
    // Act
    const summary = await run(w, { confirmSeconds: 0, maxDeletions: 2 });
    // Assess
    expect(summary.status).toBe('aborted');
    expect(summary.sessions.map((s) => s.reason)).toEqual(['cap-exceeded', 'cap-exceeded', 'cap-exceeded']);
    expect(w.cluster.deletes()).toEqual([]);
    expect(w.store.callsOf('deleteSessionKey')).toEqual([]);
    expect(summary.warnings.join(' ')).toContain('RECONCILIATION_MAX_DELETIONS (2)');
  });

  it('starts no session after the deadline and reports them as failed', async () => {
    // Prepare: the deadline is already past
    const w = world();
    orphan(w, 'abc');
    // Act
    const summary = await run(w, { confirmSeconds: 0 }, { deadline: w.clock.now() });
    // Assess
    expect(summary.status).toBe('partial');
    expect(summary.sessions.map((s) => [s.action, s.reason])).toEqual([['failed', 'deadline']]);
    expect(w.cluster.deletes()).toEqual([]);
  });

  it('keeps the session key when the namespace where the session id may be alive could not be listed', async () => {
    // Prepare: s1 is orphaned in jupyter-lab and alive in ubuntu-lab, whose listing fails
    const w = world();
    orphan(w, 's1', 'jupyter-lab');
    addSession(w.cluster, { sessionId: 's1', namespace: 'ubuntu-lab', labType: 'ubuntu', deployment: true, now: w.clock.now() });
    w.cluster.fail('observe', { namespace: 'ubuntu-lab' }, new Error('500 on page 3 of Deployments'));
    // Act
    const summary = await run(w, { confirmSeconds: 0 });
    // Assess: the incomplete list of ubuntu-lab must not look like a missing Deployment
    expect(summary.status).toBe('partial');
    expect(w.store.has('lab_session:s1')).toBe(true);
  });

  it('comes back for a session key whose delete failed after its resources were deleted', async () => {
    // Prepare: the first run deletes the resources, but the key delete fails once
    const w = world();
    orphan(w, 'abc');
    w.store.fail('deleteSessionKey', new Error('Upstash 503'), 1);
    const first = await run(w, { confirmSeconds: 0 });
    expect(first.sessions.map((s) => s.reason)).toEqual(['session-key-failed']);
    w.clock.advanceSeconds(300);
    // Act
    await run(w, { confirmSeconds: 0 });
    // Assess: nothing of the session is left in the cluster, yet its key outlives every later run
    expect(w.store.has('lab_session:abc')).toBe(false);
  });

  it('reports a lock that could not be released as an error of the run', async () => {
    const w = world();
    orphan(w, 'abc');
    w.store.fail('releaseLock', new Error('timeout'));
    const summary = await run(w, { confirmSeconds: 0 });
    expect(summary.status).toBe('partial');
    expect(summary.totals.errors).toBe(1);
    expect(summary.sessions[0]).toMatchObject({ action: 'cleaned' });
    expect(summary.warnings.join(' ')).toContain('Failed to release the run lock');
    expect(w.logger.messages('error').join(' ')).toContain('Failed to release the run lock');
  });

  it('stops starting sessions and deleting keys once its lock can no longer be renewed', async () => {
    // Prepare: a slow cluster (20 ms a call) and a lock of 30 ms, renewed every 10 ms; the
    // store refuses renewals, so the run loses its lock a few calls in.
    const clock = new FixedClock();
    const log: CallRecord[] = [];
    const cluster = new FakeCluster({ log, latencyMs: 20 });
    const store = new FakeSessionStore({ clock, log });
    const logger = new RecordingLogger();
    for (let i = 0; i < 6; i++) {
      addSession(cluster, { sessionId: `s${i}`, namespace: NS, labType: 'jupyter', now: clock.now() });
      store.seedSessions(`s${i}`);
    }
    store.fail('renewLock', new Error('store unavailable'));

    // Act
    const summary = await reconcile({ ...SETTINGS, confirmSeconds: 0, concurrency: 1 }, { cluster, store, logger, clock, lockTtlMs: 30 });

    // Assess
    expect(summary.status).toBe('partial');
    expect(summary.warnings.join(' ')).toMatch(/Stopped acting: the run lock could not be renewed/);
    const lost = summary.sessions.filter((s) => s.reason === 'lock-lost');
    expect(lost.length).toBeGreaterThan(0);
    expect(summary.sessions.filter((s) => s.sessionKey === 'deleted')).toHaveLength(0);
    for (const s of lost) expect(store.has(`lab_session:${s.sessionId}`)).toBe(true);
  });
});
