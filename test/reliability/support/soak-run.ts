/**
 * The race soak's records of its runs and of what the monitor counted (soak-monitor.ts).
 */
import type { RunSettings } from '../../../src/reconcile.js';
import type { Summary } from '../../../src/core/report.js';

/** One reconcile() call of the soak, with what the servers saw of it. */
export interface SoakRun {
  label: string;
  /** Its own bearer token: how the API server tells its requests from another run's. */
  token: string;
  settings: RunSettings;
  /** The virtual time the run's clock says. */
  now: number;
  pageSize: number;
  clusterConcurrency: number;
  /** How long its lock lasts when it dies without releasing it (the product's default when undefined). */
  lockTtlMs?: number;
  requests: number;
  /** DELETEs served 200 without dryRun. */
  deletesAccepted: number;
  /** Deployments this run read (GET) and found absent: `{namespace}/{name}`. */
  readAbsent: Set<string>;
  finished: boolean;
  summary?: Summary;
  /** Error lines the product logged, to explain a failure. */
  errors: string[];
  /** Called at each of its requests with their count so far (to start another run mid-way). */
  onRequest?: (count: number) => void;
}

export interface MonitorStats {
  runs: number;
  locked: number;
  aborted: number;
  partial: number;
  dryRuns: number;
  deletes: Record<string, number>;
  conflicts: number;
  sessionsCleaned: number;
  sparedReappeared: number;
  keyDeletesChecked: number;
  windowHits: number;
  /** Stale key deletes (the compare-and-delete EVAL) that reached Redis. */
  staleKeyDeletesSent: number;
  /** Stale keys the runs reported deleted, and those their delete found gone already. */
  staleKeysDeleted: number;
  staleKeysGone: number;
  /** Checks that every live session's key was still there. */
  liveKeysChecked: number;
}
