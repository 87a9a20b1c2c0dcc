/**
 * Properties of a whole run (the real `reconcile()` over the in-memory fakes), checked over
 * generated clusters: several namespaces, some outside the allowlist; sessions with random
 * subsets of resources, ages, keep annotations and endpoints; names that break the
 * convention; session ids shared between lab types and namespaces; earlier sightings.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { ResourceKind } from '../../src/ports.js';
import { nameFor } from '../../src/core/naming.js';
import type { RunSettings } from '../../src/reconcile.js';
import { reconcile } from '../../src/reconcile.js';
import type { CallRecord, SessionSpec } from '../support/fakes.js';
import { FakeCluster, FakeSessionStore, FixedClock, RecordingLogger, addSession, sightingKey } from '../support/fakes.js';

const ALLOWED = ['jupyter-lab', 'ubuntu-lab', 'vscode-lab'];
const OUTSIDE = ['kube-system', 'other-lab'];
const LAB_TYPES = ['jupyter', 'ubuntu', 'vscode', 'pg16'];
/** Few ids, so that the same id often appears under several lab types and namespaces. */
const IDS = ['a', 'b2', 'c-d', 'x.y', 'abc123'];
const DELETABLE = ['Service', 'Ingress', 'ConfigMap'] as const;
type Deletable = (typeof DELETABLE)[number];

/** Names that break the convention for a Service, an Ingress and a ConfigMap alike (by construction, not by parseName). */
const BROKEN_NAMES = [
  'jupyter-service-',
  '-service-a',
  'Jupyter-service-a',
  'jupyter-ingress-A',
  'my-lab-service-a',
  'my-lab-config-a',
  'jupyter-svc-a',
  'jupyter-config--a',
  'jupyter-ingress-a-',
  'jupyter-service-a_b',
  'jupyter-lab-a',
  'redis',
  'kube-root-ca.crt',
  `jupyter-service-${'a'.repeat(240)}`,
];

interface SessionModel {
  namespace: string;
  labType: string;
  sessionId: string;
  deployment: boolean;
  kinds: Deletable[];
  ages: Partial<Record<ResourceKind, number | null>>;
  keep: Deletable[];
  endpoints: (boolean | undefined)[] | undefined;
}

interface BrokenModel {
  namespace: string;
  kind: Deletable;
  name: string;
  ageSeconds: number;
}

interface ClusterModel {
  sessions: SessionModel[];
  broken: BrokenModel[];
  /** Seconds ago each (namespace, id) was first seen; absent when never. */
  sightings: { namespace: string; sessionId: string; secondsAgo: number }[];
  settings: Pick<RunSettings, 'minAgeSeconds' | 'confirmSeconds' | 'maxDeletions' | 'concurrency'>;
  withStore: boolean;
}

const namespaceArb = fc.constantFrom(...ALLOWED, ...OUTSIDE);
const ageArb = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 2000 }) },
  { weight: 1, arbitrary: fc.constant(null) },
);

const sessionArb: fc.Arbitrary<SessionModel> = fc.record({
  namespace: namespaceArb,
  labType: fc.constantFrom(...LAB_TYPES),
  sessionId: fc.constantFrom(...IDS),
  deployment: fc.boolean(),
  kinds: fc.subarray([...DELETABLE]),
  ages: fc.record({ Deployment: ageArb, Service: ageArb, Ingress: ageArb, ConfigMap: ageArb }),
  keep: fc.oneof({ weight: 5, arbitrary: fc.constant([] as Deletable[]) }, { weight: 1, arbitrary: fc.subarray([...DELETABLE], { minLength: 1 }) }),
  endpoints: fc.option(fc.array(fc.constantFrom(true, false, undefined), { maxLength: 2 }), { nil: undefined }),
});

const brokenArb: fc.Arbitrary<BrokenModel> = fc.record({
  namespace: namespaceArb,
  kind: fc.constantFrom(...DELETABLE),
  name: fc.constantFrom(...BROKEN_NAMES),
  ageSeconds: fc.integer({ min: 0, max: 5000 }),
});

const clusterArb: fc.Arbitrary<ClusterModel> = fc.record({
  sessions: fc.array(sessionArb, { maxLength: 14 }),
  broken: fc.array(brokenArb, { maxLength: 5 }),
  sightings: fc.array(fc.record({ namespace: namespaceArb, sessionId: fc.constantFrom(...IDS), secondsAgo: fc.integer({ min: 0, max: 600 }) }), {
    maxLength: 6,
  }),
  settings: fc.record({
    minAgeSeconds: fc.constantFrom(0, 300, 1000),
    confirmSeconds: fc.constantFrom(0, 240),
    maxDeletions: fc.integer({ min: 1, max: 12 }),
    concurrency: fc.integer({ min: 1, max: 4 }),
  }),
  withStore: fc.boolean(),
});

const SIGHTING_TTL_MS = 3_600_000;

/** The fakes, filled as the model says, with every id's session key present. */
function build(model: ClusterModel) {
  const clock = new FixedClock();
  const log: CallRecord[] = [];
  const cluster = new FakeCluster({ log });
  const store = new FakeSessionStore({ clock, log });
  const now = clock.now();
  for (const session of model.sessions) {
    const spec: SessionSpec = { ...session, now };
    addSession(cluster, spec);
  }
  for (const broken of model.broken) {
    cluster.add({ kind: broken.kind, namespace: broken.namespace, name: broken.name, createdAt: now - broken.ageSeconds * 1000 });
  }
  store.seedSessions(...IDS, 'unrelated');
  for (const seen of model.sightings) {
    store.setKey(sightingKey(seen.namespace, seen.sessionId), String(now - seen.secondsAgo * 1000), SIGHTING_TTL_MS);
  }
  log.length = 0;
  const logger = new RecordingLogger();
  const runOnce = (dryRun: boolean) =>
    reconcile(
      { enabled: true, namespaces: ALLOWED, dryRun, intervalSeconds: 300, staleKeys: 'report', narrowed: false, ...model.settings },
      { cluster, store: model.withStore ? store : undefined, logger, clock },
    );
  return { clock, log, cluster, store, logger, runOnce };
}

function deleteCalls(log: readonly CallRecord[]): CallRecord[] {
  return log.filter((c) => c.port === 'cluster' && c.operation === 'delete');
}

const RUNS = { numRuns: 200 };

/** How often the generated runs reached the interesting cases, so that no property holds vacuously. */
interface Coverage {
  cleaned: number;
  liveAndOrphanedIdShared: number;
  brokenOrOutside: number;
}

function expectCovered(coverage: Coverage): void {
  expect(coverage.cleaned).toBeGreaterThan(10);
  expect(coverage.liveAndOrphanedIdShared).toBeGreaterThan(10);
  expect(coverage.brokenOrOutside).toBeGreaterThan(10);
}

function count(coverage: Coverage, model: ClusterModel, summary: Awaited<ReturnType<typeof reconcile>>): void {
  if (summary.sessions.some((s) => s.action === 'cleaned' || s.action === 'would-clean')) coverage.cleaned += 1;
  const liveIds = new Set(model.sessions.filter((s) => s.deployment && ALLOWED.includes(s.namespace)).map((s) => s.sessionId));
  if (summary.sessions.some((s) => liveIds.has(s.sessionId))) coverage.liveAndOrphanedIdShared += 1;
  if (model.broken.length > 0 || model.sessions.some((s) => OUTSIDE.includes(s.namespace))) coverage.brokenOrOutside += 1;
}

describe('reconcile over generated clusters', () => {
  it('never touches a session that has a Deployment, nor its session key', async () => {
    const coverage: Coverage = { cleaned: 0, liveAndOrphanedIdShared: 0, brokenOrOutside: 0 };
    await fc.assert(
      fc.asyncProperty(clusterArb, fc.boolean(), async (model, dryRun) => {
        // Prepare
        const world = build(model);
        const live = model.sessions.filter((s) => s.deployment && ALLOWED.includes(s.namespace));
        // Act
        count(coverage, model, await world.runOnce(dryRun));
        // Assess
        const touched = new Set(deleteCalls(world.log).map((c) => c.subject));
        for (const session of live) {
          for (const kind of [...DELETABLE, 'Deployment'] as const) {
            expect(touched.has(`${kind}/${session.namespace}/${nameFor(kind, session)}`)).toBe(false);
          }
          expect(world.store.has(world.store.sessionKey(session.sessionId))).toBe(true);
        }
      }),
      RUNS,
    );
    expectCovered(coverage);
  });

  it('never touches a resource whose name breaks the convention, nor anything outside the allowlist', async () => {
    const coverage: Coverage = { cleaned: 0, liveAndOrphanedIdShared: 0, brokenOrOutside: 0 };
    await fc.assert(
      fc.asyncProperty(clusterArb, fc.boolean(), async (model, dryRun) => {
        // Prepare
        const world = build(model);
        const broken = new Set(model.broken.map((b) => `${b.kind}/${b.namespace}/${b.name}`));
        const idsInAllowlist = new Set(model.sessions.filter((s) => ALLOWED.includes(s.namespace)).map((s) => s.sessionId));
        // Act
        count(coverage, model, await world.runOnce(dryRun));
        // Assess
        for (const call of deleteCalls(world.log)) {
          expect(broken.has(call.subject)).toBe(false);
          expect(ALLOWED).toContain(call.subject.split('/')[1]);
        }
        const namespacesCalled = world.log.filter((c) => c.port === 'cluster').map((c) => (c.operation === 'observe' ? c.subject : c.subject.split('/')[1]));
        expect(namespacesCalled.filter((ns) => !ALLOWED.includes(ns!))).toEqual([]);
        // Keys of sessions found nowhere in the allowlist are never deleted either.
        for (const id of [...IDS, 'unrelated'].filter((i) => !idsInAllowlist.has(i))) {
          expect(world.store.has(world.store.sessionKey(id))).toBe(true);
        }
        for (const b of model.broken) expect(world.cluster.has(b.kind, b.namespace, b.name)).toBe(true);
      }),
      RUNS,
    );
    expectCovered(coverage);
  });

  it('changes nothing on a second run at the same time', async () => {
    const coverage: Coverage = { cleaned: 0, liveAndOrphanedIdShared: 0, brokenOrOutside: 0 };
    await fc.assert(
      fc.asyncProperty(clusterArb, async (model) => {
        // Prepare: a first run does what it does
        const world = build(model);
        count(coverage, model, await world.runOnce(false));
        const clusterAfterFirst = world.cluster.snapshot();
        const storeAfterFirst = world.store.snapshot();
        world.log.length = 0;
        // Act
        await world.runOnce(false);
        // Assess
        expect(deleteCalls(world.log).filter((c) => c.result === 'deleted')).toEqual([]);
        expect(world.log.filter((c) => c.operation === 'deleteSessionKey' && c.result === 'true')).toEqual([]);
        expect(world.cluster.snapshot()).toEqual(clusterAfterFirst);
        expect(world.store.snapshot()).toEqual(storeAfterFirst);
      }),
      RUNS,
    );
    expectCovered(coverage);
  });

  it('changes nothing in dry run, in the cluster or in the session store', async () => {
    const coverage: Coverage = { cleaned: 0, liveAndOrphanedIdShared: 0, brokenOrOutside: 0 };
    await fc.assert(
      fc.asyncProperty(clusterArb, async (model) => {
        // Prepare
        const world = build(model);
        const clusterBefore = world.cluster.snapshot();
        const storeBefore = world.store.snapshot();
        // Act
        const summary = await world.runOnce(true);
        count(coverage, model, summary);
        // Assess
        expect(world.cluster.snapshot()).toEqual(clusterBefore);
        expect(world.store.snapshot()).toEqual(storeBefore);
        expect(deleteCalls(world.log).every((c) => c.dryRun === true)).toBe(true);
        // Only reads: the sightings (read-only, as asserted below) and the keys' scan.
        expect(world.log.filter((c) => c.port === 'store' && !['sightings', 'keySightings', 'scanSessionKeys'].includes(c.operation))).toEqual([]);
        expect(world.log.filter((c) => c.port === 'store' && c.operation !== 'scanSessionKeys').every((c) => c.readOnly === true)).toBe(true);
        expect(summary.totals).toMatchObject({ cleanedUp: 0, resourcesDeleted: 0, sessionKeysDeleted: 0, staleSessionKeysDeleted: 0 });
      }),
      RUNS,
    );
    expectCovered(coverage);
  });
});
