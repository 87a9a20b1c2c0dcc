/**
 * The collector that groups a namespace's lists by session as they arrive. Its findings must
 * be those of grouping the whole observation at once (the reference below is the grouping the
 * product used before lists were streamed), whatever the order in which the lists' objects
 * arrive and interleave; and what it keeps must follow the orphans, not the live sessions.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { EndpointSliceRecord, NamespaceObservation, ResourceKind, ResourceRecord } from '../../src/ports.js';
import { SessionCollector, findOrphans } from '../../src/core/collect.js';
import type { NamespaceFindings, OrphanSession } from '../../src/core/plan.js';
import { parseName, sessionKeyOf } from '../../src/core/naming.js';

const NS = 'jupyter-lab';
const KINDS: ResourceKind[] = ['Deployment', 'Service', 'Ingress', 'ConfigMap'];
const ROLE: Record<ResourceKind, string> = { Deployment: 'lab', Service: 'service', Ingress: 'ingress', ConfigMap: 'config' };

function record(kind: ResourceKind, name: string, extra: Partial<ResourceRecord> = {}): ResourceRecord {
  return { kind, namespace: NS, name, uid: `uid-${kind}-${name}`, createdAt: 1_000, keep: false, ...extra };
}

function slice(serviceName: string | undefined, readyEndpoints: number, namespace = NS): EndpointSliceRecord {
  return { namespace, name: `${serviceName ?? 'x'}-abcde`, serviceName, readyEndpoints };
}

/** The grouping of a whole observation at once, as the product did before lists were streamed. */
function referenceFindings(observation: NamespaceObservation): NamespaceFindings {
  const { namespace } = observation;
  const groups = new Map<string, { labType: string; sessionId: string; live: boolean; resources: ResourceRecord[] }>();
  const groupOf = (r: ResourceRecord) => {
    if (r.namespace !== namespace) return undefined;
    const name = parseName(r.kind, r.name);
    if (!name) return undefined;
    const key = sessionKeyOf(name);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { ...name, live: false, resources: [] }));
    return group;
  };
  const deployments = new Map<string, Map<string, number | undefined>>();
  for (const d of observation.deployments) {
    const group = groupOf(d);
    if (!group) continue;
    group.live = true;
    if (!deployments.has(group.labType)) deployments.set(group.labType, new Map());
    deployments.get(group.labType)!.set(group.sessionId, d.createdAt);
  }
  for (const r of [...observation.services, ...observation.ingresses, ...observation.configMaps]) groupOf(r)?.resources.push(r);
  const ready = new Set(observation.endpointSlices.filter((s) => s.namespace === namespace && s.serviceName && s.readyEndpoints > 0).map((s) => s.serviceName!));
  const order = { Ingress: 0, Service: 1, ConfigMap: 2, Deployment: 3 };
  const orphans: OrphanSession[] = [];
  const liveSessionIds = new Set<string>();
  for (const g of groups.values()) {
    if (g.live) {
      liveSessionIds.add(g.sessionId);
      continue;
    }
    if (g.resources.length === 0) continue;
    g.resources.sort((a, b) => order[a.kind] - order[b.kind] || a.name.localeCompare(b.name));
    orphans.push({ namespace, labType: g.labType, sessionId: g.sessionId, resources: g.resources, hasReadyEndpoints: g.resources.some((r) => r.kind === 'Service' && ready.has(r.name)) });
  }
  orphans.sort((a, b) => a.labType.localeCompare(b.labType) || a.sessionId.localeCompare(b.sessionId));
  return { namespace, servicesChecked: observation.services.filter((s) => s.namespace === namespace).length, orphans, liveSessionIds, deployments, objectsListed: objectsIn(observation, namespace) };
}

function objectsIn(observation: NamespaceObservation, namespace: string): number {
  const { deployments, services, ingresses, configMaps, endpointSlices } = observation;
  return [...deployments, ...services, ...ingresses, ...configMaps, ...endpointSlices].filter((o) => o.namespace === namespace).length;
}

type Arrival = { type: 'resource'; record: ResourceRecord } | { type: 'slice'; record: EndpointSliceRecord };

const observationArb: fc.Arbitrary<NamespaceObservation> = fc
  .record({
    sessions: fc.array(
      fc.record({
        labType: fc.constantFrom('jupyter', 'ubuntu', 'pg16'),
        sessionId: fc.constantFrom('a', 'b2', 'c-d', 'x.y', 's1', 's2', 's3'),
        kinds: fc.subarray(KINDS),
        keep: fc.boolean(),
        ready: fc.constantFrom(0, 0, 1, 2),
        otherNamespace: fc.boolean(),
      }),
      { maxLength: 25 },
    ),
    broken: fc.array(fc.constantFrom('redis', 'jupyter-service-', 'jupyter-lab-', 'Jupyter-service-a', 'kube-root-ca.crt'), { maxLength: 4 }),
  })
  .map(({ sessions, broken }) => {
    const observation: NamespaceObservation = { namespace: NS, deployments: [], services: [], ingresses: [], configMaps: [], endpointSlices: [] };
    const listOf = { Deployment: observation.deployments, Service: observation.services, Ingress: observation.ingresses, ConfigMap: observation.configMaps };
    sessions.forEach((s, i) => {
      for (const kind of s.kinds) {
        const name = `${s.labType}-${ROLE[kind]}-${s.sessionId}`;
        const namespace = s.otherNamespace && kind !== 'Deployment' ? 'kube-system' : NS;
        listOf[kind].push(record(kind, name, { namespace, uid: `u${i}-${kind}`, keep: s.keep && kind !== 'Deployment' }));
      }
      if (s.ready >= 0) observation.endpointSlices.push(slice(`${s.labType}-service-${s.sessionId}`, s.ready));
    });
    for (const name of broken) observation.services.push(record('Service', name));
    return observation;
  });

/** The observation's objects, each list in its own order, interleaved as `picks` says. */
function interleaved(observation: NamespaceObservation, picks: number[]): Arrival[] {
  const queues: Arrival[][] = [
    ...[observation.deployments, observation.services, observation.ingresses, observation.configMaps].map((l) => l.map((record): Arrival => ({ type: 'resource', record }))),
    observation.endpointSlices.map((record): Arrival => ({ type: 'slice', record })),
  ];
  const out: Arrival[] = [];
  let p = 0;
  while (queues.some((q) => q.length > 0)) {
    const open = queues.filter((q) => q.length > 0);
    out.push(open[(picks[p++ % Math.max(1, picks.length)] ?? 0) % open.length]!.shift()!);
  }
  return out;
}

function collect(arrivals: Arrival[]): NamespaceFindings {
  const collector = new SessionCollector(NS);
  for (const a of arrivals) {
    if (a.type === 'resource') collector.resource(a.record);
    else collector.endpointSlice(a.record);
  }
  return collector.findings();
}

describe('SessionCollector', () => {
  it('finds what grouping the whole observation at once finds, whatever the order the lists arrive and interleave in', () => {
    fc.assert(
      fc.property(observationArb, fc.array(fc.nat({ max: 100 }), { minLength: 1, maxLength: 50 }), (observation, picks) => {
        // Prepare
        const expected = referenceFindings(observation);

        // Act
        const found = collect(interleaved(observation, picks));

        // Assess
        expect(found).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps no record of a live session once its Deployment was seen, whichever came first', () => {
    // Prepare: a Service before its Deployment, an Ingress after it
    const collector = new SessionCollector(NS);

    // Act
    collector.resource(record('Service', 'jupyter-service-a'));
    collector.resource(record('Deployment', 'jupyter-lab-a'));
    collector.resource(record('Ingress', 'jupyter-ingress-a'));
    collector.endpointSlice(slice('jupyter-service-a', 1));
    const findings = collector.findings();

    // Assess
    expect(findings.orphans).toEqual([]);
    expect([...findings.liveSessionIds]).toEqual(['a']);
    expect(findings.servicesChecked).toBe(1);
    expect(collector.listed).toBe(4);
  });

  it('forgets what a restarted list gave before, so that an object listed twice is one record', () => {
    // Prepare: the Services list gave a and b, then restarted and gave only b
    const collector = new SessionCollector(NS);
    collector.resource(record('Service', 'jupyter-service-a'));
    collector.resource(record('Service', 'jupyter-service-b'));
    collector.resource(record('ConfigMap', 'jupyter-config-a'));

    // Act
    collector.restarted('Service');
    collector.resource(record('Service', 'jupyter-service-b'));
    const findings = collector.findings();

    // Assess: a keeps its ConfigMap only; b has one Service, not two
    expect(findings.servicesChecked).toBe(1);
    expect(findings.orphans.map((o) => [o.sessionId, o.resources.map((r) => r.name)])).toEqual([
      ['a', ['jupyter-config-a']],
      ['b', ['jupyter-service-b']],
    ]);
  });

  it('keeps a Deployment or a ready endpoint seen before a restart: forgetting them could only clean more', () => {
    // Prepare: the Deployments and EndpointSlices lists restart after giving a live session and a ready endpoint
    const collector = new SessionCollector(NS);
    collector.resource(record('Deployment', 'jupyter-lab-a'));
    collector.endpointSlice(slice('jupyter-service-b', 1));
    collector.restarted('Deployment');
    collector.restarted('EndpointSlice');

    // Act
    collector.resource(record('Service', 'jupyter-service-a'));
    collector.resource(record('Service', 'jupyter-service-b'));
    const findings = collector.findings();

    // Assess
    expect([...findings.liveSessionIds]).toEqual(['a']);
    expect(findings.orphans.map((o) => [o.sessionId, o.hasReadyEndpoints])).toEqual([['b', true]]);
  });

  it('ignores objects of another namespace and slices of Services outside the convention', () => {
    // Prepare
    const observation: NamespaceObservation = {
      namespace: NS,
      deployments: [record('Deployment', 'jupyter-lab-a', { namespace: 'other' })],
      services: [record('Service', 'jupyter-service-a'), record('Service', 'redis')],
      ingresses: [],
      configMaps: [],
      endpointSlices: [slice('redis', 3), slice('jupyter-service-a', 1, 'other')],
    };

    // Act
    const findings = findOrphans(observation);

    // Assess: the Deployment of another namespace does not keep a alive here, nor does its slice
    expect(findings.orphans.map((o) => [o.sessionId, o.hasReadyEndpoints])).toEqual([['a', false]]);
    expect(findings.servicesChecked).toBe(2);
  });
});
