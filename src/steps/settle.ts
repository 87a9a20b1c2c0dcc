/**
 * The settle step, after the deletes: what the session store must remember, or forget, for the
 * next runs. Keys an earlier run left pending are deleted once nothing uses them; sightings of
 * sessions alive again (or cleaned) and of keys no longer stale are forgotten. A dry run
 * writes nothing; a run that lost its lock deletes no key.
 */
import type { Logger, SessionStore } from '../ports.js';
import type { SessionOutcome } from '../core/apply.js';
import type { ArchiveTarget } from '../core/apply-archive.js';
import { deleteSessionKeys } from '../core/delete-keys.js';
import type { KeysInput, NamespaceFindings, Plan } from '../core/plan.js';
import { messageOf } from '../errors.js';
import type { RunSettings } from '../config.js';
import type { RunNotes } from './notes.js';
import { forgetSightings } from './sightings.js';

export interface SettleInput {
  store: SessionStore | undefined;
  settings: RunSettings;
  findings: readonly NamespaceFindings[];
  /** Whether every namespace of the run was listed completely. */
  allListed: boolean;
  plan: Plan;
  outcomes: readonly SessionOutcome[];
  /** The keys as the plan saw them; undefined when they were not judged. */
  keys: KeysInput | undefined;
  stillLocked: () => boolean;
  logger: Logger;
  notes: RunNotes;
  /** Where a pending key is archived before its delete; undefined: no archive. */
  archive?: ArchiveTarget | undefined;
}

/** Settles the store; resolves to the number of pending keys deleted. Never rejects. */
export async function settle({ store, settings, findings, allListed, plan, outcomes, keys, stillLocked, logger, notes, archive }: SettleInput): Promise<number> {
  if (!store || settings.dryRun) return 0;
  let settledKeys = 0;
  if (allListed && stillLocked()) {
    try {
      // The stale keys this run set out to delete are its stale-key step's (archived and deleted
      // there, or not): one record, one delete, a run.
      const staleNow = new Set(plan.staleKeys.filter((k) => k.action === 'delete').map((k) => k.sessionId));
      settledKeys = await settlePendingKeys(store, findings, settings.concurrency, logger, archive, staleNow);
    } catch (error) {
      notes.problem(`Could not read the session keys left for this run to delete: ${messageOf(error)}`);
    }
  }
  if (settings.confirmSeconds > 0) {
    try {
      await forgetSightings(store, findings, outcomes);
    } catch (error) {
      notes.problem(`Could not forget the sightings of sessions no longer orphaned: ${messageOf(error)}`);
    }
  }
  if (keys) {
    try {
      // Only a run that judged every key knows which are no longer stale.
      await store.forgetKeySightingsExcept(new Set(plan.staleKeys.map((k) => k.sessionId)));
    } catch (error) {
      notes.problem(`Could not forget the sightings of session keys no longer stale: ${messageOf(error)}`);
    }
  }
  return settledKeys;
}

/**
 * Deletes the keys an earlier run left pending (its delete failed, or was put off) once no
 * listed namespace has a session with that id; forgets those whose session is alive again.
 * Resolves to the number of keys deleted.
 */
async function settlePendingKeys(
  store: SessionStore,
  findings: readonly NamespaceFindings[],
  concurrency: number,
  logger: Logger,
  archive: ArchiveTarget | undefined,
  staleNow: ReadonlySet<string>,
): Promise<number> {
  const pending = await store.pendingKeys();
  if (pending.length === 0) return 0;
  const alive = new Set<string>();
  const orphaned = new Set<string>();
  for (const ns of findings) {
    for (const id of ns.liveSessionIds) alive.add(id);
    for (const orphan of ns.orphans) orphaned.add(orphan.sessionId);
  }
  const revived = pending.filter((id) => alive.has(id));
  if (revived.length > 0) {
    await store.unmarkPendingKeys(revived);
    logger.info(`Forgot ${revived.length} pending session keys: their sessions are alive again`, { sessionIds: revived });
  }
  // An id still orphaned somewhere is the plan's business, this run or a later one.
  const gone = pending.filter((id) => !alive.has(id) && !orphaned.has(id) && !staleNow.has(id));
  // Archived alone first (when there is an archive): its session's record may be older than its value.
  const results = await deleteSessionKeys(gone, store, concurrency, logger, { archive });
  const failed = [...results.values()].filter((r) => r.outcome === 'failed').length;
  if (failed > 0) throw new Error(`${failed} of ${gone.length} pending session keys could not be deleted; a later run retries`);
  return [...results.values()].filter((r) => r.outcome === 'deleted').length;
}
