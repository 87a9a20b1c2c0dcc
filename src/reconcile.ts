/**
 * One run: lock ▸ observe ▸ plan ▸ apply ▸ report. Each run starts from a full snapshot of
 * the cluster and carries nothing in memory from the last one; what must survive between
 * runs (sightings, the lock) lives in the session store.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from './config.js';
import type { Cluster, Clock, Logger, Progress, SessionStore } from './ports.js';
import { systemClock } from './ports.js';
import type { SessionOutcome } from './core/apply.js';
import { applyPlan, deleteSessionKeys } from './core/apply.js';
import { messageOf } from './errors.js';
import type { NamespaceFindings, Sightings } from './core/plan.js';
import { decide } from './core/plan.js';
import { observeAll } from './observe.js';
import type { Summary } from './core/report.js';
import { emptySummary, summarize } from './core/report.js';
import { settleAll } from './core/pool.js';

/** The settings of one run: the configuration, possibly narrowed by an event or flags. */
export type RunSettings = Pick<
  Config,
  'enabled' | 'namespaces' | 'dryRun' | 'minAgeSeconds' | 'confirmSeconds' | 'maxDeletions' | 'concurrency' | 'intervalSeconds'
>;

export interface ReconcileDependencies {
  cluster: Cluster;
  /** Undefined when no session store is configured. */
  store: SessionStore | undefined;
  logger: Logger;
  clock?: Clock;
  /** Epoch ms after which no new session is started (the Lambda's deadline less a margin). */
  deadline?: number;
  /** How long the lock is held at most if the run dies without releasing it. */
  lockTtlMs?: number;
  /** Told of the lists and the cleaning as they go (a terminal's progress line). */
  progress?: Progress;
}

const DEFAULT_LOCK_TTL_MS = 15 * 60 * 1000;

/** Runs one reconciliation and resolves to its summary; it does not throw for operational failures. */
export async function reconcile(settings: RunSettings, deps: ReconcileDependencies): Promise<Summary> {
  const clock = deps.clock ?? systemClock;
  const startedAt = clock.now();
  // Durations come from a monotonic timer: the clock may be fixed (tests, --now) or jump.
  const started = performance.now();
  const finishedAt = () => startedAt + (performance.now() - started);
  const { logger, store } = deps;
  if (!settings.enabled) {
    logger.info('Skipped the run: RECONCILIATION_ENABLED is false');
    return emptySummary('disabled', { dryRun: settings.dryRun, startedAt, finishedAt: finishedAt() });
  }

  // A dry run writes nothing to the session store, not even the lock.
  const owner = `run-${randomUUID()}`;
  const lock = store && !settings.dryRun;
  if (lock) {
    let acquired: boolean;
    try {
      acquired = await store.acquireLock(owner, deps.lockTtlMs ?? DEFAULT_LOCK_TTL_MS);
    } catch (error) {
      const message = `Could not take the run lock in the session store, so nothing was done: ${messageOf(error)}`;
      logger.error(message);
      return emptySummary('failed', { dryRun: settings.dryRun, startedAt, finishedAt: finishedAt(), warnings: [message], errors: 1 });
    }
    if (!acquired) {
      const message = 'Another run holds the lock; this run did nothing';
      logger.warn(message);
      return emptySummary('locked', { dryRun: settings.dryRun, startedAt, finishedAt: finishedAt(), warnings: [message] });
    }
  }
  const keeper = lock ? new LockKeeper(store, owner, deps.lockTtlMs ?? DEFAULT_LOCK_TTL_MS, logger) : undefined;
  // The lock is released before the summary is made, so that a release that fails is in it:
  // a lock left behind stops the next runs until its time to live runs out.
  const release = lock
    ? async (): Promise<string | undefined> => {
        const lost = keeper!.stop();
        try {
          // Released by owner only: harmless when another run took it meanwhile.
          await store.releaseLock(owner);
          return lost;
        } catch (error) {
          const message = `Failed to release the run lock; runs are locked out until it expires (at most ${Math.round((deps.lockTtlMs ?? DEFAULT_LOCK_TTL_MS) / 60_000)} minutes): ${messageOf(error)}`;
          logger.error(message);
          return message;
        }
      }
    : async () => undefined;
  try {
    return await run(settings, deps, clock, startedAt, finishedAt, release, () => keeper?.held ?? true);
  } catch (error) {
    // Not expected (run reports failures in its summary); the lock must still go.
    await release();
    throw error;
  }
}

async function run(
  settings: RunSettings,
  deps: ReconcileDependencies,
  clock: Clock,
  startedAt: number,
  finishedAt: () => number,
  release: () => Promise<string | undefined>,
  stillLocked: () => boolean,
): Promise<Summary> {
  const { cluster, store, logger } = deps;
  const warnings: string[] = [];
  let runErrors = 0;
  const problem = (message: string): void => {
    warnings.push(message);
    runErrors += 1;
    logger.error(message);
  };

  const namespaces = await observeAll(settings.namespaces, cluster, logger, deps.progress);
  const findings = namespaces.flatMap((ns) => (ns.findings ? [ns.findings] : []));
  const now = clock.now();

  let sightings: Sightings | undefined;
  if (!store) {
    warnings.push(
      'No session store is configured (UPSTASH_REDIS_REST_URL): session keys were not touched, and RECONCILIATION_CONFIRM_SECONDS acted as 0',
    );
  } else if (settings.confirmSeconds > 0) {
    try {
      sightings = await readSightings(store, findings, settings, now);
    } catch (error) {
      // Without sightings nothing can be confirmed: every orphan waits for a later run.
      sightings = new Map();
      problem(`Could not read or record sightings in the session store; no session was confirmed: ${messageOf(error)}`);
    }
  } else {
    sightings = new Map();
  }

  const plan = decide({ findings, sightings, settings, now });
  if (plan.aborted) {
    const toClean = plan.decisions.filter((d) => d.reason === 'cap-exceeded').length;
    const message = `Found ${toClean} sessions to clean, more than RECONCILIATION_MAX_DELETIONS (${settings.maxDeletions}): cleaned none (circuit breaker open)`;
    warnings.push(message);
    logger.error(message);
  }

  const allListed = namespaces.every((ns) => ns.findings !== undefined);
  const outcomes = await applyPlan(plan, {
    cluster,
    store,
    dryRun: settings.dryRun,
    concurrency: settings.concurrency,
    logger,
    shouldStart: deps.deadline === undefined ? undefined : () => clock.now() < deps.deadline!,
    keysMayBeDeleted: allListed,
    stillLocked,
    ...(deps.progress ? { progress: deps.progress } : {}),
  });

  let settledKeys = 0;
  if (store && !settings.dryRun && allListed && stillLocked()) {
    try {
      settledKeys = await settlePendingKeys(store, findings, settings.concurrency, logger);
    } catch (error) {
      problem(`Could not read the session keys left for this run to delete: ${messageOf(error)}`);
    }
  }

  if (store && !settings.dryRun && settings.confirmSeconds > 0) {
    try {
      await forgetSightings(store, findings, outcomes);
    } catch (error) {
      problem(`Could not forget the sightings of sessions no longer orphaned: ${messageOf(error)}`);
    }
  }

  const releaseProblem = await release();
  if (releaseProblem) {
    warnings.push(releaseProblem);
    runErrors += 1;
  }

  const summary = summarize({
    dryRun: settings.dryRun,
    startedAt,
    finishedAt: finishedAt(),
    namespaces,
    outcomes,
    aborted: plan.aborted,
    runErrors,
    warnings,
    extraSessionKeysDeleted: settledKeys,
  });
  logger.info(`Finished the run: ${summary.status}`, { totals: summary.totals, status: summary.status });
  return summary;
}

/**
 * Keeps the run lock while the run works: renews it every third of its time to live, so that
 * a long run is not overtaken by the next one. A renewal that fails, or finds the lock taken,
 * marks it lost: the run then starts no more sessions and deletes no more keys.
 */
class LockKeeper {
  held = true;
  private problem: string | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: SessionStore,
    private readonly owner: string,
    private readonly ttlMs: number,
    private readonly logger: Logger,
  ) {
    this.timer = setInterval(() => void this.renew(), Math.max(10, Math.floor(ttlMs / 3)));
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    if (!this.held) return;
    try {
      if (await this.store.renewLock(this.owner, this.ttlMs)) return;
      this.lose('the run lock expired and another run may hold it');
    } catch (error) {
      this.lose(`the run lock could not be renewed: ${messageOf(error)}`);
    }
  }

  private lose(why: string): void {
    if (!this.held) return;
    this.held = false;
    this.problem = `Stopped acting: ${why}; sessions not yet started were left for a later run`;
    this.logger.error(this.problem);
  }

  /** Stops renewing; resolves to what went wrong when the lock was lost. */
  stop(): string | undefined {
    clearInterval(this.timer);
    return this.problem;
  }
}

/**
 * Deletes the keys an earlier run left pending (its delete failed, or was put off) once no
 * listed namespace has a session with that id; forgets those whose session is alive again.
 * Resolves to the number of keys deleted.
 */
async function settlePendingKeys(store: SessionStore, findings: readonly NamespaceFindings[], concurrency: number, logger: Logger): Promise<number> {
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
  const gone = pending.filter((id) => !alive.has(id) && !orphaned.has(id));
  const results = await deleteSessionKeys(gone, store, concurrency, logger);
  const failed = [...results.values()].filter((r) => r.outcome === 'failed').length;
  if (failed > 0) throw new Error(`${failed} of ${gone.length} pending session keys could not be deleted; a later run retries`);
  return [...results.values()].filter((r) => r.outcome === 'deleted').length;
}

/** How long a sighting is kept: long enough to be confirmed by a later run, then forgotten. */
export function sightingTtlSeconds(settings: Pick<RunSettings, 'confirmSeconds' | 'intervalSeconds'>): number {
  return settings.confirmSeconds + Math.max(3 * settings.intervalSeconds, 3600);
}

async function readSightings(
  store: SessionStore,
  findings: readonly NamespaceFindings[],
  settings: RunSettings,
  now: number,
): Promise<Sightings> {
  const result = new Map<string, Map<string, number>>();
  await settleAll(
    findings.map(async (ns) => {
      if (ns.orphans.length === 0) return;
      const ids = [...new Set(ns.orphans.map((o) => o.sessionId))];
      result.set(ns.namespace, await store.sightings(ns.namespace, ids, { now, ttlSeconds: sightingTtlSeconds(settings), readOnly: settings.dryRun }));
    }),
  );
  return result;
}

/**
 * A session alive again, or cleaned, loses its sighting; the TTL takes care of the rest.
 * An id that is also orphaned here (under another lab type) keeps it.
 */
async function forgetSightings(
  store: SessionStore,
  findings: readonly NamespaceFindings[],
  outcomes: readonly SessionOutcome[],
): Promise<void> {
  const cleaned = new Map<string, string[]>();
  for (const outcome of outcomes) {
    if (outcome.action !== 'cleaned') continue;
    const { namespace, sessionId } = outcome.decision.orphan;
    const ids = cleaned.get(namespace) ?? [];
    ids.push(sessionId);
    cleaned.set(namespace, ids);
  }
  await settleAll(
    findings.map(async (ns) => {
      const orphaned = new Set(ns.orphans.map((o) => o.sessionId));
      const alive = [...ns.liveSessionIds].filter((id) => !orphaned.has(id));
      const ids = [...alive, ...(cleaned.get(ns.namespace) ?? [])];
      if (ids.length > 0) await store.forgetSightings(ns.namespace, ids);
    }),
  );
}
