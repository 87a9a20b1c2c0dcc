import { describe, expect, it } from 'vitest';
import type { SessionOutcome } from '../../src/core/apply.js';
import { applyPlan } from '../../src/core/apply.js';
import { decide } from '../../src/core/plan.js';
import { observeNamespace } from '../../src/observe.js';
import type { NamespaceResult, Summary, SummaryInput } from '../../src/core/report.js';
import { emptySummary, metricValues, summarize } from '../../src/core/report.js';
import { FakeCluster, FakeSessionStore, FixedClock, RecordingLogger, addSession } from '../support/fakes.js';

const STARTED = Date.parse('2026-11-26T12:00:00.000Z');

/** The contract's keys, as its JSON example spells them. */
const SUMMARY_KEYS = ['status', 'dryRun', 'startedAt', 'durationMs', 'totals', 'namespaces', 'sessions', 'staleSessionKeys', 'leakedDeployments'];
const TOTALS_KEYS = [
  'namespacesChecked',
  'servicesChecked',
  'orphanedFound',
  'cleanedUp',
  'spared',
  'resourcesDeleted',
  'sessionKeysDeleted',
  'errors',
  'staleSessionKeys',
  'staleSessionKeysDeleted',
  'leakedDeployments',
];
// `leakedDeployments` per namespace feeds the per-Namespace LeakedDeployments metric.
const NAMESPACE_KEYS = ['namespace', 'servicesChecked', 'orphanedFound', 'cleanedUp', 'spared', 'errors', 'leakedDeployments'];
const SESSION_KEYS = ['namespace', 'labType', 'sessionId', 'action', 'reason', 'resources'];
const METRIC_NAMES = [
  'RunsCompleted',
  'NamespacesChecked',
  'ServicesChecked',
  'OrphanedFound',
  'SessionsCleaned',
  'SessionsSpared',
  'ResourcesDeleted',
  'SessionKeysDeleted',
  'Errors',
  'CircuitBreakerOpen',
  'StaleSessionKeys',
  'StaleSessionKeysDeleted',
  'LeakedDeployments',
  'DurationMs',
];

interface Scenario {
  dryRun?: boolean;
  maxDeletions?: number;
  /** Namespaces whose listing failed. */
  failedNamespaces?: string[];
  /** A delete that fails, making its session fail. */
  failingIngress?: string;
}

/**
 * A run of the real core over a small cluster: in jupyter-lab, `a` and `b` orphaned and old,
 * `young` too young, `live` alive; in ubuntu-lab, `c` orphaned and old, one unrelated Service.
 */
async function scenario(options: Scenario = {}): Promise<{ input: SummaryInput; outcomes: SessionOutcome[] }> {
  const clock = new FixedClock(STARTED);
  const cluster = new FakeCluster();
  const store = new FakeSessionStore({ clock });
  const now = clock.now();
  addSession(cluster, { sessionId: 'a', now });
  addSession(cluster, { sessionId: 'b', now, kinds: ['Service'] });
  addSession(cluster, { sessionId: 'young', now, ageSeconds: 5 });
  addSession(cluster, { sessionId: 'live', now, deployment: true });
  addSession(cluster, { sessionId: 'c', now, namespace: 'ubuntu-lab', labType: 'ubuntu' });
  cluster.add({ kind: 'Service', namespace: 'ubuntu-lab', name: 'redis', createdAt: now });
  store.seedSessions('a', 'b', 'c', 'live');
  if (options.failingIngress) cluster.fail('delete', { kind: 'Ingress', name: options.failingIngress }, new Error('boom'));

  const namespaces: NamespaceResult[] = [];
  for (const namespace of ['jupyter-lab', 'ubuntu-lab']) {
    if (options.failedNamespaces?.includes(namespace)) namespaces.push({ namespace, error: 'could not be listed completely' });
    else namespaces.push({ namespace, findings: await observeNamespace(cluster, namespace) });
  }
  const findings = namespaces.flatMap((ns) => (ns.findings ? [ns.findings] : []));
  const plan = decide({ findings, sightings: undefined, settings: { minAgeSeconds: 300, confirmSeconds: 0, maxDeletions: options.maxDeletions ?? 50 }, now });
  const outcomes = await applyPlan(plan, {
    cluster,
    store,
    dryRun: options.dryRun ?? false,
    concurrency: 2,
    logger: new RecordingLogger(),
    keysMayBeDeleted: namespaces.every((ns) => ns.findings !== undefined),
  });
  return {
    outcomes,
    input: {
      dryRun: options.dryRun ?? false,
      startedAt: STARTED,
      finishedAt: STARTED + 812.4,
      namespaces,
      outcomes,
      aborted: plan.aborted,
      runErrors: 0,
      warnings: [],
    },
  };
}

function keysOf(value: object): string[] {
  return Object.keys(value).sort();
}

describe('summarize', () => {
  it("has exactly the contract's top-level keys, plus warnings", async () => {
    // Prepare
    const { input } = await scenario();
    // Act
    const summary = summarize(input);
    // Assess
    expect(keysOf(summary)).toEqual([...SUMMARY_KEYS, 'warnings'].sort());
    expect(keysOf(summary.totals)).toEqual([...TOTALS_KEYS].sort());
  });

  it("gives each namespace exactly the contract's keys, and an error only to one that was not listed", async () => {
    // Prepare
    const { input } = await scenario({ failedNamespaces: ['ubuntu-lab'] });
    // Act
    const summary = summarize(input);
    // Assess
    expect(keysOf(summary.namespaces[0]!)).toEqual([...NAMESPACE_KEYS].sort());
    expect(keysOf(summary.namespaces[1]!)).toEqual([...NAMESPACE_KEYS, 'error'].sort());
    expect(summary.namespaces[1]).toMatchObject({ namespace: 'ubuntu-lab', errors: 1, error: 'could not be listed completely' });
  });

  it("gives each session the contract's keys; sessionKey once acted on, error only when failed", async () => {
    // Prepare
    const { input } = await scenario({ failingIngress: 'jupyter-ingress-a' });
    // Act
    const summary = summarize(input);
    // Assess
    const byId = Object.fromEntries(summary.sessions.map((s) => [s.sessionId, s]));
    expect(keysOf(byId.young!)).toEqual([...SESSION_KEYS].sort());
    expect(keysOf(byId.b!)).toEqual([...SESSION_KEYS, 'sessionKey'].sort());
    expect(keysOf(byId.a!)).toEqual([...SESSION_KEYS, 'error', 'sessionKey'].sort());
    expect(byId.b).toEqual({
      namespace: 'jupyter-lab',
      labType: 'jupyter',
      sessionId: 'b',
      action: 'cleaned',
      reason: 'no-deployment',
      resources: ['Service/jupyter-service-b'],
      sessionKey: 'deleted',
    });
  });

  it('is plain JSON: it survives a JSON round trip unchanged', async () => {
    const { input } = await scenario({ failingIngress: 'jupyter-ingress-a', failedNamespaces: ['ubuntu-lab'] });
    const summary = summarize(input);
    expect(JSON.parse(JSON.stringify(summary))).toEqual(summary);
  });

  it('counts the run: namespaces, Services, orphans, cleaned, spared, resources and keys deleted', async () => {
    // Prepare
    const { input } = await scenario();
    // Act
    const summary = summarize(input);
    // Assess
    expect(summary.totals).toEqual({
      namespacesChecked: 2,
      servicesChecked: 6,
      orphanedFound: 4,
      cleanedUp: 3,
      spared: 1,
      resourcesDeleted: 7,
      sessionKeysDeleted: 3,
      errors: 0,
      staleSessionKeys: 0,
      staleSessionKeysDeleted: 0,
      leakedDeployments: 0,
    });
    expect(summary.namespaces).toEqual([
      { namespace: 'jupyter-lab', servicesChecked: 4, orphanedFound: 3, cleanedUp: 2, spared: 1, errors: 0, leakedDeployments: 0 },
      { namespace: 'ubuntu-lab', servicesChecked: 2, orphanedFound: 1, cleanedUp: 1, spared: 0, errors: 0, leakedDeployments: 0 },
    ]);
    expect(summary.startedAt).toBe('2026-11-26T12:00:00.000Z');
    expect(summary.durationMs).toBe(812);
    expect(summary.status).toBe('ok');
  });

  it('is partial when a session failed and the rest was done', async () => {
    // Prepare
    const { input } = await scenario({ failingIngress: 'jupyter-ingress-a' });
    // Act
    const summary = summarize(input);
    // Assess
    expect(summary.status).toBe('partial');
    expect(summary.totals).toMatchObject({ cleanedUp: 2, errors: 1 });
    expect(summary.namespaces[0]).toMatchObject({ namespace: 'jupyter-lab', errors: 1, cleanedUp: 1 });
  });

  it('is partial when one namespace could not be listed and another was reconciled', async () => {
    const { input } = await scenario({ failedNamespaces: ['jupyter-lab'] });
    const summary = summarize(input);
    expect(summary.status).toBe('partial');
    expect(summary.totals).toMatchObject({ namespacesChecked: 1, errors: 1, cleanedUp: 1 });
  });

  it('is partial when an error belongs to no namespace or session', async () => {
    const { input } = await scenario();
    const summary = summarize({ ...input, runErrors: 1, warnings: ['sightings could not be read'] });
    expect(summary.status).toBe('partial');
    expect(summary.totals.errors).toBe(1);
    expect(summary.warnings).toEqual(['sightings could not be read']);
  });

  it('is failed when no namespace could be listed', async () => {
    const { input } = await scenario({ failedNamespaces: ['jupyter-lab', 'ubuntu-lab'] });
    const summary = summarize(input);
    expect(summary.status).toBe('failed');
    expect(summary.totals).toMatchObject({ namespacesChecked: 0, errors: 2 });
  });

  it('is aborted when the circuit breaker opened, and cleans nothing', async () => {
    // Prepare: 3 sessions to clean, cap 2
    const { input } = await scenario({ maxDeletions: 2 });
    // Act
    const summary = summarize(input);
    // Assess
    expect(summary.status).toBe('aborted');
    expect(summary.totals).toMatchObject({ cleanedUp: 0, spared: 4, resourcesDeleted: 0, sessionKeysDeleted: 0 });
    expect(summary.sessions.filter((s) => s.reason === 'cap-exceeded').map((s) => s.sessionId)).toEqual(['a', 'b', 'c']);
  });

  it('in dry run reports would-clean sessions and counts nothing as cleaned or deleted', async () => {
    // Prepare
    const { input, outcomes } = await scenario({ dryRun: true });
    // Act
    const summary = summarize(input);
    // Assess: the API server accepted the dry-run deletes, but nothing was deleted
    expect(outcomes.flatMap((o) => o.deleted)).toHaveLength(7);
    expect(summary.dryRun).toBe(true);
    expect(summary.status).toBe('ok');
    expect(summary.totals).toMatchObject({ orphanedFound: 4, cleanedUp: 0, spared: 1, resourcesDeleted: 0, sessionKeysDeleted: 0, errors: 0 });
    expect(summary.sessions.map((s) => [s.sessionId, s.action])).toEqual([
      ['a', 'would-clean'],
      ['b', 'would-clean'],
      ['young', 'spared'],
      ['c', 'would-clean'],
    ]);
  });
});

describe('emptySummary', () => {
  it.each(['disabled', 'locked', 'failed'] as const)('describes a %s run with zero totals and no namespaces or sessions', (status) => {
    // Act
    const summary = emptySummary(status, { dryRun: false, startedAt: STARTED, finishedAt: STARTED + 3, errors: status === 'failed' ? 1 : 0 });
    // Assess
    expect(keysOf(summary)).toEqual([...SUMMARY_KEYS, 'warnings'].sort());
    expect(keysOf(summary.totals)).toEqual([...TOTALS_KEYS].sort());
    expect(summary).toMatchObject({ status, namespaces: [], sessions: [], durationMs: 3, startedAt: '2026-11-26T12:00:00.000Z' });
    expect(summary.totals.errors).toBe(status === 'failed' ? 1 : 0);
  });
});

describe('metricValues', () => {
  it("names exactly the contract's metrics and takes their values from the totals", async () => {
    // Prepare
    const { input } = await scenario({ failingIngress: 'jupyter-ingress-a' });
    const summary = summarize(input);
    // Act
    const metrics = metricValues(summary);
    // Assess
    expect(keysOf(metrics.run)).toEqual([...METRIC_NAMES].sort());
    expect(metrics.run).toEqual({
      RunsCompleted: 1,
      NamespacesChecked: 2,
      ServicesChecked: 6,
      OrphanedFound: 4,
      SessionsCleaned: 2,
      SessionsSpared: 1,
      ResourcesDeleted: 6,
      SessionKeysDeleted: 2,
      Errors: 1,
      CircuitBreakerOpen: 0,
      StaleSessionKeys: 0,
      StaleSessionKeysDeleted: 0,
      LeakedDeployments: 0,
      DurationMs: 812,
    });
  });

  it('lists at most 1,000 stale keys, those deleted or failed first, counts them all, and says so', async () => {
    // Prepare: 1,500 stale keys reported, then 2 deleted and 1 failed at the end of the list
    const { input } = await scenario();
    const key = (i: number, action: 'reported' | 'deleted' | 'failed') => ({ key: `lab_session:k${i}`, sessionId: `k${i}`, action, reason: action === 'failed' ? 'delete-failed' : 'no-resources', firstSeenAt: STARTED });
    const staleKeys = [...Array.from({ length: 1500 }, (_, i) => key(i, 'reported')), key(1500, 'deleted'), key(1501, 'deleted'), key(1502, 'failed')];
    // Act
    const summary = summarize({ ...input, staleKeys });
    // Assess
    expect(summary.staleSessionKeys).toHaveLength(1000);
    expect(summary.staleSessionKeys.slice(0, 3).map((k) => k.action)).toEqual(['deleted', 'deleted', 'failed']);
    expect(summary.totals).toMatchObject({ staleSessionKeys: 1503, staleSessionKeysDeleted: 2 });
    expect(summary.warnings).toContain('Listed 1000 of the 1503 stale session keys in staleSessionKeys (those deleted or failed first); the totals count them all');
  });

  it('emits no key metric when the keys were not judged, so that 0 never stands for unknown', async () => {
    // Prepare: a run whose keys were not judged (its warning ends as every such warning does)
    const { input } = await scenario();
    const notJudged = summarize({ ...input, warnings: ['RECONCILIATION_STALE_KEYS is off: session keys were not read, so no stale session key or leaked Deployment was looked for'] });
    // Act
    const metrics = metricValues(notJudged);
    const failed = metricValues(emptySummary('failed', { dryRun: false, startedAt: STARTED, finishedAt: STARTED, errors: 1 }));
    // Assess
    for (const values of [metrics.run, failed.run]) {
      expect(values).not.toHaveProperty('StaleSessionKeys');
      expect(values).not.toHaveProperty('StaleSessionKeysDeleted');
      expect(values).not.toHaveProperty('LeakedDeployments');
      expect(values).toMatchObject({ RunsCompleted: 1 });
    }
    for (const { values } of metrics.namespaces) expect(values).not.toHaveProperty('LeakedDeployments');
  });

  it('counts stale keys found and deleted, and leaked Deployments per run and per namespace', async () => {
    // Prepare: two stale keys (one deleted, one whose delete failed) and two leaked Deployments
    const { input } = await scenario();
    const leaked = (namespace: string, sessionId: string) => ({ namespace, labType: 'jupyter', sessionId, name: `jupyter-lab-${sessionId}`, ageSeconds: 600 });
    const summary = summarize({
      ...input,
      staleKeys: [
        { key: 'lab_session:gone1', sessionId: 'gone1', action: 'deleted', reason: 'no-resources', firstSeenAt: STARTED - 600_000 },
        { key: 'lab_session:gone2', sessionId: 'gone2', action: 'failed', reason: 'delete-failed', firstSeenAt: STARTED - 600_000, error: 'HTTP 500' },
      ],
      leakedDeployments: [leaked('jupyter-lab', 'd1'), leaked('jupyter-lab', 'd2'), leaked('ubuntu-lab', 'd3')],
    });
    // Act
    const metrics = metricValues(summary);
    // Assess
    expect(summary.totals).toMatchObject({ staleSessionKeys: 2, staleSessionKeysDeleted: 1, leakedDeployments: 3, errors: 1 });
    expect(summary.status).toBe('partial');
    expect(summary.staleSessionKeys[1]).toEqual({ key: 'lab_session:gone2', sessionId: 'gone2', action: 'failed', reason: 'delete-failed', firstSeenAt: '2026-11-26T11:50:00.000Z', error: 'HTTP 500' });
    expect(metrics.run).toMatchObject({ StaleSessionKeys: 2, StaleSessionKeysDeleted: 1, LeakedDeployments: 3 });
    expect(metrics.namespaces.map((n) => [n.namespace, n.values.LeakedDeployments])).toEqual([
      ['jupyter-lab', 2],
      ['ubuntu-lab', 1],
    ]);
  });

  it('gives per-namespace values under contract names only', async () => {
    const { input } = await scenario();
    const metrics = metricValues(summarize(input));
    expect(metrics.namespaces.map((n) => n.namespace)).toEqual(['jupyter-lab', 'ubuntu-lab']);
    for (const { values } of metrics.namespaces) for (const name of Object.keys(values)) expect(METRIC_NAMES).toContain(name);
    expect(metrics.namespaces[0]!.values).toEqual({ ServicesChecked: 4, OrphanedFound: 3, SessionsCleaned: 2, SessionsSpared: 1, Errors: 0, LeakedDeployments: 0 });
  });

  it('raises CircuitBreakerOpen for an aborted run only', async () => {
    // Prepare
    const aborted = summarize((await scenario({ maxDeletions: 2 })).input);
    const ok = summarize((await scenario()).input);
    // Act / Assess
    expect(metricValues(aborted).run.CircuitBreakerOpen).toBe(1);
    expect(metricValues(ok).run.CircuitBreakerOpen).toBe(0);
  });

  it('counts a run that did nothing by design as completed, with zero values', () => {
    const summary: Summary = emptySummary('locked', { dryRun: false, startedAt: STARTED, finishedAt: STARTED });
    const metrics = metricValues(summary);
    expect(metrics.run).toMatchObject({ RunsCompleted: 1, Errors: 0, SessionsCleaned: 0, CircuitBreakerOpen: 0 });
    expect(metrics.namespaces).toEqual([]);
  });
});
