/**
 * Grouping a namespace's objects by session as they are listed, keeping only what a decision
 * needs. A session with a Deployment is alive whatever else it has: of it, only its id is
 * kept, and its other objects are counted and dropped as they arrive. Only sessions not (yet)
 * seen alive keep their records, so memory follows the orphans and the session ids, not the
 * objects of live sessions. Pure: the adapters feed it, nothing here does I/O.
 */
import type { EndpointSliceRecord, NamespaceObservation, ObservationSink, ResourceKind, ResourceRecord } from '../ports.js';
import { parseName } from './naming.js';
import type { NamespaceFindings, OrphanSession } from './plan.js';

const DELETE_ORDER = { Ingress: 0, Service: 1, ConfigMap: 2, Deployment: 3 } as const;

/** A session not seen alive so far: its records, and its Services that have ready endpoints. */
interface Pending {
  labType: string;
  sessionId: string;
  resources: ResourceRecord[];
  readyServices: Set<string> | undefined;
}

/**
 * Collects one namespace's lists into its findings. The lists may arrive interleaved, in any
 * order; a list that starts again from its first page (its continue token expired) calls
 * {@link restarted}, which forgets what that list gave before, except what makes a session
 * safer: a Deployment seen, or a ready endpoint seen, by the first attempt still counts.
 */
export class SessionCollector implements ObservationSink {
  /** Session ids with a Deployment, per lab type, with the Deployment's creation time. */
  private readonly live = new Map<string, Map<string, number | undefined>>();
  private readonly pending = new Map<string, Map<string, Pending>>();
  private readonly counts: Record<ResourceKind | 'EndpointSlice', number> = { Deployment: 0, Service: 0, Ingress: 0, ConfigMap: 0, EndpointSlice: 0 };

  constructor(readonly namespace: string) {}

  /** Objects listed so far, all kinds (for progress). */
  get listed(): number {
    const c = this.counts;
    return c.Deployment + c.Service + c.Ingress + c.ConfigMap + c.EndpointSlice;
  }

  resource(record: ResourceRecord): void {
    // A record from another namespace is never acted on here, whatever its name says.
    if (record.namespace !== this.namespace) return;
    this.counts[record.kind] += 1;
    const name = parseName(record.kind, record.name);
    if (!name) return;
    const { labType, sessionId } = name;
    if (record.kind === 'Deployment') {
      let ids = this.live.get(labType);
      if (!ids) this.live.set(labType, (ids = new Map()));
      ids.set(sessionId, record.createdAt);
      this.pending.get(labType)?.delete(sessionId);
      return;
    }
    if (this.isLive(labType, sessionId)) return;
    this.pendingOf(labType, sessionId).resources.push(record);
  }

  endpointSlice(record: EndpointSliceRecord): void {
    if (record.namespace !== this.namespace) return;
    this.counts.EndpointSlice += 1;
    if (!record.serviceName || record.readyEndpoints <= 0) return;
    // A slice whose Service name is not a session's cannot spare a session.
    const name = parseName('Service', record.serviceName);
    if (!name || this.isLive(name.labType, name.sessionId)) return;
    const pending = this.pendingOf(name.labType, name.sessionId);
    (pending.readyServices ??= new Set()).add(record.serviceName);
  }

  restarted(kind: ResourceKind | 'EndpointSlice'): void {
    // Deployments and ready endpoints seen once keep sparing: forgetting them could only clean more.
    if (kind === 'Deployment' || kind === 'EndpointSlice') return;
    this.counts[kind] = 0;
    for (const sessions of this.pending.values()) {
      for (const pending of sessions.values()) pending.resources = pending.resources.filter((r) => r.kind !== kind);
    }
  }

  /** The findings, once every list is complete. */
  findings(): NamespaceFindings {
    const orphans: OrphanSession[] = [];
    for (const sessions of this.pending.values()) {
      for (const p of sessions.values()) {
        if (p.resources.length === 0) continue;
        p.resources.sort((a, b) => DELETE_ORDER[a.kind] - DELETE_ORDER[b.kind] || a.name.localeCompare(b.name));
        orphans.push({
          namespace: this.namespace,
          labType: p.labType,
          sessionId: p.sessionId,
          resources: p.resources,
          hasReadyEndpoints: p.resources.some((r) => r.kind === 'Service' && p.readyServices?.has(r.name) === true),
        });
      }
    }
    orphans.sort((a, b) => a.labType.localeCompare(b.labType) || a.sessionId.localeCompare(b.sessionId));
    const liveSessionIds = new Set<string>();
    for (const ids of this.live.values()) for (const id of ids.keys()) liveSessionIds.add(id);
    return { namespace: this.namespace, servicesChecked: this.counts.Service, orphans, liveSessionIds, deployments: this.live, objectsListed: this.listed };
  }

  private isLive(labType: string, sessionId: string): boolean {
    return this.live.get(labType)?.has(sessionId) === true;
  }

  private pendingOf(labType: string, sessionId: string): Pending {
    let sessions = this.pending.get(labType);
    if (!sessions) this.pending.set(labType, (sessions = new Map()));
    let pending = sessions.get(sessionId);
    if (!pending) sessions.set(sessionId, (pending = { labType, sessionId, resources: [], readyServices: undefined }));
    return pending;
  }
}

/** Feeds a whole observation, list by list, into a sink: for adapters that hold one in memory. */
export function replay(observation: NamespaceObservation, sink: ObservationSink): void {
  for (const list of [observation.deployments, observation.services, observation.ingresses, observation.configMaps]) {
    for (const record of list) sink.resource(record);
  }
  for (const slice of observation.endpointSlices) sink.endpointSlice(slice);
}

/** Groups a namespace's resources by session and finds the sessions without a Deployment. */
export function findOrphans(observation: NamespaceObservation): NamespaceFindings {
  const collector = new SessionCollector(observation.namespace);
  replay(observation, collector);
  return collector.findings();
}
