/**
 * Acting on a plan: deletes each session's resources with the uid it was listed with, then,
 * only when every Kubernetes resource of the session is gone, its session key. Best effort:
 * one failure does not stop the others; 404 counts as gone; 409 (recreated under the same
 * name) is reported and not retried.
 */
import type { Cluster, Logger, ResourceRecord, SessionStore } from '../ports.js';
import type { Plan, SessionDecision } from './plan.js';
import { nameFor } from './naming.js';
import { forEachBounded } from './pool.js';

export type SessionAction = 'cleaned' | 'would-clean' | 'spared' | 'failed';

/** What became of the session key of a session that was acted on. */
export type SessionKeyOutcome =
  | 'deleted'
  | 'absent'
  /** Not deleted: a resource remains, the run was a dry run, or the id is alive elsewhere. */
  | 'kept'
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
}

/** Carries out the plan; resolves to one outcome per decision, in the plan's order. */
export async function applyPlan(plan: Plan, options: ApplyOptions): Promise<SessionOutcome[]> {
  const outcomes = new Map<SessionDecision, SessionOutcome>();
  for (const decision of plan.decisions) {
    if (decision.action === 'spare') outcomes.set(decision, spared(decision, options.logger));
  }
  const toClean = plan.decisions.filter((d) => d.action === 'clean');
  await forEachBounded(
    toClean,
    options.concurrency,
    async (decision) => {
      outcomes.set(decision, await cleanSession(decision, options));
    },
    {
      shouldStart: options.shouldStart,
      onSkipped: (decision) => outcomes.set(decision, notReached(decision, options.logger)),
    },
  );
  return plan.decisions.map((d) => outcomes.get(d)!);
}

function label(decision: SessionDecision): string {
  const { namespace, labType, sessionId } = decision.orphan;
  return `${namespace}/${labType}/${sessionId}`;
}

function fields(decision: SessionDecision): Record<string, unknown> {
  const { namespace, labType, sessionId, resources } = decision.orphan;
  return { namespace, labType, sessionId, resources: resources.map(ref) };
}

/** `Kind/name`, as the summary lists resources. */
export function ref(resource: Pick<ResourceRecord, 'kind' | 'name'>): string {
  return `${resource.kind}/${resource.name}`;
}

function outcome(decision: SessionDecision, action: SessionAction, reason: string): SessionOutcome {
  return { decision, action, reason, deleted: [], gone: [], sessionKey: undefined, error: undefined };
}

function spared(decision: SessionDecision, logger: Logger): SessionOutcome {
  logger.info(`Spared orphaned session ${label(decision)}: ${decision.reason}`, {
    ...fields(decision),
    action: 'spared',
    reason: decision.reason,
  });
  return outcome(decision, 'spared', decision.reason);
}

function notReached(decision: SessionDecision, logger: Logger): SessionOutcome {
  const result = outcome(decision, 'failed', 'deadline');
  result.error = 'not started: too little time was left before the deadline';
  logger.warn(`Skipped orphaned session ${label(decision)}: too little time was left`, {
    ...fields(decision),
    action: 'failed',
    reason: 'deadline',
  });
  return result;
}

async function cleanSession(decision: SessionDecision, options: ApplyOptions): Promise<SessionOutcome> {
  const { cluster, dryRun, logger } = options;
  const result = outcome(decision, dryRun ? 'would-clean' : 'cleaned', 'no-deployment');
  const revived = await deploymentReappeared(decision, options, result);
  if (revived !== false) return revived;
  const problems: string[] = [];
  let conflict = false;
  // One request at a time within a session keeps the run's requests in flight at most
  // `concurrency`, and lets a failure be reported per resource.
  for (const resource of decision.orphan.resources) {
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
      } else if (deleted === 'gone') {
        result.gone.push(ref(resource));
        logger.info(`Found ${name} already gone`, { ...fields(decision), action: 'gone', kind: resource.kind, name: resource.name });
      } else {
        conflict = true;
        problems.push(`${ref(resource)} was recreated with another uid and was left alone`);
        logger.warn(`Left ${name} alone: it was recreated with another uid since it was listed`, {
          ...fields(decision),
          action: 'conflict',
          kind: resource.kind,
          name: resource.name,
          uid: resource.uid,
        });
      }
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
    result.sessionKey = options.store ? 'kept' : 'no-store';
    return result;
  }
  result.sessionKey = await deleteSessionKey(decision, options, result);
  return result;
}

/**
 * The last look before deleting: the plan was made from lists that may be seconds old, and a
 * Deployment recreated since then makes the session alive again. Resolves to the finished
 * outcome when the session must not be touched, or false to go on.
 */
async function deploymentReappeared(
  decision: SessionDecision,
  { cluster, store, logger }: ApplyOptions,
  result: SessionOutcome,
): Promise<SessionOutcome | false> {
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
  result.sessionKey = store ? 'kept' : 'no-store';
  return result;
}

async function deleteSessionKey(
  decision: SessionDecision,
  { store, dryRun, logger }: ApplyOptions,
  result: SessionOutcome,
): Promise<SessionKeyOutcome> {
  if (!store) return 'no-store';
  const key = store.sessionKey(decision.orphan.sessionId);
  if (dryRun) return 'kept';
  if (!decision.mayDeleteSessionKey) {
    logger.warn(`Kept session key ${key}: session ${decision.orphan.sessionId} is alive elsewhere`, fields(decision));
    return 'kept';
  }
  try {
    const existed = await store.deleteSessionKey(decision.orphan.sessionId);
    logger.info(existed ? `Deleted session key ${key}` : `Found session key ${key} already gone`, {
      ...fields(decision),
      action: existed ? 'deleted-session-key' : 'session-key-absent',
      key,
    });
    return existed ? 'deleted' : 'absent';
  } catch (error) {
    result.action = 'failed';
    result.reason = 'session-key-failed';
    result.error = `session key ${key}: ${messageOf(error)}`;
    logger.error(`Failed to delete session key ${key}: ${messageOf(error)}`, { ...fields(decision), key, error: messageOf(error) });
    return 'failed';
  }
}

/** The message of anything thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
