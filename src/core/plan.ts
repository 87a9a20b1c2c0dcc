/**
 * The plan: pure functions from what was observed (and the sightings) to a decision per
 * session. No I/O, no clock: `now` is a parameter, so every decision can be replayed.
 */
import type { ResourceRecord } from '../ports.js';
import type { LeakedDeployment, StaleKey, StaleKeyDecision, StaleKeysMode } from './keys.js';
import { findLeakedDeployments, judgeStaleKeys } from './keys.js';

// Grouping by session happens as the lists arrive (collect.ts); re-exported for the callers of the plan.
export { findOrphans } from './collect.js';

/** Why an orphaned session was not cleaned. */
export type SpareReason = 'keep-annotation' | 'has-endpoints' | 'too-young' | 'unconfirmed' | 'cap-exceeded';

/** An orphaned session: Services, Ingresses or ConfigMaps with no Deployment. */
export interface OrphanSession {
  namespace: string;
  labType: string;
  sessionId: string;
  /** Its resources, Ingresses first (they route traffic), then Services, then ConfigMaps. */
  resources: ResourceRecord[];
  /** Whether any of its Services has a ready endpoint in an EndpointSlice. */
  hasReadyEndpoints: boolean;
}

/** What one namespace holds, as the plan sees it. */
export interface NamespaceFindings {
  namespace: string;
  servicesChecked: number;
  orphans: OrphanSession[];
  /** Session ids that have a Deployment here: alive, whatever else is true. */
  liveSessionIds: Set<string>;
  /** The Deployments of sessions: lab type, then session id, to its creation time (epoch ms). */
  deployments: ReadonlyMap<string, ReadonlyMap<string, number | undefined>>;
  /** Objects listed in all, of the five kinds, named by the convention or not. */
  objectsListed: number;
}

/** The settings the decisions depend on. */
export interface PlanSettings {
  minAgeSeconds: number;
  confirmSeconds: number;
  maxDeletions: number;
}

/** First sightings per namespace, then per session id (epoch ms). */
export type Sightings = ReadonlyMap<string, ReadonlyMap<string, number>>;

/** The store's side, when the run read its session keys (complete lists, not narrowed, a store). */
export interface KeysInput {
  mode: Exclude<StaleKeysMode, 'off'>;
  prefix: string;
  /** Every key the scan returned, under the session prefix, less those gone since. */
  scanned: ReadonlySet<string>;
  /** The session ids with a resource in a listed namespace: the run's own view. */
  withResources: ReadonlySet<string>;
  /** The scanned keys that are stale in that view (findStaleKeys), in key order. */
  stale: readonly StaleKey[];
  /** First sightings of stale keys, by session id (epoch ms). */
  sightings: ReadonlyMap<string, number>;
}

export interface PlanInput {
  findings: readonly NamespaceFindings[];
  /** Undefined when there is no session store: confirmation then acts as 0. */
  sightings: Sightings | undefined;
  settings: PlanSettings;
  now: number;
  /** Undefined when the keys were not read: then no key is judged and no Deployment is leaked. */
  keys?: KeysInput;
}

/** The decision on one orphaned session. */
export interface SessionDecision {
  orphan: OrphanSession;
  action: 'clean' | 'spare';
  /** `no-deployment` for a session to clean; otherwise why it was spared. */
  reason: 'no-deployment' | SpareReason;
  /** When it was first seen orphaned, if known. */
  firstSeenAt: number | undefined;
  /**
   * Whether its session key may be deleted once its resources are gone: not when the same
   * session id is alive in another observed namespace or lab type, since the key is shared.
   */
  mayDeleteSessionKey: boolean;
}

export interface Plan {
  decisions: SessionDecision[];
  /** The stale session keys, in key order; empty when the keys were not read. */
  staleKeys: StaleKeyDecision[];
  /**
   * Allowlisted namespaces that listed no object at all. A namespace that does not exist (a
   * typo in the allowlist) lists as empty, while the sessions it was meant to name would look
   * stale: so no stale key is deleted while one is empty (they are still reported).
   */
  emptyNamespaces: string[];
  /** Deployments without a session key; empty when the keys were not read. Never acted on. */
  leakedDeployments: LeakedDeployment[];
  /**
   * More sessions to clean and stale keys to delete, together, than `maxDeletions`: none of
   * either is deleted (the circuit breaker).
   */
  aborted: boolean;
  /** Whether sightings were used; false when confirmation acted as 0. */
  confirmationActive: boolean;
}

/**
 * Decides, for every orphaned session, whether it is cleaned or spared and why; and, when the
 * keys were read, every stale key's fate and the leaked Deployments.
 */
export function decide({ findings, sightings, settings, now, keys }: PlanInput): Plan {
  const liveAnywhere = new Set<string>();
  for (const namespace of findings) for (const id of namespace.liveSessionIds) liveAnywhere.add(id);
  const confirmationActive = sightings !== undefined && settings.confirmSeconds > 0;

  const decisions: SessionDecision[] = [];
  for (const namespace of findings) {
    const seen = sightings?.get(namespace.namespace);
    for (const orphan of namespace.orphans) {
      const firstSeenAt = seen?.get(orphan.sessionId);
      const reason = spareReason(orphan, firstSeenAt, confirmationActive, settings, now);
      decisions.push({
        orphan,
        action: reason ? 'spare' : 'clean',
        reason: reason ?? 'no-deployment',
        firstSeenAt,
        mayDeleteSessionKey: !liveAnywhere.has(orphan.sessionId),
      });
    }
  }

  const staleKeys = keys ? judgeStaleKeys(keys.stale, keys.sightings, keys.mode, settings, now) : [];
  const emptyNamespaces = findings.filter((ns) => ns.objectsListed === 0).map((ns) => ns.namespace);
  if (emptyNamespaces.length > 0) {
    for (const key of staleKeys) {
      if (key.action === 'delete') {
        key.action = 'spare';
        key.reason = 'unconfirmed';
      }
    }
  }
  const leakedDeployments = keys ? findLeakedDeployments(findings, keys.scanned, keys.prefix, settings.minAgeSeconds, now) : [];

  const toClean = decisions.filter((d) => d.action === 'clean');
  const keysToDelete = staleKeys.filter((k) => k.action === 'delete');
  const aborted = toClean.length + keysToDelete.length > settings.maxDeletions;
  if (aborted) {
    for (const decision of toClean) {
      decision.action = 'spare';
      decision.reason = 'cap-exceeded';
    }
    for (const key of keysToDelete) {
      key.action = 'spare';
      key.reason = 'cap-exceeded';
    }
  }
  return { decisions, staleKeys, emptyNamespaces, leakedDeployments, aborted, confirmationActive };
}

/** The first reason that spares a session, in order of how much a person should know it. */
function spareReason(
  orphan: OrphanSession,
  firstSeenAt: number | undefined,
  confirmationActive: boolean,
  settings: PlanSettings,
  now: number,
): SpareReason | undefined {
  if (orphan.resources.some((r) => r.keep)) return 'keep-annotation';
  if (orphan.hasReadyEndpoints) return 'has-endpoints';
  const oldEnough = now - settings.minAgeSeconds * 1000;
  // A resource without a creation time has no proven age: it counts as too young.
  if (orphan.resources.some((r) => r.createdAt === undefined || r.createdAt > oldEnough)) return 'too-young';
  if (confirmationActive && (firstSeenAt === undefined || now - firstSeenAt < settings.confirmSeconds * 1000)) {
    return 'unconfirmed';
  }
  return undefined;
}
