/**
 * Acting on the plan's stale keys: in delete mode, each confirmed key is deleted only if it is
 * still stale in the run's own view and unchanged since its sighting (the store checks and
 * deletes in one step). Best effort, like the sessions: one failure does not stop the others.
 */
import type { Logger, SessionStore } from '../ports.js';
import type { ArchiveTarget } from './apply-archive.js';
import { archiveKey } from './apply-archive.js';
import type { StaleKeyDecision } from './keys.js';
import { forEachBounded } from './pool.js';
import { messageOf } from '../errors.js';

export type StaleKeyOutcomeAction = 'reported' | 'deleted' | 'would-delete' | 'spared' | 'failed';

/** How one stale key ended. */
export interface StaleKeyOutcome {
  key: string;
  sessionId: string;
  action: StaleKeyOutcomeAction;
  /**
   * The contract's `no-resources` (reported, deleted), `unconfirmed` (also: rewritten since its
   * sighting), `cap-exceeded`, `delete-failed` (also: not started, past the deadline or with the
   * lock lost, as `error` says); and `gone` (spared: somebody deleted it first).
   */
  reason: string;
  firstSeenAt: number | undefined;
  error?: string;
  /** The URI of its archive record, once written. */
  archive?: string;
}

export interface ApplyKeysOptions {
  store: SessionStore | undefined;
  dryRun: boolean;
  concurrency: number;
  logger: Logger;
  now: number;
  /** The time to live of a sighting that starts over (a key rewritten since it was seen). */
  sightingTtlSeconds: number;
  /** The run's own view, asked again just before each delete: no resource of this id listed. */
  stillStale: (sessionId: string) => boolean;
  shouldStart?: () => boolean;
  stillLocked?: () => boolean;
  /** Where each key is archived before its delete; undefined: no archive. */
  archive?: ArchiveTarget;
}

/** Carries out the stale keys' decisions; resolves to one outcome per decision, in order. */
export async function applyStaleKeys(decisions: readonly StaleKeyDecision[], options: ApplyKeysOptions): Promise<StaleKeyOutcome[]> {
  const { logger } = options;
  const outcomes = new Map<StaleKeyDecision, StaleKeyOutcome>();
  const toDelete: StaleKeyDecision[] = [];
  const left = new Map<string, number>();
  for (const decision of decisions) {
    if (decision.action === 'delete') toDelete.push(decision);
    else {
      const action = decision.action === 'reported' ? 'reported' : 'spared';
      outcomes.set(decision, outcome(decision, action, decision.reason));
      left.set(`${action} (${decision.reason})`, (left.get(`${action} (${decision.reason})`) ?? 0) + 1);
    }
  }
  // One line for the keys left alone, however many: a backlog of stale keys must not cost a
  // log line each, every run. The summary lists them; each delete has its own line below.
  if (left.size > 0) {
    const counts = [...left].map(([what, n]) => `${n} ${what}`).join(', ');
    logger.info(`Found ${decisions.length} stale session keys: ${counts}`, { action: 'stale-keys-found', staleKeys: decisions.length });
  }
  await forEachBounded(toDelete, options.concurrency, async (decision) => {
    outcomes.set(decision, await deleteKey(decision, options));
  }, {
    shouldStart: () => (options.stillLocked?.() ?? true) && (options.shouldStart?.() ?? true),
    onSkipped: (decision) => {
      const locked = options.stillLocked?.() ?? true;
      const result = outcome(decision, 'failed', 'delete-failed');
      result.error = locked ? 'not started: too little time was left before the deadline' : 'not started: the run lost its lock';
      logger.warn(`Skipped stale session key ${decision.key}: ${result.error}; a later run retries`, fields(decision, 'failed', locked ? 'deadline' : 'lock-lost'));
      outcomes.set(decision, result);
    },
  });
  return decisions.map((d) => outcomes.get(d)!);
}

async function deleteKey(decision: StaleKeyDecision, options: ApplyKeysOptions): Promise<StaleKeyOutcome> {
  const { store, dryRun, logger, now } = options;
  const { key, sessionId, firstSeenAt } = decision;
  // The contract's check at the moment of the delete, in the run's own view: the plan made the
  // decision from the same view, so this holds; it stays as the last guard of a key's delete.
  if (!options.stillStale(sessionId) || firstSeenAt === undefined || !store) {
    logger.warn(`Spared stale session key ${key}: session ${sessionId} is not confirmed stale`, fields(decision, 'spared', 'unconfirmed'));
    return outcome(decision, 'spared', 'unconfirmed');
  }
  if (dryRun) {
    logger.info(`Would delete stale session key ${key} (dry run)`, fields(decision, 'would-delete', 'no-resources'));
    return outcome(decision, 'would-delete', 'no-resources');
  }
  let archived: { uri: string | undefined; fingerprint: string } | undefined;
  if (options.archive) {
    const read = await archiveKey(sessionId, store, options.archive);
    if (!read.ok) {
      // The contract's reason for a stale key that was not deleted; the error says it was the archive.
      logger.error(`Left stale session key ${key} alone: ${read.error}; a later run retries`, { ...fields(decision, 'failed', 'delete-failed'), error: read.error });
      return { ...outcome(decision, 'failed', 'delete-failed'), error: read.error };
    }
    // Gone at the read: the delete finds it absent and forgets its sighting; a key back by then
    // matches no fingerprint ("none"), so it is taken for changed, never deleted unarchived.
    archived = { uri: read.uri, fingerprint: read.key?.fingerprint ?? 'none' };
  }
  // The record is named in the summary whatever the delete's end: it was written.
  const named = archived?.uri ? { archive: archived.uri } : {};
  try {
    const result = await store.deleteStaleKey(sessionId, {
      firstSeenAt,
      now,
      ttlSeconds: options.sightingTtlSeconds,
      // Only while it holds the value archived: the delete's own check, in the same step.
      ...(archived ? { fingerprint: archived.fingerprint } : {}),
    });
    if (result === 'deleted') {
      logger.info(`Deleted stale session key ${key}: no resource of session ${sessionId} exists${archived ? ` (archived to ${archived.uri})` : ''}`, fields(decision, 'deleted', 'no-resources'));
      return { ...outcome(decision, 'deleted', 'no-resources'), ...named };
    }
    if (result === 'absent') {
      logger.info(`Found stale session key ${key} already gone`, fields(decision, 'spared', 'gone'));
      return { ...outcome(decision, 'spared', 'gone'), ...named };
    }
    // Rewritten or recreated since it was seen stale: perhaps a session starting, key first.
    logger.info(`Spared stale session key ${key}: it changed since it was first seen stale; its confirmation starts over`, fields(decision, 'spared', 'unconfirmed'));
    return { ...outcome(decision, 'spared', 'unconfirmed'), firstSeenAt: now, ...named };
  } catch (error) {
    logger.error(`Failed to delete stale session key ${key}; a later run retries: ${messageOf(error)}`, { ...fields(decision, 'failed', 'delete-failed'), error: messageOf(error) });
    return { ...outcome(decision, 'failed', 'delete-failed'), error: messageOf(error), ...named };
  }
}

function outcome(decision: StaleKeyDecision, action: StaleKeyOutcomeAction, reason: string): StaleKeyOutcome {
  return { key: decision.key, sessionId: decision.sessionId, action, reason, firstSeenAt: decision.firstSeenAt };
}

function fields(decision: StaleKeyDecision, action: string, reason: string): Record<string, unknown> {
  return { key: decision.key, sessionId: decision.sessionId, action: `stale-key-${action}`, reason };
}
