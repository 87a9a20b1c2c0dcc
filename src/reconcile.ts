/**
 * One run: lock ▸ observe (cluster and keys) ▸ plan ▸ apply (archive, then delete) ▸ settle ▸ report. Each run starts
 * from a full snapshot of the cluster and the store's keys and carries nothing in memory from
 * the last one; what must survive between runs (sightings, pending keys, the lock) lives in
 * the session store (src/steps/).
 */
import type { RunSettings } from './config.js';
import type { Archive, Cluster, Clock, Logger, Progress, SessionStore } from './ports.js';
import { systemClock } from './ports.js';
import { applyPlan } from './core/apply.js';
import { applyStaleKeys } from './core/apply-keys.js';
import type { ArchiveTarget } from './core/apply-archive.js';
import { decide } from './core/plan.js';
import type { Summary } from './core/report.js';
import { emptySummary, summarize } from './core/report.js';
import { observeAll } from './observe.js';
import { takeLock } from './steps/lock.js';
import type { HeldLock } from './steps/lock.js';
import { keySightingTtlSeconds, keysForPlan, scanKeys } from './steps/keys.js';
import { RunNotes } from './steps/notes.js';
import { orphanSightings } from './steps/sightings.js';
import { settle } from './steps/settle.js';

export { sightingTtlSeconds } from './steps/sightings.js';

export type { RunSettings } from './config.js';

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
  /**
   * Where each session is archived before its first delete; undefined: none (the run warns,
   * a dry run too: what it plans would not be restorable); null: none by design (a snapshot).
   */
  archive?: Archive | null;
  /** The cluster's name in archive records (the `Cluster` metric dimension); default its description. */
  clusterName?: string;
}

/** Runs one reconciliation and resolves to its summary; it does not throw for operational failures. */
export async function reconcile(settings: RunSettings, deps: ReconcileDependencies): Promise<Summary> {
  const clock = deps.clock ?? systemClock;
  const startedAt = clock.now();
  // Durations come from a monotonic timer: the clock may be fixed (tests, --now) or jump.
  const started = performance.now();
  const finishedAt = () => startedAt + (performance.now() - started);
  const times = { dryRun: settings.dryRun, startedAt, finishedAt };
  if (!settings.enabled) {
    deps.logger.info('Skipped the run: RECONCILIATION_ENABLED is false');
    return emptySummary('disabled', { ...times, finishedAt: finishedAt() });
  }

  // A dry run writes nothing to the session store, not even the lock.
  const lock = await takeLock(deps.store, { dryRun: settings.dryRun, ttlMs: deps.lockTtlMs, logger: deps.logger });
  if ('status' in lock) {
    return emptySummary(lock.status, { ...times, finishedAt: finishedAt(), warnings: [lock.message], errors: lock.status === 'failed' ? 1 : 0 });
  }
  try {
    return await run(settings, deps, clock, lock, times);
  } catch (error) {
    // Not expected (run reports failures in its summary); the lock must still go.
    await lock.release();
    throw error;
  }
}

async function run(
  settings: RunSettings,
  deps: ReconcileDependencies,
  clock: Clock,
  lock: HeldLock,
  times: { dryRun: boolean; startedAt: number; finishedAt: () => number },
): Promise<Summary> {
  const { cluster, store, logger } = deps;
  const notes = new RunNotes(logger);

  // Observe: the cluster's lists and the store's keys, side by side.
  const [namespaces, scan] = await Promise.all([
    observeAll(settings.namespaces, cluster, logger, deps.progress),
    scanKeys(store, settings, logger),
  ]);
  const findings = namespaces.flatMap((ns) => (ns.findings ? [ns.findings] : []));
  const allListed = namespaces.every((ns) => ns.findings !== undefined);
  const now = clock.now();
  const sightings = await orphanSightings(store, findings, settings, now, notes);
  const keys = await keysForPlan(scan, namespaces, settings, now, notes);

  // Plan: pure, from what was observed.
  const plan = decide({ findings, sightings, settings, now, ...(keys ? { keys } : {}) });
  if (plan.aborted) notes.circuitBreaker(plan, settings.maxDeletions);
  if (keys?.mode === 'delete' && plan.emptyNamespaces.length > 0) notes.emptyNamespaces(plan.emptyNamespaces);

  // Apply: the sessions' resources (then their keys), then the stale keys.
  const { dryRun, concurrency } = settings;
  const shouldStart = deps.deadline === undefined ? undefined : () => clock.now() < deps.deadline!;
  const common = { store, dryRun, concurrency, logger, stillLocked: lock.stillLocked, ...(shouldStart ? { shouldStart } : {}) };
  const progress = deps.progress ? { progress: deps.progress } : {};
  const archive = archiveTarget(deps, times.startedAt, settings.dryRun, notes);
  const outcomes = await applyPlan(plan, { ...common, cluster, keysMayBeDeleted: allListed, ...progress, ...archive });
  // The contract's last check of a stale key, in the run's own view (the plan's, without keys none is stale).
  const stillStale = (id: string) => keys !== undefined && !keys.withResources.has(id);
  const keyOutcomes = await applyStaleKeys(plan.staleKeys, { ...common, ...archive, now, sightingTtlSeconds: keySightingTtlSeconds(settings), stillStale });

  // Settle: what the store keeps for the next runs; then the lock goes, before the report.
  const { stillLocked } = lock;
  const settledKeys = await settle({ store, settings, findings, allListed, plan, outcomes, keys, stillLocked, logger, notes, ...archive });
  notes.add(await lock.release());

  // Report: the summary, from the outcomes alone (the metrics are made from it by the caller).
  const summary = summarize({
    dryRun: settings.dryRun,
    startedAt: times.startedAt,
    finishedAt: times.finishedAt(),
    namespaces,
    outcomes,
    staleKeys: keyOutcomes,
    leakedDeployments: plan.leakedDeployments,
    aborted: plan.aborted,
    runErrors: notes.errors,
    warnings: notes.warnings,
    extraSessionKeysDeleted: settledKeys,
  });
  logger.info(`Finished the run: ${summary.status}`, { totals: summary.totals, status: summary.status });
  return summary;
}

/** Where this run archives; without an archive, a run that may delete says so. */
function archiveTarget(deps: ReconcileDependencies, startedAt: number, dryRun: boolean, notes: RunNotes): { archive?: ArchiveTarget } {
  if (!deps.archive) {
    // A warning of the run, in its summary either way; logged as one only when it deletes.
    const say = dryRun ? notes.note.bind(notes) : notes.warn.bind(notes);
    if (deps.archive === undefined) say(`No archive is configured (ARCHIVE_BUCKET, or ARCHIVE_DIR / --archive-dir): what this run ${dryRun ? 'would delete could not be' : 'deletes cannot be'} restored`);
    return {};
  }
  return { archive: { archive: deps.archive, cluster: deps.clusterName ?? deps.cluster.description, runStartedAt: new Date(startedAt).toISOString() } };
}
