/**
 * Acting on the plan's stale keys: in delete mode, each confirmed key is deleted only if it is
 * still stale in the run's own view and unchanged since its sighting (the store checks and
 * deletes in one step). Best effort, like the sessions: one failure does not stop the others.
 */
import type { Logger, SessionStore } from '../ports.js';
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
   * `no-resources` (reported, deleted), `unconfirmed` (also: rewritten since its sighting),
   * `cap-exceeded`, `gone` (somebody deleted it first), `has-resources` (the last check
   * found its session alive), `delete-failed`, `deadline`, `lock-lost`.
   */
  reason: string;
  firstSeenAt: number | undefined;
  error?: string;
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
}

/** Carries out the stale keys' decisions; resolves to one outcome per decision, in order. */
export async function applyStaleKeys(decisions: readonly StaleKeyDecision[], options: ApplyKeysOptions): Promise<StaleKeyOutcome[]> {
  const { logger } = options;
  const outcomes = new Map<StaleKeyDecision, StaleKeyOutcome>();
  const toDelete: StaleKeyDecision[] = [];
  for (const decision of decisions) {
    if (decision.action === 'delete') toDelete.push(decision);
    else {
      const action = decision.action === 'reported' ? 'reported' : 'spared';
      outcomes.set(decision, outcome(decision, action, decision.reason));
      logger.info(`${action === 'reported' ? 'Found' : 'Spared'} stale session key ${decision.key}: ${decision.reason}`, fields(decision, action, decision.reason));
    }
  }
  await forEachBounded(toDelete, options.concurrency, async (decision) => {
    outcomes.set(decision, await deleteKey(decision, options));
  }, {
    shouldStart: () => (options.stillLocked?.() ?? true) && (options.shouldStart?.() ?? true),
    onSkipped: (decision) => {
      const locked = options.stillLocked?.() ?? true;
      const reason = locked ? 'deadline' : 'lock-lost';
      const result = outcome(decision, 'failed', reason);
      result.error = locked ? 'not started: too little time was left before the deadline' : 'not started: the run lost its lock';
      logger.warn(`Skipped stale session key ${decision.key}: ${result.error}`, fields(decision, 'failed', reason));
      outcomes.set(decision, result);
    },
  });
  return decisions.map((d) => outcomes.get(d)!);
}

async function deleteKey(decision: StaleKeyDecision, options: ApplyKeysOptions): Promise<StaleKeyOutcome> {
  const { store, dryRun, logger, now } = options;
  const { key, sessionId } = decision;
  if (!options.stillStale(sessionId)) {
    logger.warn(`Spared stale session key ${key}: session ${sessionId} has resources after all`, fields(decision, 'spared', 'has-resources'));
    return outcome(decision, 'spared', 'has-resources');
  }
  if (dryRun || !store || decision.firstSeenAt === undefined) {
    logger.info(`Would delete stale session key ${key} (dry run)`, fields(decision, 'would-delete', 'no-resources'));
    return outcome(decision, 'would-delete', 'no-resources');
  }
  try {
    const result = await store.deleteStaleKey(sessionId, { firstSeenAt: decision.firstSeenAt, now, ttlSeconds: options.sightingTtlSeconds });
    if (result === 'deleted') {
      logger.info(`Deleted stale session key ${key}: no resource of session ${sessionId} exists`, fields(decision, 'deleted', 'no-resources'));
      return outcome(decision, 'deleted', 'no-resources');
    }
    if (result === 'absent') {
      logger.info(`Found stale session key ${key} already gone`, fields(decision, 'spared', 'gone'));
      return outcome(decision, 'spared', 'gone');
    }
    // Rewritten or recreated since it was seen stale: perhaps a session starting, key first.
    logger.info(`Spared stale session key ${key}: it changed since it was first seen stale; its confirmation starts over`, fields(decision, 'spared', 'unconfirmed'));
    return { ...outcome(decision, 'spared', 'unconfirmed'), firstSeenAt: now };
  } catch (error) {
    logger.error(`Failed to delete stale session key ${key}; a later run retries: ${messageOf(error)}`, { ...fields(decision, 'failed', 'delete-failed'), error: messageOf(error) });
    return { ...outcome(decision, 'failed', 'delete-failed'), error: messageOf(error) };
  }
}

function outcome(decision: StaleKeyDecision, action: StaleKeyOutcomeAction, reason: string): StaleKeyOutcome {
  return { key: decision.key, sessionId: decision.sessionId, action, reason, firstSeenAt: decision.firstSeenAt };
}

function fields(decision: StaleKeyDecision, action: string, reason: string): Record<string, unknown> {
  return { key: decision.key, sessionId: decision.sessionId, action: `stale-key-${action}`, reason };
}
