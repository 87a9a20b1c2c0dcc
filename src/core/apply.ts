/**
 * Acting on a plan: archives each session to clean (apply-archive.ts), deletes its resources
 * with the uid they were listed with, then, only when every Kubernetes resource of the
 * session is gone, its session key. Best effort:
 * one failure does not stop the others; 404 counts as gone; 409 (recreated under the same
 * name) is reported and not retried.
 */
import type { Cluster, Logger, Progress, ResourceRecord, SessionStore } from '../ports.js';
import type { Plan, SessionDecision } from './plan.js';
import { nameFor, ref } from './naming.js';
import type { ArchiveTarget } from './apply-archive.js';
import { archiveSession } from './apply-archive.js';
import { deleteSessionKeys } from './delete-keys.js';
import { forEachBounded } from './pool.js';
import { messageOf } from '../errors.js';

export type SessionAction = 'cleaned' | 'would-clean' | 'spared' | 'failed';

/** What became of the session key of a session that was acted on. */
export type SessionKeyOutcome =
  | 'deleted'
  | 'absent'
  /** Not deleted, and not to be: a resource remains, a dry run, or the id is alive elsewhere. */
  | 'kept'
  /** Not deleted yet: remembered, and deleted by a later run once nothing uses it. */
  | 'pending'
  | 'failed'
  /** No session store is configured. */
  | 'no-store';

/** How one session ended. */
export interface SessionOutcome {
  decision: SessionDecision;
  action: SessionAction;
  reason: string;
  /** `Kind/name` of each resource deleted (in dry run: that the API server accepted). */
  deleted: string[];
  /** `Kind/name` of each resource found already gone (404). */
  gone: string[];
  sessionKey: SessionKeyOutcome | undefined;
  /** What went wrong, for a failed session. */
  error: string | undefined;
  /** The URI of its archive record, once written. */
  archive: string | undefined;
  /**
   * Its key as archived: the fingerprint its delete must find (only that value is deleted), or
   * null when there was no key (none is deleted: one there now came after). Undefined without
   * an archive, or when the key is not this clean's to delete.
   */
  keyFingerprint?: string | null;
}

export interface ApplyOptions {
  cluster: Cluster;
  store: SessionStore | undefined;
  dryRun: boolean;
  /** Most sessions worked on at once; each works one request at a time. */
  concurrency: number;
  logger: Logger;
  /** False when too little time is left to start another session. */
  shouldStart?: () => boolean;
  /** False once the run lost its lock: it then starts nothing more and deletes no key. */
  stillLocked?: () => boolean;
  /**
   * False when a namespace of the run could not be listed: a session id could be alive
   * there unseen, so keys are remembered as pending and left to a later run.
   */
  keysMayBeDeleted: boolean;
  /** Told of each session done (cleaned, failed or not reached) of those to clean. */
  progress?: Pick<Progress, 'cleaned'>;
  /** Where each session is archived before its first delete; undefined: no archive. */
  archive?: ArchiveTarget;
}

/**
 * Carries out the plan in three steps: remember the keys to delete, delete the sessions'
 * Kubernetes resources, then delete the keys of the session ids whose resources are all
 * gone. Resolves to one outcome per decision, in the plan's order.
 */
export async function applyPlan(plan: Plan, options: ApplyOptions): Promise<SessionOutcome[]> {
  const outcomes = new Map<SessionDecision, SessionOutcome>();
  for (const decision of plan.decisions) {
    if (decision.action === 'spare') outcomes.set(decision, spared(decision, options.logger));
  }
  const toClean = plan.decisions.filter((d) => d.action === 'clean');
  if (!(await rememberKeys(toClean, options, outcomes))) return plan.decisions.map((d) => outcomes.get(d)!);
  let done = 0;
  const finished = (decision: SessionDecision, result: SessionOutcome) => {
    outcomes.set(decision, result);
    options.progress?.cleaned(++done, toClean.length);
  };
  await forEachBounded(
    toClean,
    options.concurrency,
    async (decision) => finished(decision, await cleanSession(decision, options)),
    {
      shouldStart: () => (options.stillLocked?.() ?? true) && (options.shouldStart?.() ?? true),
      onSkipped: (decision) => finished(decision, notReached(decision, options.logger, options.stillLocked?.() ?? true)),
    },
  );
  const ordered = plan.decisions.map((d) => outcomes.get(d)!);
  await settleKeys(ordered, options);
  return ordered;
}

/**
 * Before any resource goes, its session's key is remembered as pending, so that a key whose
 * delete fails later is not lost with its last trace. A store that cannot remember cleans
 * nothing: deleting the resources would leave the key behind for good.
 */
async function rememberKeys(toClean: SessionDecision[], options: ApplyOptions, outcomes: Map<SessionDecision, SessionOutcome>): Promise<boolean> {
  const { store, dryRun, logger } = options;
  if (!store || dryRun || toClean.length === 0) return true;
  const ids = [...new Set(toClean.filter((d) => d.mayDeleteSessionKey).map((d) => d.orphan.sessionId))];
  if (ids.length === 0) return true;
  try {
    await store.markPendingKeys(ids);
    return true;
  } catch (error) {
    for (const decision of toClean) {
      const result = outcome(decision, 'failed', 'store-failed');
      result.error = `the session store could not record the keys to delete, so nothing was deleted: ${messageOf(error)}`;
      result.sessionKey = 'kept';
      outcomes.set(decision, result);
    }
    logger.error(`Cleaned no session: the session store could not record the keys to delete: ${messageOf(error)}`);
    return false;
  }
}

/**
 * Deletes the key of each session id whose every orphaned session in this run was cleaned
 * (a key is shared by all lab types and namespaces using the id). The others stay pending.
 */
async function settleKeys(outcomes: SessionOutcome[], options: ApplyOptions): Promise<void> {
  const { store, dryRun, logger } = options;
  const byId = new Map<string, SessionOutcome[]>();
  for (const o of outcomes) {
    const sharing = byId.get(o.decision.orphan.sessionId);
    if (sharing) sharing.push(o);
    else byId.set(o.decision.orphan.sessionId, [o]);
  }
  const toDelete: string[] = [];
  for (const [id, sharing] of byId) {
    const cleaned = sharing.filter((o) => o.sessionKey === undefined && (o.action === 'cleaned' || o.action === 'would-clean'));
    if (cleaned.length === 0) continue;
    const settle = (value: SessionKeyOutcome) => cleaned.forEach((o) => (o.sessionKey = value));
    if (!store) settle('no-store');
    else if (dryRun) settle('kept');
    else if (!(options.stillLocked?.() ?? true)) settle('pending');
    else if (!cleaned[0]!.decision.mayDeleteSessionKey) {
      settle('kept');
      logger.warn(`Kept session key ${store.sessionKey(id)}: session ${id} is alive in another namespace or lab type`, { sessionId: id });
    } else if (!options.keysMayBeDeleted || cleaned.length < sharing.length) {
      settle('pending');
      logger.warn(`Left session key ${store.sessionKey(id)} for a later run: ${options.keysMayBeDeleted ? 'another session with this id still has resources' : 'a namespace could not be listed'}`, { sessionId: id });
    } else toDelete.push(id);
  }
  // With an archive, a key goes only while it holds the value its session's record archived.
  const fingerprints = new Map<string, string | null>();
  for (const id of toDelete) {
    const archived = byId.get(id)!.map((o) => o.keyFingerprint).filter((f) => f !== undefined);
    if (archived.length > 0) fingerprints.set(id, archived.find((f) => f !== null) ?? null);
  }
  const results = await deleteSessionKeys(toDelete, store, options.concurrency, logger, { archive: options.archive, fingerprints });
  for (const [id, result] of results) {
    for (const o of byId.get(id)!) {
      o.sessionKey = result.outcome;
      if (result.outcome === 'failed') {
        o.action = 'failed';
        o.reason = 'session-key-failed';
        o.error = `its resources are gone, but session key ${store!.sessionKey(id)} could not be deleted (a later run retries): ${result.error}`;
      }
    }
  }
}

/**
 * The key of a session whose resources were not all deleted: remembered as pending (it was
 * marked before any delete) unless it is not to be deleted at all: a dry run, a session alive
 * again, or an id alive elsewhere.
 */
function untouchedKey(result: SessionOutcome, { store, dryRun }: ApplyOptions): SessionKeyOutcome {
  if (!store) return 'no-store';
  return dryRun || result.action === 'spared' || !result.decision.mayDeleteSessionKey ? 'kept' : 'pending';
}

function label(decision: SessionDecision): string {
  const { namespace, labType, sessionId } = decision.orphan;
  return `${namespace}/${labType}/${sessionId}`;
}

function fields(decision: SessionDecision): Record<string, unknown> {
  const { namespace, labType, sessionId, resources } = decision.orphan;
  return { namespace, labType, sessionId, resources: resources.map(ref) };
}

function outcome(decision: SessionDecision, action: SessionAction, reason: string): SessionOutcome {
  return { decision, action, reason, deleted: [], gone: [], sessionKey: undefined, error: undefined, archive: undefined };
}

function spared(decision: SessionDecision, logger: Logger): SessionOutcome {
  logger.info(`Spared orphaned session ${label(decision)}: ${decision.reason}`, {
    ...fields(decision),
    action: 'spared',
    reason: decision.reason,
  });
  return outcome(decision, 'spared', decision.reason);
}

function notReached(decision: SessionDecision, logger: Logger, locked: boolean): SessionOutcome {
  const reason = locked ? 'deadline' : 'lock-lost';
  const result = outcome(decision, 'failed', reason);
  result.error = locked ? 'not started: too little time was left before the deadline' : 'not started: the run lost its lock';
  logger.warn(`Skipped orphaned session ${label(decision)}: ${locked ? 'too little time was left' : 'the run lost its lock'}`, {
    ...fields(decision),
    action: 'failed',
    reason,
  });
  return result;
}

async function cleanSession(decision: SessionDecision, options: ApplyOptions): Promise<SessionOutcome> {
  const { cluster, dryRun, logger } = options;
  const result = outcome(decision, dryRun ? 'would-clean' : 'cleaned', 'no-deployment');
  const archived = await archiveSession(decision, { cluster, store: options.store, archive: options.archive, dryRun });
  if (!archived.ok) return archiveFailed(result, archived.error, options);
  if (archived.uri) logger.info(`Archived session ${label(decision)} to ${archived.uri}`, { ...fields(decision), action: 'archived', archive: archived.uri });
  // The last look comes after the archive (whose write may take a while), just before the first
  // delete: a Deployment recreated in the meantime spares the session, record or not.
  const revived = await deploymentReappeared(decision, options, result);
  if (revived !== false) return revived;
  result.archive = archived.uri;
  result.keyFingerprint = archived.keyFingerprint;
  const problems: string[] = [];
  let conflict = false;
  const leftAlone = (resource: ResourceRecord) => {
    conflict = true;
    problems.push(`${ref(resource)} was recreated with another uid and was left alone`);
    logger.warn(`Left ${resource.kind} ${resource.namespace}/${resource.name} alone: it was recreated with another uid since it was listed`, {
      ...fields(decision),
      action: 'conflict',
      kind: resource.kind,
      name: resource.name,
      uid: resource.uid,
    });
  };
  const alreadyGone = (resource: ResourceRecord) => {
    result.gone.push(ref(resource));
    logger.info(`Found ${resource.kind} ${resource.namespace}/${resource.name} already gone`, { ...fields(decision), action: 'gone', kind: resource.kind, name: resource.name });
  };
  archived.gone.forEach(alreadyGone);
  archived.conflicts.forEach(leftAlone);
  // One request at a time within a session keeps the run's requests in flight at most
  // `concurrency`, and lets a failure be reported per resource.
  for (const resource of archived.toDelete) {
    const name = `${resource.kind} ${resource.namespace}/${resource.name}`;
    try {
      const deleted = await cluster.delete(resource, { dryRun });
      if (deleted === 'deleted') {
        result.deleted.push(ref(resource));
        logger.info(dryRun ? `Would delete ${name} (dry run accepted)` : `Deleted ${name}`, {
          ...fields(decision),
          action: dryRun ? 'would-delete' : 'deleted',
          kind: resource.kind,
          name: resource.name,
          uid: resource.uid,
        });
      } else if (deleted === 'gone') alreadyGone(resource);
      else leftAlone(resource);
    } catch (error) {
      problems.push(`${ref(resource)}: ${messageOf(error)}`);
      logger.error(`Failed to delete ${name}: ${messageOf(error)}`, {
        ...fields(decision),
        action: 'delete-failed',
        kind: resource.kind,
        name: resource.name,
        error: messageOf(error),
      });
    }
  }

  if (problems.length > 0) {
    result.action = 'failed';
    result.reason = conflict ? 'conflict' : 'delete-failed';
    result.error = problems.join('; ');
    // A resource remains, so the session record must stay: it is the last trace.
    result.sessionKey = untouchedKey(result, options);
    return result;
  }
  return result;
}

/** A session whose record could not be written: nothing of it was deleted; a later run retries. */
function archiveFailed(result: SessionOutcome, error: string, options: ApplyOptions): SessionOutcome {
  result.action = 'failed';
  result.reason = 'archive-failed';
  result.error = error;
  result.sessionKey = untouchedKey(result, options);
  options.logger.error(`Left session ${label(result.decision)} alone: ${error}; a later run retries`, { ...fields(result.decision), action: 'archive-failed', error });
  return result;
}

/**
 * The last look before deleting: the plan was made from lists that may be seconds old, and a
 * Deployment recreated since then makes the session alive again. Resolves to the finished
 * outcome when the session must not be touched, or false to go on.
 */
async function deploymentReappeared(
  decision: SessionDecision,
  options: ApplyOptions,
  result: SessionOutcome,
): Promise<SessionOutcome | false> {
  const { cluster, logger } = options;
  const { namespace } = decision.orphan;
  const deployment = nameFor('Deployment', decision.orphan);
  try {
    if (!(await cluster.deploymentExists(namespace, deployment))) return false;
    result.action = 'spared';
    result.reason = 'deployment-reappeared';
    logger.info(`Spared orphaned session ${label(decision)}: Deployment ${namespace}/${deployment} exists again`, {
      ...fields(decision),
      action: 'spared',
      reason: 'deployment-reappeared',
    });
  } catch (error) {
    result.action = 'failed';
    result.reason = 'check-failed';
    result.error = `could not confirm that Deployment ${deployment} is still absent: ${messageOf(error)}`;
    logger.error(`Failed to read Deployment ${namespace}/${deployment}; left the session alone: ${messageOf(error)}`, {
      ...fields(decision),
      action: 'check-failed',
      error: messageOf(error),
    });
  }
  // A session alive again keeps its key; one that could not be checked may still be dead.
  result.sessionKey = untouchedKey(result, options);
  return result;
}

