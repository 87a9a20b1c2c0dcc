/**
 * The orphaned sessions' sightings in the session store: read (and recorded) before the plan,
 * forgotten after the run for the sessions alive again or cleaned. The store keeps them under
 * `lab-reconciler:sighting:{namespace}:{sessionId}`, with a TTL.
 */
import type { SessionStore } from '../ports.js';
import type { SessionOutcome } from '../core/apply.js';
import type { NamespaceFindings, Sightings } from '../core/plan.js';
import { KEYS_NOT_JUDGED } from '../core/keys.js';
import { settleAll } from '../core/pool.js';
import { messageOf } from '../errors.js';
import type { RunSettings } from '../config.js';
import type { RunNotes } from './notes.js';

/** How long a sighting is kept: long enough to be confirmed by a later run, then forgotten. */
export function sightingTtlSeconds(settings: Pick<RunSettings, 'confirmSeconds' | 'intervalSeconds'>): number {
  return settings.confirmSeconds + Math.max(3 * settings.intervalSeconds, 3600);
}

/**
 * The first sightings of this run's orphans; undefined without a store (confirmation then
 * acts as 0, and the summary says so). Sightings that cannot be read confirm nothing.
 */
export async function orphanSightings(
  store: SessionStore | undefined,
  findings: readonly NamespaceFindings[],
  settings: RunSettings,
  now: number,
  notes: RunNotes,
): Promise<Sightings | undefined> {
  if (!store) {
    notes.note(`No session store is configured (UPSTASH_REDIS_REST_URL): session keys were not touched and RECONCILIATION_CONFIRM_SECONDS acted as 0, ${KEYS_NOT_JUDGED}`);
    return undefined;
  }
  if (settings.confirmSeconds === 0) return new Map();
  const result = new Map<string, Map<string, number>>();
  try {
    await settleAll(
      findings.map(async (ns) => {
        if (ns.orphans.length === 0) return;
        const ids = [...new Set(ns.orphans.map((o) => o.sessionId))];
        result.set(ns.namespace, await store.sightings(ns.namespace, ids, { now, ttlSeconds: sightingTtlSeconds(settings), readOnly: settings.dryRun }));
      }),
    );
    return result;
  } catch (error) {
    // Without sightings nothing can be confirmed: every orphan waits for a later run.
    notes.problem(`Could not read or record sightings in the session store; no session was confirmed: ${messageOf(error)}`);
    return new Map();
  }
}

/**
 * A session alive again, or cleaned, loses its sighting; the TTL takes care of the rest.
 * An id that is also orphaned here (under another lab type) keeps it.
 */
export async function forgetSightings(
  store: SessionStore,
  findings: readonly NamespaceFindings[],
  outcomes: readonly SessionOutcome[],
): Promise<void> {
  // The sighting is the namespace's and id's, shared by lab types: it goes once every orphan of
  // that id there was cleaned, and stays while one is still to be (found by a generated cluster).
  const cleaned = new Set<string>();
  const stillOrphaned = new Set<string>();
  for (const outcome of outcomes) {
    const { namespace, sessionId } = outcome.decision.orphan;
    (outcome.action === 'cleaned' ? cleaned : stillOrphaned).add(`${namespace}/${sessionId}`);
  }
  await settleAll(
    findings.map(async (ns) => {
      const orphaned = new Set(ns.orphans.map((o) => o.sessionId));
      const alive = [...ns.liveSessionIds].filter((id) => !orphaned.has(id));
      const done = [...orphaned].filter((id) => cleaned.has(`${ns.namespace}/${id}`) && !stillOrphaned.has(`${ns.namespace}/${id}`));
      const ids = [...alive, ...done];
      if (ids.length > 0) await store.forgetSightings(ns.namespace, ids);
    }),
  );
}
