/**
 * The other direction: session keys without a session, and Deployments without a key. Pure
 * functions of what the run observed (the namespaces' findings, the store's keys, the stale
 * keys' sightings) and `now`; the plan (plan.ts) puts them beside the orphaned sessions.
 */
import type { NamespaceFindings } from './plan.js';
import { OWN_KEY_PREFIX, nameFor, sessionIdOfKey } from './naming.js';

/** What a run does with stale session keys (`RECONCILIATION_STALE_KEYS`). */
export type StaleKeysMode = 'report' | 'delete' | 'off';
export const STALE_KEYS_MODES: readonly StaleKeysMode[] = ['report', 'delete', 'off'];

/** Ends every warning of a run that did not judge the keys (the table relies on it). */
export const KEYS_NOT_JUDGED = 'so no stale session key or leaked Deployment was looked for';

/** A key under the session prefix whose session id has no resource in any listed namespace. */
export interface StaleKey {
  key: string;
  sessionId: string;
}

export type StaleKeyAction = 'reported' | 'delete' | 'spare';
export type StaleKeyReason = 'no-resources' | 'unconfirmed' | 'cap-exceeded';

/** The decision on one stale key. */
export interface StaleKeyDecision extends StaleKey {
  /** `reported` in report mode; in delete mode `delete` once confirmed, else `spare`. */
  action: StaleKeyAction;
  reason: StaleKeyReason;
  /** When it was first seen stale (and unchanged since), if known. */
  firstSeenAt: number | undefined;
}

/** A Deployment whose session key is not in the store: pods that run for a session that ended. */
export interface LeakedDeployment {
  namespace: string;
  labType: string;
  sessionId: string;
  name: string;
  ageSeconds: number;
}

/** Every session id with at least one resource (any kind, any lab type) in a listed namespace. */
export function sessionsWithResources(findings: readonly NamespaceFindings[]): Set<string> {
  const ids = new Set<string>();
  for (const ns of findings) {
    for (const id of ns.liveSessionIds) ids.add(id);
    for (const orphan of ns.orphans) ids.add(orphan.sessionId);
  }
  return ids;
}

/**
 * The stale keys among the scanned ones, in key order: keys whose session id no listed
 * namespace has a resource of. Keys that are not judged (the product's own, or ids no resource
 * name could carry) are never stale; a key scanned twice counts once.
 */
export function findStaleKeys(keys: Iterable<string>, prefix: string, withResources: ReadonlySet<string>): StaleKey[] {
  const stale = new Map<string, StaleKey>();
  for (const key of keys) {
    const sessionId = sessionIdOfKey(key, prefix);
    if (sessionId === undefined || withResources.has(sessionId)) continue;
    stale.set(key, { key, sessionId });
  }
  return [...stale.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** How many keys under the prefix, not the product's own, carry an id that cannot be judged (for the warnings). */
export function unjudgedKeys(keys: Iterable<string>, prefix: string): number {
  let count = 0;
  for (const key of keys) if (key.startsWith(prefix) && !key.startsWith(OWN_KEY_PREFIX) && sessionIdOfKey(key, prefix) === undefined) count += 1;
  return count;
}

/** How long a stale key must have been seen stale, unchanged, before it may be deleted. */
export function keyConfirmSeconds(settings: { minAgeSeconds: number; confirmSeconds: number }): number {
  return Math.max(settings.minAgeSeconds, settings.confirmSeconds);
}

/**
 * Decides each stale key: reported in report mode; in delete mode, deleted only when an
 * earlier run saw it stale (a sighting older than this run) at least the confirm period ago.
 * The cap is applied by the plan, with the sessions to clean.
 */
export function judgeStaleKeys(
  stale: readonly StaleKey[],
  sightings: ReadonlyMap<string, number>,
  mode: Exclude<StaleKeysMode, 'off'>,
  settings: { minAgeSeconds: number; confirmSeconds: number },
  now: number,
): StaleKeyDecision[] {
  const period = keyConfirmSeconds(settings) * 1000;
  return stale.map(({ key, sessionId }) => {
    const firstSeenAt = sightings.get(sessionId);
    if (mode === 'report') return { key, sessionId, action: 'reported', reason: 'no-resources', firstSeenAt };
    // A sighting made by this very run (at `now`) is a first sighting, never a confirmation.
    const confirmed = firstSeenAt !== undefined && firstSeenAt < now && now - firstSeenAt >= period;
    return confirmed
      ? { key, sessionId, action: 'delete', reason: 'no-resources', firstSeenAt }
      : { key, sessionId, action: 'spare', reason: 'unconfirmed', firstSeenAt };
  });
}

/**
 * Deployments older than the grace period whose session key is not among the scanned keys,
 * by namespace, lab type and session id. A Deployment without a creation time has no proven
 * age and is not reported.
 */
export function findLeakedDeployments(
  findings: readonly NamespaceFindings[],
  keys: ReadonlySet<string>,
  prefix: string,
  minAgeSeconds: number,
  now: number,
): LeakedDeployment[] {
  const leaked: LeakedDeployment[] = [];
  const oldEnough = now - minAgeSeconds * 1000;
  for (const ns of findings) {
    for (const [labType, sessions] of ns.deployments) {
      for (const [sessionId, createdAt] of sessions) {
        if (createdAt === undefined || createdAt > oldEnough || keys.has(`${prefix}${sessionId}`)) continue;
        leaked.push({
          namespace: ns.namespace,
          labType,
          sessionId,
          name: nameFor('Deployment', { labType, sessionId }),
          ageSeconds: Math.floor((now - createdAt) / 1000),
        });
      }
    }
  }
  return leaked.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.labType.localeCompare(b.labType) || a.sessionId.localeCompare(b.sessionId));
}
