import { describe, expect, it } from 'vitest';
import type { SessionOutcome } from '../../src/core/apply.js';
import { applyPlan } from '../../src/core/apply.js';
import type { Plan, PlanSettings } from '../../src/core/plan.js';
import { decide } from '../../src/core/plan.js';
import { observeNamespace } from '../../src/observe.js';
import type { CallRecord } from '../support/fakes.js';
import { FakeCluster, FakeSessionStore, FixedClock, RecordingLogger, addSession } from '../support/fakes.js';

const NS = 'jupyter-lab';
const SETTINGS: PlanSettings = { minAgeSeconds: 300, confirmSeconds: 0, maxDeletions: 50 };

interface World {
  clock: FixedClock;
  log: CallRecord[];
  cluster: FakeCluster;
  store: FakeSessionStore;
  logger: RecordingLogger;
}

function world(options: { latencyMs?: number } = {}): World {
  const clock = new FixedClock();
  const log: CallRecord[] = [];
  return {
    clock,
    log,
    cluster: new FakeCluster({ log, latencyMs: options.latencyMs ?? 0 }),
    store: new FakeSessionStore({ clock, log }),
    logger: new RecordingLogger(),
  };
}

/** Orphaned sessions `ids` in the namespace, each with its session key. */
function orphans(w: World, ids: string[], namespace = NS): void {
  for (const id of ids) addSession(w.cluster, { sessionId: id, namespace, now: w.clock.now() });
  w.store.seedSessions(...ids);
}

/** The plan the core would make now for these namespaces; the listing calls are then forgotten. */
async function planNow(w: World, namespaces: string[] = [NS]): Promise<Plan> {
  const findings = await Promise.all(namespaces.map(async (ns) => observeNamespace(w.cluster, ns)));
  w.log.length = 0;
  return decide({ findings, sightings: undefined, settings: SETTINGS, now: w.clock.now() });
}

function apply(w: World, plan: Plan, options: { dryRun?: boolean; concurrency?: number; shouldStart?: () => boolean; noStore?: boolean; keysMayBeDeleted?: boolean } = {}) {
  return applyPlan(plan, {
    keysMayBeDeleted: options.keysMayBeDeleted ?? true,
    cluster: w.cluster,
    store: options.noStore ? undefined : w.store,
    dryRun: options.dryRun ?? false,
    concurrency: options.concurrency ?? 4,
    logger: w.logger,
    shouldStart: options.shouldStart,
  });
}

function brief(outcomes: SessionOutcome[]) {
  return outcomes.map((o) => ({ id: o.decision.orphan.sessionId, action: o.action, reason: o.reason, sessionKey: o.sessionKey }));
}

describe('applyPlan', () => {
  it('deletes Ingress, Service and ConfigMap, each with the uid it was listed with, then the session key', async () => {
    // Prepare
    const w = world();
    const added = addSession(w.cluster, { sessionId: 'abc', now: w.clock.now() });
    w.store.seedSessions('abc');
    const plan = await planNow(w);
    // Act
    const outcomes = await apply(w, plan);
    // Assess
    expect(w.log.map((c) => [c.operation, c.subject, c.uid, c.dryRun, c.result])).toEqual([
      ['markPendingKeys', '[abc]', undefined, undefined, 'undefined'],
      ['deploymentExists', 'Deployment/jupyter-lab/jupyter-lab-abc', undefined, undefined, 'false'],
      ['delete', 'Ingress/jupyter-lab/jupyter-ingress-abc', added.Ingress!.uid, false, 'deleted'],
      ['delete', 'Service/jupyter-lab/jupyter-service-abc', added.Service!.uid, false, 'deleted'],
      ['delete', 'ConfigMap/jupyter-lab/jupyter-config-abc', added.ConfigMap!.uid, false, 'deleted'],
      ['deleteSessionKey', 'lab_session:abc', undefined, undefined, 'true'],
      ['unmarkPendingKeys', '[abc]', undefined, undefined, 'undefined'],
    ]);
    expect(brief(outcomes)).toEqual([{ id: 'abc', action: 'cleaned', reason: 'no-deployment', sessionKey: 'deleted' }]);
    expect(outcomes[0]!.deleted).toEqual(['Ingress/jupyter-ingress-abc', 'Service/jupyter-service-abc', 'ConfigMap/jupyter-config-abc']);
    expect(w.cluster.snapshot().objects).toEqual([]);
    expect(w.store.has('lab_session:abc')).toBe(false);
  });

  it('counts a resource already gone (404) as gone and still deletes the session key', async () => {
    // Prepare: somebody deletes the Service between the list and the delete
    const w = world();
    orphans(w, ['abc']);
    const plan = await planNow(w);
    w.cluster.remove('Service', NS, 'jupyter-service-abc');
    // Act
    const outcomes = await apply(w, plan);
    // Assess
    expect(brief(outcomes)).toEqual([{ id: 'abc', action: 'cleaned', reason: 'no-deployment', sessionKey: 'deleted' }]);
    expect(outcomes[0]!.gone).toEqual(['Service/jupyter-service-abc']);
    expect(outcomes[0]!.deleted).toEqual(['Ingress/jupyter-ingress-abc', 'ConfigMap/jupyter-config-abc']);
    expect(w.store.has('lab_session:abc')).toBe(false);
  });

  it('leaves a resource recreated under the same name alone (409), keeps the key, and still deletes the others', async () => {
    // Prepare: the Service is recreated with a new uid after the list
    const w = world();
    orphans(w, ['abc']);
    const plan = await planNow(w);
    const listedUid = plan.decisions[0]!.orphan.resources.find((r) => r.kind === 'Service')!.uid;
    const recreated = w.cluster.add({ kind: 'Service', namespace: NS, name: 'jupyter-service-abc', createdAt: w.clock.now() });
    // Act
    const outcomes = await apply(w, plan);
    // Assess
    expect(brief(outcomes)).toEqual([{ id: 'abc', action: 'failed', reason: 'conflict', sessionKey: 'pending' }]);
    expect(w.cluster.deletes().map((c) => [c.subject, c.result])).toEqual([
      ['Ingress/jupyter-lab/jupyter-ingress-abc', 'deleted'],
      ['Service/jupyter-lab/jupyter-service-abc', 'conflict'],
      ['ConfigMap/jupyter-lab/jupyter-config-abc', 'deleted'],
    ]);
    expect(w.cluster.deletes()[1]!.uid).toBe(listedUid);
    expect(w.cluster.get('Service', NS, 'jupyter-service-abc')?.uid).toBe(recreated.uid);
    expect(w.store.has('lab_session:abc')).toBe(true);
    expect(w.store.callsOf('deleteSessionKey')).toEqual([]);
    expect(outcomes[0]!.error).toContain('Service/jupyter-service-abc');
  });

  it('reports a delete error as a failed session, keeps its key, and still cleans the other sessions', async () => {
    // Prepare
    const w = world();
    orphans(w, ['a', 'b']);
    w.cluster.fail('delete', { kind: 'Ingress', name: 'jupyter-ingress-a' }, new Error('503 Service Unavailable'));
    const plan = await planNow(w);
    // Act
    const outcomes = await apply(w, plan);
    // Assess
    expect(brief(outcomes)).toEqual([
      { id: 'a', action: 'failed', reason: 'delete-failed', sessionKey: 'pending' },
      { id: 'b', action: 'cleaned', reason: 'no-deployment', sessionKey: 'deleted' },
    ]);
    expect(outcomes[0]!.error).toContain('503 Service Unavailable');
    // The rest of session a was still deleted: best effort within a session too
    expect(outcomes[0]!.deleted).toEqual(['Service/jupyter-service-a', 'ConfigMap/jupyter-config-a']);
    expect(w.cluster.has('Ingress', NS, 'jupyter-ingress-a')).toBe(true);
    expect(w.store.has('lab_session:a')).toBe(true);
    expect(w.store.has('lab_session:b')).toBe(false);
    expect(w.logger.messages('error')).toContain('Failed to delete Ingress jupyter-lab/jupyter-ingress-a: 503 Service Unavailable');
  });

  it('deletes each session key only after every resource of its session is gone', async () => {
    // Prepare: several sessions worked on at once, with latency so that calls interleave
    const w = world({ latencyMs: 2 });
    orphans(w, ['a', 'b', 'c', 'd']);
    const plan = await planNow(w);
    // Act
    await apply(w, plan, { concurrency: 4 });
    // Assess
    for (const id of ['a', 'b', 'c', 'd']) {
      const keyAt = w.log.findIndex((c) => c.operation === 'deleteSessionKey' && c.subject === `lab_session:${id}`);
      const deletesAt = w.log.flatMap((c, i) => (c.operation === 'delete' && c.subject.endsWith(`-${id}`) ? [i] : []));
      expect(deletesAt).toHaveLength(3);
      expect(keyAt).toBeGreaterThan(Math.max(...deletesAt));
    }
  });

  it('in dry run sends every delete with dryRun, changes nothing and never touches the session keys', async () => {
    // Prepare
    const w = world();
    orphans(w, ['a', 'b']);
    const plan = await planNow(w);
    const clusterBefore = w.cluster.snapshot();
    const storeBefore = w.store.snapshot();
    // Act
    const outcomes = await apply(w, plan, { dryRun: true });
    // Assess
    expect(w.cluster.deletes()).toHaveLength(6);
    expect(w.cluster.deletes().every((c) => c.dryRun === true)).toBe(true);
    expect(w.log.filter((c) => c.port === 'store')).toEqual([]);
    expect(w.cluster.snapshot()).toEqual(clusterBefore);
    expect(w.store.snapshot()).toEqual(storeBefore);
    expect(brief(outcomes)).toEqual([
      { id: 'a', action: 'would-clean', reason: 'no-deployment', sessionKey: 'kept' },
      { id: 'b', action: 'would-clean', reason: 'no-deployment', sessionKey: 'kept' },
    ]);
    expect(w.logger.messages('info')).toContain('Would delete Service jupyter-lab/jupyter-service-a (dry run accepted)');
  });

  it.each([1, 3])('keeps at most %i Kubernetes requests in flight at once', async (concurrency) => {
    // Prepare: a slow cluster and many sessions
    const w = world({ latencyMs: 5 });
    orphans(w, Array.from({ length: 10 }, (_, i) => `s${i}`));
    const plan = await planNow(w);
    w.cluster.peakInFlight = 0;
    // Act
    const outcomes = await apply(w, plan, { concurrency });
    // Assess: the bound holds and is used
    expect(w.cluster.peakInFlight).toBe(concurrency);
    expect(outcomes.every((o) => o.action === 'cleaned')).toBe(true);
  });

  it('spares a session whose Deployment reappeared since the list, and deletes nothing of it', async () => {
    // Prepare: the lab-controller recreates the Deployment after the list
    const w = world();
    orphans(w, ['abc']);
    const plan = await planNow(w);
    w.cluster.add({ kind: 'Deployment', namespace: NS, name: 'jupyter-lab-abc', createdAt: w.clock.now() });
    // Act
    const outcomes = await apply(w, plan);
    // Assess
    expect(brief(outcomes)).toEqual([{ id: 'abc', action: 'spared', reason: 'deployment-reappeared', sessionKey: 'kept' }]);
    expect(w.cluster.deletes()).toEqual([]);
    expect(w.store.callsOf('deleteSessionKey')).toEqual([]);
    expect(w.cluster.has('Service', NS, 'jupyter-service-abc')).toBe(true);
  });

  it('leaves a session alone when its Deployment cannot be read before the delete', async () => {
    // Prepare
    const w = world();
    orphans(w, ['abc']);
    w.cluster.fail('deploymentExists', { name: 'jupyter-lab-abc' }, new Error('connection reset'));
    const plan = await planNow(w);
    // Act
    const outcomes = await apply(w, plan);
    // Assess
    expect(brief(outcomes)).toEqual([{ id: 'abc', action: 'failed', reason: 'check-failed', sessionKey: 'pending' }]);
    expect(outcomes[0]!.error).toContain('connection reset');
    expect(w.cluster.deletes()).toEqual([]);
  });

  it('starts nothing when shouldStart refuses, and reports every session to clean as failed with reason deadline', async () => {
    // Prepare
    const w = world();
    orphans(w, ['a', 'b']);
    const plan = await planNow(w);
    // Act
    const outcomes = await apply(w, plan, { shouldStart: () => false });
    // Assess
    expect(brief(outcomes)).toEqual([
      { id: 'a', action: 'failed', reason: 'deadline', sessionKey: undefined },
      { id: 'b', action: 'failed', reason: 'deadline', sessionKey: undefined },
    ]);
    // The keys were remembered as pending before anything started; nothing else happened.
    expect(w.log.map((c) => c.operation)).toEqual(['markPendingKeys']);
    expect(w.cluster.snapshot().objects).toHaveLength(6);
  });

  it('stops starting sessions once shouldStart refuses, finishing those already started', async () => {
    // Prepare: time runs out after the first session is started
    const w = world();
    orphans(w, ['a', 'b', 'c']);
    const plan = await planNow(w);
    let allowed = 1;
    // Act
    const outcomes = await apply(w, plan, { concurrency: 1, shouldStart: () => allowed-- > 0 });
    // Assess
    expect(brief(outcomes).map((o) => [o.id, o.action, o.reason])).toEqual([
      ['a', 'cleaned', 'no-deployment'],
      ['b', 'failed', 'deadline'],
      ['c', 'failed', 'deadline'],
    ]);
  });

  it('makes no call for a spared session and reports it with its reason', async () => {
    // Prepare: a session too young to clean
    const w = world();
    addSession(w.cluster, { sessionId: 'young', now: w.clock.now(), ageSeconds: 10 });
    const plan = await planNow(w);
    // Act
    const outcomes = await apply(w, plan);
    // Assess
    expect(brief(outcomes)).toEqual([{ id: 'young', action: 'spared', reason: 'too-young', sessionKey: undefined }]);
    expect(w.log).toEqual([]);
  });

  it('keeps the session key of a session id that is alive elsewhere, after deleting its resources', async () => {
    // Prepare: `shared` is orphaned in jupyter-lab and alive in ubuntu-lab
    const w = world();
    orphans(w, ['shared']);
    addSession(w.cluster, { sessionId: 'shared', namespace: 'ubuntu-lab', labType: 'ubuntu', deployment: true, now: w.clock.now() });
    const plan = await planNow(w, [NS, 'ubuntu-lab']);
    // Act
    const outcomes = await apply(w, plan);
    // Assess
    expect(brief(outcomes)).toEqual([{ id: 'shared', action: 'cleaned', reason: 'no-deployment', sessionKey: 'kept' }]);
    expect(w.store.callsOf('deleteSessionKey')).toEqual([]);
    expect(w.store.has('lab_session:shared')).toBe(true);
  });

  it('reports a session key that was already gone as absent', async () => {
    // Prepare: no key seeded
    const w = world();
    addSession(w.cluster, { sessionId: 'nokey', now: w.clock.now() });
    const plan = await planNow(w);
    // Act
    const outcomes = await apply(w, plan);
    // Assess
    expect(brief(outcomes)).toEqual([{ id: 'nokey', action: 'cleaned', reason: 'no-deployment', sessionKey: 'absent' }]);
  });

  it('reports a session whose key cannot be deleted as failed, after its resources were deleted', async () => {
    // Prepare
    const w = world();
    orphans(w, ['abc']);
    w.store.fail('deleteSessionKey', new Error('Upstash 500'));
    const plan = await planNow(w);
    // Act
    const outcomes = await apply(w, plan);
    // Assess
    expect(brief(outcomes)).toEqual([{ id: 'abc', action: 'failed', reason: 'session-key-failed', sessionKey: 'failed' }]);
    expect(outcomes[0]!.deleted).toHaveLength(3);
    expect(outcomes[0]!.error).toContain('Upstash 500');
  });

  it('without a session store cleans the resources and reports the key as no-store', async () => {
    const w = world();
    orphans(w, ['abc']);
    const plan = await planNow(w);
    const outcomes = await apply(w, plan, { noStore: true });
    expect(brief(outcomes)).toEqual([{ id: 'abc', action: 'cleaned', reason: 'no-deployment', sessionKey: 'no-store' }]);
    expect(w.log.filter((c) => c.port === 'store')).toEqual([]);
  });

  it('returns one outcome per decision, in the order of the plan', async () => {
    // Prepare: spared and cleaned sessions interleaved, worked on concurrently with latency
    const w = world({ latencyMs: 1 });
    orphans(w, ['a', 'c', 'e']);
    addSession(w.cluster, { sessionId: 'b', now: w.clock.now(), ageSeconds: 1 });
    addSession(w.cluster, { sessionId: 'd', now: w.clock.now(), keep: ['Service'] });
    const plan = await planNow(w);
    // Act
    const outcomes = await apply(w, plan, { concurrency: 3 });
    // Assess
    expect(outcomes.map((o) => o.decision)).toEqual(plan.decisions);
    expect(brief(outcomes).map((o) => `${o.id}:${o.action}`)).toEqual(['a:cleaned', 'b:spared', 'c:cleaned', 'd:spared', 'e:cleaned']);
  });

  it('leaves a key shared with a spared session of the same id pending, then deletes it once nothing uses the id', async () => {
    // Prepare: s1 is orphaned in two namespaces; in ubuntu-lab its Service still has a ready endpoint.
    const w = world();
    addSession(w.cluster, { sessionId: 's1', now: w.clock.now() });
    addSession(w.cluster, { sessionId: 's1', namespace: 'ubuntu-lab', labType: 'ubuntu', endpoints: [true], now: w.clock.now() });
    w.store.seedSessions('s1');
    const plan = await planNow(w, [NS, 'ubuntu-lab']);

    // Act
    const outcomes = await apply(w, plan);

    // Assess: the key is the last trace of the ubuntu session too.
    expect(brief(outcomes)).toEqual([
      { id: 's1', action: 'cleaned', reason: 'no-deployment', sessionKey: 'pending' },
      { id: 's1', action: 'spared', reason: 'has-endpoints', sessionKey: undefined },
    ]);
    expect(w.store.has('lab_session:s1')).toBe(true);
    expect(await w.store.pendingKeys()).toEqual(['s1']);
  });
});
