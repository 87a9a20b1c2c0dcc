/**
 * The other direction, decided purely: which keys are stale, which are deleted, which
 * Deployments are leaked, and the cap shared with the sessions. Unit cases, then properties
 * over generated clusters and key sets (through the real collector), then properties of whole
 * runs over the fakes across several runs (confirmation in two runs, the period apart).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { ResourceKind } from '../../src/ports.js';
import { nameFor, sessionIdOfKey } from '../../src/core/naming.js';
import { findLeakedDeployments, findStaleKeys, judgeStaleKeys, keyConfirmSeconds, sessionsWithResources } from '../../src/core/keys.js';
import type { KeysInput, NamespaceFindings } from '../../src/core/plan.js';
import { decide, findOrphans } from '../../src/core/plan.js';
import { reconcile } from '../../src/reconcile.js';
import type { RunSettings } from '../../src/reconcile.js';
import type { CallRecord } from '../support/fakes.js';
import { FakeCluster, FakeSessionStore, FixedClock, RecordingLogger, addSession, observation, resourceRecord } from '../support/fakes.js';

const NOW = Date.parse('2026-11-26T12:00:00.000Z');
const PREFIX = 'lab_session:';
const SETTINGS = { minAgeSeconds: 300, confirmSeconds: 240, maxDeletions: 50 };

/** The plan's key input as the run builds it (src/steps/keys.ts): the stale keys judged in the findings' view. */
function keysInput(findings: readonly NamespaceFindings[], scanned: ReadonlySet<string>, sightings: ReadonlyMap<string, number>, mode: KeysInput['mode'] = 'delete'): KeysInput {
  const withResources = sessionsWithResources(findings);
  return { mode, prefix: PREFIX, scanned, withResources, stale: findStaleKeys(scanned, PREFIX, withResources), sightings };
}

function findingsOf(namespace: string, records: Parameters<typeof observation>[1]): NamespaceFindings {
  return findOrphans(observation(namespace, records));
}

describe('sessionIdOfKey', () => {
  it.each([
    ['lab_session:abc123', 'abc123'],
    ['lab_session:a.b-c', 'a.b-c'],
    ['lab_session:', undefined],
    ['lab_session:ABC', undefined],
    ['lab_session:a_b', undefined],
    ['lab_session:-a', undefined],
    ['lab_session:a:b', undefined],
    ['other:abc', undefined],
    ['lab-reconciler:lock', undefined],
  ])('reads %j as session id %j', (key, id) => {
    expect(sessionIdOfKey(key, PREFIX)).toBe(id);
  });

  it("never takes the product's own keys for session keys, whatever the prefix", () => {
    for (const prefix of ['lab-', 'lab-reconciler:', 'l', '']) {
      for (const key of ['lab-reconciler:lock', 'lab-reconciler:sighting:key:abc', 'lab-reconciler:pending-session-keys']) {
        expect(sessionIdOfKey(key, prefix)).toBeUndefined();
      }
    }
  });
});

describe('findStaleKeys', () => {
  it('finds keys whose session has no resource of any kind or lab type in any listed namespace', () => {
    // Prepare: alive (Deployment), orphan (a ConfigMap only, another lab type), elsewhere (another namespace)
    const findings = [
      findingsOf('jupyter-lab', [resourceRecord('Deployment', 'jupyter-lab-alive'), resourceRecord('ConfigMap', 'ubuntu-config-orphan')]),
      findingsOf('ubuntu-lab', [resourceRecord('Ingress', 'ubuntu-ingress-elsewhere', { namespace: 'ubuntu-lab' })]),
    ];
    const keys = ['lab_session:alive', 'lab_session:orphan', 'lab_session:elsewhere', 'lab_session:ghost', 'lab_session:ghost', 'lab_session:Upper', 'cache:ghost'];
    // Act
    const stale = findStaleKeys(keys, PREFIX, sessionsWithResources(findings));
    // Assess
    expect(stale).toEqual([{ key: 'lab_session:ghost', sessionId: 'ghost' }]);
  });
});

describe('judgeStaleKeys', () => {
  const stale = [{ key: 'lab_session:a', sessionId: 'a' }];
  const period = keyConfirmSeconds(SETTINGS) * 1000;

  it('reports every stale key in report mode, whatever its sighting', () => {
    expect(judgeStaleKeys(stale, new Map([['a', NOW - 10 * period]]), 'report', SETTINGS, NOW)).toEqual([
      { key: 'lab_session:a', sessionId: 'a', action: 'reported', reason: 'no-resources', firstSeenAt: NOW - 10 * period },
    ]);
  });

  it('waits max(min age, confirm) in delete mode, and never confirms on a sighting made by this run', () => {
    expect(keyConfirmSeconds({ minAgeSeconds: 300, confirmSeconds: 240 })).toBe(300);
    expect(keyConfirmSeconds({ minAgeSeconds: 0, confirmSeconds: 240 })).toBe(240);
    const judge = (seen: number | undefined, settings = SETTINGS) =>
      judgeStaleKeys(stale, seen === undefined ? new Map() : new Map([['a', seen]]), 'delete', settings, NOW)[0]!;
    expect(judge(undefined)).toMatchObject({ action: 'spare', reason: 'unconfirmed' });
    expect(judge(NOW)).toMatchObject({ action: 'spare', reason: 'unconfirmed' });
    expect(judge(NOW - period + 1)).toMatchObject({ action: 'spare', reason: 'unconfirmed' });
    expect(judge(NOW - period)).toMatchObject({ action: 'delete', reason: 'no-resources', firstSeenAt: NOW - period });
    // Both periods 0: still an earlier run's sighting, never this run's own.
    const zero = { minAgeSeconds: 0, confirmSeconds: 0, maxDeletions: 50 };
    expect(judge(NOW, zero)).toMatchObject({ action: 'spare', reason: 'unconfirmed' });
    expect(judge(NOW - 1, zero)).toMatchObject({ action: 'delete' });
  });
});

describe('findLeakedDeployments', () => {
  it('reports Deployments older than the grace period whose key is missing, and only those', () => {
    // Prepare
    const findings = [
      findingsOf('jupyter-lab', [
        resourceRecord('Deployment', 'jupyter-lab-keyed', { createdAt: NOW - 86_400_000 }),
        resourceRecord('Deployment', 'jupyter-lab-leak', { createdAt: NOW - 86_400_000 }),
        resourceRecord('Deployment', 'jupyter-lab-young', { createdAt: NOW - 299_000 }),
        resourceRecord('Deployment', 'jupyter-lab-timeless', { createdAt: undefined }),
        resourceRecord('Deployment', 'not-a-lab-deployment', { createdAt: NOW - 86_400_000 }),
      ]),
    ];
    // Act
    const leaked = findLeakedDeployments(findings, new Set(['lab_session:keyed']), PREFIX, 300, NOW);
    // Assess
    expect(leaked).toEqual([{ namespace: 'jupyter-lab', labType: 'jupyter', sessionId: 'leak', name: 'jupyter-lab-leak', ageSeconds: 86_400 }]);
  });
});

describe('decide with the keys', () => {
  const oldOrphans = (ids: string[]) =>
    findingsOf(
      'jupyter-lab',
      ids.map((id) => resourceRecord('Service', `jupyter-service-${id}`, { createdAt: NOW - 3_600_000 })),
    );
  const keys = (ids: string[], seenAgo: number, findings: readonly NamespaceFindings[] = []): KeysInput =>
    keysInput(findings, new Set(ids.map((id) => `${PREFIX}${id}`)), new Map(ids.map((id) => [id, NOW - seenAgo * 1000])));
  const settings = (maxDeletions: number) => ({ minAgeSeconds: 300, confirmSeconds: 0, maxDeletions });

  it('counts sessions to clean and stale keys to delete against one cap: over it, neither', () => {
    // Prepare: 2 sessions to clean, 2 confirmed stale keys; cap 3
    const findings = [oldOrphans(['s1', 's2'])];
    const input = { findings, sightings: new Map(), now: NOW, keys: keys(['k1', 'k2'], 600, findings) };
    // Act
    const over = decide({ ...input, settings: settings(3) });
    const within = decide({ ...input, settings: settings(4) });
    // Assess
    expect(over.aborted).toBe(true);
    expect(over.decisions.map((d) => [d.action, d.reason])).toEqual([['spare', 'cap-exceeded'], ['spare', 'cap-exceeded']]);
    expect(over.staleKeys.map((k) => [k.action, k.reason])).toEqual([['spare', 'cap-exceeded'], ['spare', 'cap-exceeded']]);
    expect(within.aborted).toBe(false);
    expect(within.staleKeys.map((k) => k.action)).toEqual(['delete', 'delete']);
    expect(within.decisions.map((d) => d.action)).toEqual(['clean', 'clean']);
  });

  it('does not count keys only reported, or not yet confirmed, against the cap', () => {
    const reported = decide({ findings: [], sightings: new Map(), now: NOW, settings: settings(1), keys: { ...keys(['k1', 'k2', 'k3'], 600), mode: 'report' } });
    const unconfirmed = decide({ findings: [], sightings: new Map(), now: NOW, settings: settings(1), keys: keys(['k1', 'k2', 'k3'], 10) });
    expect(reported.aborted).toBe(false);
    expect(unconfirmed.aborted).toBe(false);
  });

  it('judges no key and reports no leaked Deployment when the keys were not read', () => {
    const findings = [findingsOf('jupyter-lab', [resourceRecord('Deployment', 'jupyter-lab-leak', { createdAt: NOW - 86_400_000 })])];
    const plan = decide({ findings, sightings: new Map(), now: NOW, settings: settings(50) });
    expect(plan.staleKeys).toEqual([]);
    expect(plan.leakedDeployments).toEqual([]);
  });
});

// --- Properties over generated clusters and key sets ---

const NAMESPACES = ['jupyter-lab', 'ubuntu-lab'];
const LAB_TYPES = ['jupyter', 'ubuntu', 'pg16'];
const IDS = ['a', 'b2', 'c-d', 'x.y', 'e5', 'f', 'g7'];
const KINDS: ResourceKind[] = ['Deployment', 'Service', 'Ingress', 'ConfigMap'];

interface Resource {
  namespace: string;
  labType: string;
  sessionId: string;
  kind: ResourceKind;
  ageSeconds: number;
}

const resourceArb: fc.Arbitrary<Resource> = fc.record({
  namespace: fc.constantFrom(...NAMESPACES),
  labType: fc.constantFrom(...LAB_TYPES),
  sessionId: fc.constantFrom(...IDS),
  kind: fc.constantFrom(...KINDS),
  ageSeconds: fc.integer({ min: 0, max: 2000 }),
});

/** Keys: session keys of some ids, the product's own keys, other apps' keys, ids no name can carry. */
const keyArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...IDS).map((id) => `${PREFIX}${id}`) },
  { weight: 1, arbitrary: fc.constantFrom('lab-reconciler:lock', 'lab-reconciler:sighting:key:a', 'lab-reconciler:pending-session-keys') },
  { weight: 1, arbitrary: fc.constantFrom('cache:a', 'user:b2', 'lab_sessions', `${PREFIX}A`, `${PREFIX}a_b`, `${PREFIX}`) },
);

function findingsFrom(resources: readonly Resource[]): NamespaceFindings[] {
  return NAMESPACES.map((namespace) =>
    findingsOf(
      namespace,
      resources
        .filter((r) => r.namespace === namespace)
        .map((r) => resourceRecord(r.kind, nameFor(r.kind, r), { namespace, createdAt: NOW - r.ageSeconds * 1000 })),
    ),
  );
}

describe('the other direction, over generated clusters and key sets', () => {
  it("never finds a key stale whose session id has any resource, and finds every other session key stale", () => {
    fc.assert(
      fc.property(fc.array(resourceArb, { maxLength: 20 }), fc.array(keyArb, { maxLength: 12 }), (resources, keys) => {
        const stale = findStaleKeys(keys, PREFIX, sessionsWithResources(findingsFrom(resources)));
        const withResources = new Set(resources.map((r) => r.sessionId));
        const expected = [...new Set(keys)].filter((k) => k.startsWith(PREFIX) && IDS.includes(k.slice(PREFIX.length)) && !withResources.has(k.slice(PREFIX.length)));
        expect(stale.map((k) => k.key).sort()).toEqual(expected.sort());
        for (const { sessionId } of stale) expect(withResources.has(sessionId)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('reports as leaked exactly the Deployments older than the grace period whose key is not among the keys', () => {
    fc.assert(
      fc.property(fc.array(resourceArb, { maxLength: 20 }), fc.array(keyArb, { maxLength: 12 }), fc.constantFrom(0, 300, 1000), (resources, keys, minAge) => {
        const leaked = findLeakedDeployments(findingsFrom(resources), new Set(keys), PREFIX, minAge, NOW);
        // A Deployment listed twice under one name counts once, with the age the list gave last.
        const deployments = new Map<string, Resource>();
        for (const r of resources) if (r.kind === 'Deployment') deployments.set(`${r.namespace}/${nameFor('Deployment', r)}`, r);
        const expected = [...deployments.values()].filter((r) => r.ageSeconds >= minAge && !keys.includes(`${PREFIX}${r.sessionId}`));
        expect(leaked.map((d) => `${d.namespace}/${d.name}`).sort()).toEqual(expected.map((r) => `${r.namespace}/${nameFor('Deployment', r)}`).sort());
      }),
      { numRuns: 300 },
    );
  });

  it('deletes no more than the cap, sessions and keys together, and nothing of either when over it', () => {
    fc.assert(
      fc.property(
        fc.array(resourceArb, { maxLength: 20 }),
        fc.array(keyArb, { maxLength: 12 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 1000 }),
        (resources, keys, maxDeletions, seenAgo) => {
          const findings = findingsFrom(resources);
          const sightings = new Map(IDS.map((id) => [id, NOW - seenAgo * 1000]));
          const plan = decide({
            findings,
            sightings: new Map(),
            settings: { minAgeSeconds: 300, confirmSeconds: 0, maxDeletions },
            now: NOW,
            keys: keysInput(findings, new Set(keys), sightings),
          });
          const deletions = plan.decisions.filter((d) => d.action === 'clean').length + plan.staleKeys.filter((k) => k.action === 'delete').length;
          if (plan.aborted) expect(deletions).toBe(0);
          else expect(deletions).toBeLessThanOrEqual(maxDeletions);
        },
      ),
      { numRuns: 300 },
    );
  });
});

// --- Whole runs over the fakes, several in a row ---

interface Step {
  /** Seconds the clock moves before the run. */
  advance: number;
  /** Ids that get a Deployment before the run (sessions alive again), and ids whose resources go. */
  revive: string[];
  remove: string[];
  /** Ids whose key is rewritten (a new value) before the run. */
  rewrite: string[];
  dryRun: boolean;
}

const stepArb: fc.Arbitrary<Step> = fc.record({
  advance: fc.constantFrom(0, 60, 200, 300, 400, 900),
  revive: fc.subarray(IDS, { maxLength: 2 }),
  remove: fc.subarray(IDS, { maxLength: 2 }),
  rewrite: fc.subarray(IDS, { maxLength: 2 }),
  dryRun: fc.boolean(),
});

describe('stale keys across runs (reconcile over the fakes, delete mode)', () => {
  it('deletes a key only when stale, unchanged, in an earlier real run at least the confirm period before, and in every real run since', async () => {
    const seen = { deleted: 0, sparedAfterRewrite: 0 };
    await fc.assert(
      fc.asyncProperty(fc.subarray(IDS), fc.array(stepArb, { minLength: 2, maxLength: 6 }), fc.constantFrom(0, 240, 600), async (alive, steps, confirmSeconds) => {
        // Prepare: every id has a key; some have a live session, the rest none
        const clock = new FixedClock(NOW);
        const log: CallRecord[] = [];
        const cluster = new FakeCluster({ log });
        const store = new FakeSessionStore({ clock, log });
        store.seedSessions(...IDS);
        for (const id of alive) addSession(cluster, { sessionId: id, deployment: true, kinds: [], now: NOW - 3_600_000 });
        const settings: RunSettings = {
          enabled: true, namespaces: ['jupyter-lab'], dryRun: false, minAgeSeconds: 300, confirmSeconds, maxDeletions: 50,
          concurrency: 2, intervalSeconds: 300, staleKeys: 'delete', narrowed: false,
        };
        const period = Math.max(300, confirmSeconds) * 1000;
        /** Per id: the times of the real (not dry) runs that saw it stale with this value, since it last was not. */
        const staleSince = new Map<string, { at: number; value: string }>();
        let version = 0;

        for (const step of steps) {
          clock.advanceSeconds(step.advance);
          for (const id of step.revive) if (!cluster.has('Deployment', 'jupyter-lab', `jupyter-lab-${id}`)) addSession(cluster, { sessionId: id, deployment: true, kinds: [], now: clock.now() - 3_600_000 });
          for (const id of step.remove) cluster.remove('Deployment', 'jupyter-lab', `jupyter-lab-${id}`);
          for (const id of step.rewrite) if (store.has(`${PREFIX}${id}`)) store.setKey(`${PREFIX}${id}`, `v${++version}`);
          const before = new Map(IDS.map((id) => [id, store.get(`${PREFIX}${id}`)]));
          const hasResources = new Set(IDS.filter((id) => cluster.has('Deployment', 'jupyter-lab', `jupyter-lab-${id}`)));

          // Act
          const summary = await reconcile({ ...settings, dryRun: step.dryRun }, { cluster, store, logger: new RecordingLogger(), clock });

          // Assess: every key deleted was stale now, unchanged since a sighting at least the period old
          const deleted = summary.staleSessionKeys.filter((k) => k.action === 'deleted').map((k) => k.sessionId);
          seen.deleted += deleted.length;
          const old = (id: string) => staleSince.has(id) && clock.now() - staleSince.get(id)!.at >= period;
          seen.sparedAfterRewrite += summary.staleSessionKeys.filter((k) => k.action === 'spared' && step.rewrite.includes(k.sessionId) && old(k.sessionId) && !step.dryRun).length;
          for (const id of deleted) {
            expect(hasResources.has(id), `${id} has resources`).toBe(false);
            const since = staleSince.get(id);
            expect(since, `${id} was never seen stale before`).toBeDefined();
            expect(since!.value).toBe(before.get(id));
            expect(clock.now() - since!.at).toBeGreaterThanOrEqual(period);
            expect(store.has(`${PREFIX}${id}`)).toBe(false);
          }
          // Assess: a live session's key is never touched; a dry run deletes nothing
          for (const id of hasResources) expect(store.get(`${PREFIX}${id}`)).toBe(before.get(id));
          if (step.dryRun) expect(deleted).toEqual([]);
          // The model: only real runs write, so only they record a sighting or forget one (a
          // dry run that sees a session alive again leaves its sighting to the next real run).
          if (step.dryRun) continue;
          for (const id of IDS) {
            const value = before.get(id);
            if (value === undefined || hasResources.has(id)) staleSince.delete(id);
            else if (staleSince.get(id)?.value !== value) staleSince.set(id, { at: clock.now(), value });
          }
        }
      }),
      { numRuns: 150 },
    );
    // The property is not vacuous: keys were deleted, and rewritten keys old enough were spared.
    expect(seen.deleted).toBeGreaterThan(0);
    expect(seen.sparedAfterRewrite).toBeGreaterThan(0);
  });
});
