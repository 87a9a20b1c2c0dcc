import { describe, expect, it } from 'vitest';
import type { EndpointSliceRecord, ResourceKind, ResourceRecord } from '../../src/ports.js';
import { nameFor } from '../../src/core/naming.js';
import type { NamespaceFindings, PlanSettings, Sightings } from '../../src/core/plan.js';
import { decide, findOrphans } from '../../src/core/plan.js';
import { toEndpointSliceRecord } from '../../src/adapters/records.js';
import { observation, resourceRecord } from '../support/fakes.js';

const NOW = Date.parse('2026-11-26T12:00:00.000Z');
const NS = 'jupyter-lab';
const SETTINGS: PlanSettings = { minAgeSeconds: 300, confirmSeconds: 240, maxDeletions: 50 };

interface Spec {
  namespace?: string;
  labType?: string;
  kinds?: ResourceKind[];
  ageSeconds?: number;
  keep?: ResourceKind[];
  /** Kinds listed without a creation time. */
  noCreationTime?: ResourceKind[];
  /** Per-kind age overrides, in seconds. */
  ages?: Partial<Record<ResourceKind, number>>;
}

/** The records of one session, named by the convention. */
function session(sessionId: string, spec: Spec = {}): ResourceRecord[] {
  const namespace = spec.namespace ?? NS;
  const labType = spec.labType ?? 'jupyter';
  return (spec.kinds ?? ['Service', 'Ingress', 'ConfigMap']).map((kind) =>
    resourceRecord(kind, nameFor(kind, { labType, sessionId }), {
      namespace,
      createdAt: spec.noCreationTime?.includes(kind) ? undefined : NOW - (spec.ages?.[kind] ?? spec.ageSeconds ?? 3600) * 1000,
      keep: spec.keep?.includes(kind) ?? false,
    }),
  );
}

function slice(serviceName: string | undefined, readyEndpoints: number, namespace = NS): EndpointSliceRecord {
  return { namespace, name: `${serviceName ?? 'unlabelled'}-x1y2z`, serviceName, readyEndpoints };
}

/** Sightings of one namespace, `secondsAgo` per session id. */
function seen(namespace: string, ago: Record<string, number>): Sightings {
  return new Map([[namespace, new Map(Object.entries(ago).map(([id, s]) => [id, NOW - s * 1000]))]]);
}

/** Every session of these findings confirmed long ago. */
function confirmedLongAgo(findings: readonly NamespaceFindings[]): Sightings {
  return new Map(findings.map((f) => [f.namespace, new Map(f.orphans.map((o) => [o.sessionId, NOW - 86_400_000]))]));
}

function decideOne(records: ResourceRecord[], options: { slices?: EndpointSliceRecord[]; sightings?: Sightings; settings?: Partial<PlanSettings> } = {}) {
  const findings = [findOrphans(observation(NS, records, options.slices ?? []))];
  return decide({
    findings,
    sightings: 'sightings' in options ? options.sightings : confirmedLongAgo(findings),
    settings: { ...SETTINGS, ...options.settings },
    now: NOW,
  });
}

describe('findOrphans', () => {
  it('finds a session with a Service, Ingress and ConfigMap but no Deployment, Ingress first', () => {
    // Prepare
    const obs = observation(NS, session('abc'));
    // Act
    const findings = findOrphans(obs);
    // Assess
    expect(findings.orphans).toHaveLength(1);
    const [orphan] = findings.orphans;
    expect(orphan).toMatchObject({ namespace: NS, labType: 'jupyter', sessionId: 'abc', hasReadyEndpoints: false });
    expect(orphan!.resources.map((r) => `${r.kind}/${r.name}`)).toEqual([
      'Ingress/jupyter-ingress-abc',
      'Service/jupyter-service-abc',
      'ConfigMap/jupyter-config-abc',
    ]);
  });

  it.each([['Service'], ['Ingress'], ['ConfigMap']] as const)('counts a session with only a %s as orphaned', (kind) => {
    // Prepare
    const obs = observation(NS, session('solo', { kinds: [kind] }));
    // Act
    const { orphans } = findOrphans(obs);
    // Assess
    expect(orphans.map((o) => o.resources.map((r) => r.kind))).toEqual([[kind]]);
  });

  it('does not count a session whose Deployment exists, and lists it as live', () => {
    // Prepare
    const obs = observation(NS, session('alive', { kinds: ['Deployment', 'Service', 'Ingress', 'ConfigMap'] }));
    // Act
    const findings = findOrphans(obs);
    // Assess
    expect(findings.orphans).toEqual([]);
    expect([...findings.liveSessionIds]).toEqual(['alive']);
  });

  it('does not let a Deployment of another lab type with the same session id make a session live', () => {
    // Prepare: ubuntu-lab-s1 exists, jupyter-lab-s1 does not
    const obs = observation(NS, [...session('s1', { labType: 'ubuntu', kinds: ['Deployment'] }), ...session('s1', { labType: 'jupyter' })]);
    // Act
    const findings = findOrphans(obs);
    // Assess
    expect(findings.orphans.map((o) => `${o.labType}/${o.sessionId}`)).toEqual(['jupyter/s1']);
    expect([...findings.liveSessionIds]).toEqual(['s1']);
  });

  it('does not make a Deployment alone an orphan', () => {
    const findings = findOrphans(observation(NS, session('d', { kinds: ['Deployment'] })));
    expect(findings.orphans).toEqual([]);
  });

  it('ignores resources whose names do not follow the convention', () => {
    // Prepare
    const obs = observation(NS, [
      resourceRecord('Service', 'redis'),
      resourceRecord('Service', 'jupyter-service-'),
      resourceRecord('Ingress', 'my-lab-ingress-abc'),
      resourceRecord('ConfigMap', 'kube-root-ca.crt'),
      resourceRecord('Service', 'jupyter-svc-abc'),
    ]);
    // Act
    const findings = findOrphans(obs);
    // Assess
    expect(findings.orphans).toEqual([]);
    expect(findings.servicesChecked).toBe(3);
  });

  it('ignores records that belong to another namespace, whatever their names say', () => {
    // Prepare: an orphan-looking Service and a Deployment that would make `b` live, both elsewhere
    const obs = observation(NS, [
      ...session('a', { namespace: 'ubuntu-lab' }),
      ...session('b', { kinds: ['Deployment'], namespace: 'ubuntu-lab' }),
      ...session('b', { kinds: ['Service'] }),
    ]);
    // Act
    const findings = findOrphans(obs);
    // Assess
    expect(findings.orphans.map((o) => o.sessionId)).toEqual(['b']);
    expect(findings.liveSessionIds.size).toBe(0);
    expect(findings.orphans.flatMap((o) => o.resources).every((r) => r.namespace === NS)).toBe(true);
  });

  it('does not count Services of another namespace as checked', () => {
    // Prepare: a record that does not belong here (ignored for orphans, see above)
    const obs = observation(NS, [resourceRecord('Service', 'jupyter-service-a', { namespace: 'ubuntu-lab' }), resourceRecord('Service', 'x')]);
    // Act
    const findings = findOrphans(obs);
    // Assess
    expect(findings.servicesChecked).toBe(1);
  });

  it('marks a session whose Service has a ready endpoint in a labelled EndpointSlice', () => {
    // Prepare
    const obs = observation(NS, [...session('busy'), ...session('idle')], [slice('jupyter-service-busy', 1), slice('jupyter-service-idle', 0)]);
    // Act
    const { orphans } = findOrphans(obs);
    // Assess
    expect(orphans.map((o) => [o.sessionId, o.hasReadyEndpoints])).toEqual([
      ['busy', true],
      ['idle', false],
    ]);
  });

  it('ignores EndpointSlices without the service-name label, of another Service, or of another namespace', () => {
    // Prepare
    const obs = observation(NS, session('abc'), [
      slice(undefined, 3),
      slice('jupyter-service-other', 3),
      slice('jupyter-service-abc', 3, 'ubuntu-lab'),
    ]);
    // Act
    const { orphans } = findOrphans(obs);
    // Assess
    expect(orphans[0]?.hasReadyEndpoints).toBe(false);
  });

  it('counts an endpoint with `ready` unset as ready and one with `ready: false` as not (as the adapters read slices)', () => {
    // Prepare: slices as the API gives them, read by the adapters' shared reader
    const unset = toEndpointSliceRecord(NS, {
      metadata: { name: 's1', labels: { 'kubernetes.io/service-name': 'jupyter-service-unset' } },
      endpoints: [{ conditions: {} }],
    });
    const notReady = toEndpointSliceRecord(NS, {
      metadata: { name: 's2', labels: { 'kubernetes.io/service-name': 'jupyter-service-down' } },
      endpoints: [{ conditions: { ready: false } }, { conditions: { ready: false } }],
    });
    const nullConditions = toEndpointSliceRecord(NS, {
      metadata: { name: 's3', labels: { 'kubernetes.io/service-name': 'jupyter-service-nocond' } },
      endpoints: [{ conditions: null }],
    });
    const obs = observation(NS, [...session('unset'), ...session('down'), ...session('nocond')], [unset, notReady, nullConditions]);
    // Act
    const { orphans } = findOrphans(obs);
    // Assess
    expect(Object.fromEntries(orphans.map((o) => [o.sessionId, o.hasReadyEndpoints]))).toEqual({ unset: true, down: false, nocond: true });
  });

  it('keeps sessions of different lab types with the same id apart', () => {
    const { orphans } = findOrphans(observation(NS, [...session('x', { labType: 'jupyter' }), ...session('x', { labType: 'vscode' })]));
    expect(orphans.map((o) => [o.labType, o.resources.length])).toEqual([
      ['jupyter', 3],
      ['vscode', 3],
    ]);
  });
});

describe('decide', () => {
  it('cleans an orphan that is old, confirmed, idle and not kept, with reason no-deployment', () => {
    // Prepare / Act
    const plan = decideOne(session('abc'));
    // Assess
    expect(plan.decisions.map((d) => [d.action, d.reason])).toEqual([['clean', 'no-deployment']]);
    expect(plan.aborted).toBe(false);
    expect(plan.confirmationActive).toBe(true);
  });

  it.each([['Service'], ['Ingress'], ['ConfigMap']] as const)('spares a session when its %s carries the keep annotation', (kind) => {
    const plan = decideOne(session('abc', { keep: [kind] }));
    expect(plan.decisions.map((d) => [d.action, d.reason])).toEqual([['spare', 'keep-annotation']]);
  });

  it('spares a session whose Service has a ready endpoint, as has-endpoints', () => {
    const plan = decideOne(session('abc'), { slices: [slice('jupyter-service-abc', 2)] });
    expect(plan.decisions.map((d) => [d.action, d.reason])).toEqual([['spare', 'has-endpoints']]);
  });

  it('does not spare a session whose EndpointSlice has no ready endpoint', () => {
    const plan = decideOne(session('abc'), { slices: [slice('jupyter-service-abc', 0)] });
    expect(plan.decisions.map((d) => d.action)).toEqual(['clean']);
  });

  it('spares a session when any one of its resources is younger than the grace period', () => {
    // Prepare: Service and Ingress old, ConfigMap created 299 s ago with a 300 s grace period
    const plan = decideOne(session('abc', { ages: { ConfigMap: 299 } }));
    // Assess
    expect(plan.decisions.map((d) => [d.action, d.reason])).toEqual([['spare', 'too-young']]);
  });

  it('cleans a session whose youngest resource is exactly as old as the grace period', () => {
    const plan = decideOne(session('abc', { ages: { ConfigMap: 300 } }));
    expect(plan.decisions.map((d) => d.action)).toEqual(['clean']);
  });

  it('counts a resource without creation time as too young', () => {
    const plan = decideOne(session('abc', { noCreationTime: ['Ingress'] }));
    expect(plan.decisions.map((d) => [d.action, d.reason])).toEqual([['spare', 'too-young']]);
  });

  it('honours a grace period of 0 for a resource created this instant', () => {
    const plan = decideOne(session('abc', { ageSeconds: 0 }), { settings: { minAgeSeconds: 0 } });
    expect(plan.decisions.map((d) => d.action)).toEqual(['clean']);
  });

  it('spares a session never seen before as unconfirmed', () => {
    const plan = decideOne(session('abc'), { sightings: new Map() });
    expect(plan.decisions.map((d) => [d.action, d.reason, d.firstSeenAt])).toEqual([['spare', 'unconfirmed', undefined]]);
  });

  it('spares a session first seen less than the confirmation period ago, and cleans one seen exactly that long ago', () => {
    // Prepare
    const records = [...session('recent'), ...session('due')];
    // Act
    const plan = decideOne(records, { sightings: seen(NS, { recent: 239, due: 240 }) });
    // Assess
    expect(plan.decisions.map((d) => [d.orphan.sessionId, d.action, d.reason, d.firstSeenAt])).toEqual([
      ['due', 'clean', 'no-deployment', NOW - 240_000],
      ['recent', 'spare', 'unconfirmed', NOW - 239_000],
    ]);
  });

  it('does not use a sighting recorded for another namespace', () => {
    const plan = decideOne(session('abc'), { sightings: seen('ubuntu-lab', { abc: 3600 }) });
    expect(plan.decisions.map((d) => d.reason)).toEqual(['unconfirmed']);
  });

  it('makes confirmation inactive when RECONCILIATION_CONFIRM_SECONDS is 0', () => {
    const plan = decideOne(session('abc'), { sightings: new Map(), settings: { confirmSeconds: 0 } });
    expect(plan.confirmationActive).toBe(false);
    expect(plan.decisions.map((d) => d.action)).toEqual(['clean']);
  });

  it('makes confirmation inactive without a session store (no sightings at all)', () => {
    const plan = decideOne(session('abc'), { sightings: undefined });
    expect(plan.confirmationActive).toBe(false);
    expect(plan.decisions.map((d) => d.action)).toEqual(['clean']);
  });

  it('cleans none and aborts when more sessions are to be cleaned than the cap, counted over all namespaces', () => {
    // Prepare: two sessions to clean in one namespace, one in another, a cap of 2, and one
    // session spared for its own reason
    const findings = [
      findOrphans(observation(NS, [...session('a'), ...session('b'), ...session('kept', { keep: ['Service'] })])),
      findOrphans(observation('ubuntu-lab', session('c', { labType: 'ubuntu', namespace: 'ubuntu-lab' }))),
    ];
    // Act
    const plan = decide({ findings, sightings: confirmedLongAgo(findings), settings: { ...SETTINGS, maxDeletions: 2 }, now: NOW });
    // Assess
    expect(plan.aborted).toBe(true);
    expect(plan.decisions.map((d) => [d.orphan.sessionId, d.action, d.reason])).toEqual([
      ['a', 'spare', 'cap-exceeded'],
      ['b', 'spare', 'cap-exceeded'],
      ['kept', 'spare', 'keep-annotation'],
      ['c', 'spare', 'cap-exceeded'],
    ]);
  });

  it('cleans them all when the sessions to clean are exactly as many as the cap', () => {
    // Prepare
    const findings = [
      findOrphans(observation(NS, [...session('a'), ...session('b')])),
      findOrphans(observation('ubuntu-lab', session('c', { namespace: 'ubuntu-lab' }))),
    ];
    // Act
    const plan = decide({ findings, sightings: confirmedLongAgo(findings), settings: { ...SETTINGS, maxDeletions: 3 }, now: NOW });
    // Assess
    expect(plan.aborted).toBe(false);
    expect(plan.decisions.map((d) => d.action)).toEqual(['clean', 'clean', 'clean']);
  });

  it('does not count spared sessions against the cap', () => {
    // Prepare: 3 orphans, 2 of them too young; a cap of 1
    const records = [...session('old'), ...session('y1', { ageSeconds: 10 }), ...session('y2', { ageSeconds: 10 })];
    // Act
    const plan = decideOne(records, { settings: { maxDeletions: 1 } });
    // Assess
    expect(plan.aborted).toBe(false);
    expect(plan.decisions.map((d) => [d.orphan.sessionId, d.reason])).toEqual([
      ['old', 'no-deployment'],
      ['y1', 'too-young'],
      ['y2', 'too-young'],
    ]);
  });

  it('gives the reason of highest precedence: keep-annotation, has-endpoints, too-young, unconfirmed', () => {
    // Prepare: each session has every reason from its own onwards
    const all = { keep: ['Service'] as ResourceKind[], ageSeconds: 10 };
    const records = [
      ...session('k', all),
      ...session('e', { ageSeconds: 10 }),
      ...session('y', { ageSeconds: 10 }),
      ...session('u'),
    ];
    const slices = [slice('jupyter-service-k', 1), slice('jupyter-service-e', 1)];
    // Act: nobody was seen before, so all are also unconfirmed
    const plan = decideOne(records, { slices, sightings: new Map() });
    // Assess
    expect(Object.fromEntries(plan.decisions.map((d) => [d.orphan.sessionId, d.reason]))).toEqual({
      k: 'keep-annotation',
      e: 'has-endpoints',
      y: 'too-young',
      u: 'unconfirmed',
    });
  });

  it('does not let the cap override a session spared for its own reason', () => {
    const records = [...session('a'), ...session('b'), ...session('e')];
    const plan = decideOne(records, { slices: [slice('jupyter-service-e', 1)], settings: { maxDeletions: 1 } });
    expect(plan.decisions.map((d) => [d.orphan.sessionId, d.reason])).toEqual([
      ['a', 'cap-exceeded'],
      ['b', 'cap-exceeded'],
      ['e', 'has-endpoints'],
    ]);
  });

  it('may delete the session key when the session id is alive nowhere', () => {
    const plan = decideOne(session('abc'));
    expect(plan.decisions.map((d) => d.mayDeleteSessionKey)).toEqual([true]);
  });

  it('may not delete the session key when the same session id is alive in another namespace', () => {
    // Prepare
    const findings = [
      findOrphans(observation(NS, session('shared'))),
      findOrphans(observation('ubuntu-lab', session('shared', { labType: 'ubuntu', namespace: 'ubuntu-lab', kinds: ['Deployment', 'Service'] }))),
    ];
    // Act
    const plan = decide({ findings, sightings: confirmedLongAgo(findings), settings: SETTINGS, now: NOW });
    // Assess: the orphan is still cleaned, only its key is kept
    expect(plan.decisions.map((d) => [d.orphan.namespace, d.action, d.mayDeleteSessionKey])).toEqual([[NS, 'clean', false]]);
  });

  it('may not delete the session key when the same session id is alive under another lab type in the namespace', () => {
    const records = [...session('shared', { labType: 'vscode', kinds: ['Deployment'] }), ...session('shared')];
    const plan = decideOne(records);
    expect(plan.decisions.map((d) => [d.orphan.labType, d.action, d.mayDeleteSessionKey])).toEqual([['jupyter', 'clean', false]]);
  });

  it('decides in the order of the findings, namespaces first, then lab type and session id', () => {
    const findings = [
      findOrphans(observation('b-ns', [...session('z', { namespace: 'b-ns' }), ...session('a', { namespace: 'b-ns', labType: 'vscode' })])),
      findOrphans(observation('a-ns', session('m', { namespace: 'a-ns' }))),
    ];
    const plan = decide({ findings, sightings: confirmedLongAgo(findings), settings: SETTINGS, now: NOW });
    expect(plan.decisions.map((d) => `${d.orphan.namespace}/${d.orphan.labType}/${d.orphan.sessionId}`)).toEqual([
      'b-ns/jupyter/z',
      'b-ns/vscode/a',
      'a-ns/jupyter/m',
    ]);
  });
});
