/**
 * Reporting: outcomes → the contract's summary, and the summary → metric values. Pure.
 */
import type { SessionKeyOutcome, SessionOutcome } from './apply.js';
import { ref } from './naming.js';
import type { StaleKeyOutcome, StaleKeyOutcomeAction } from './apply-keys.js';
import type { LeakedDeployment } from './keys.js';
import { KEYS_NOT_JUDGED } from './keys.js';

/**
 * Most stale keys the summary lists: a backlog of 100,000 would make a response no Lambda can
 * return (6 MB). Those acted on come first; the totals count them all, a warning says so.
 */
export const MAX_LISTED_STALE_KEYS = 1000;
import type { NamespaceFindings } from './plan.js';

export type RunStatus = 'ok' | 'partial' | 'failed' | 'aborted' | 'disabled' | 'locked';

export interface Totals {
  namespacesChecked: number;
  servicesChecked: number;
  orphanedFound: number;
  cleanedUp: number;
  spared: number;
  resourcesDeleted: number;
  sessionKeysDeleted: number;
  errors: number;
  /** Keys under the session prefix with no resource of their session in any listed namespace. */
  staleSessionKeys: number;
  staleSessionKeysDeleted: number;
  leakedDeployments: number;
}

export interface NamespaceSummary {
  namespace: string;
  servicesChecked: number;
  orphanedFound: number;
  cleanedUp: number;
  spared: number;
  errors: number;
  leakedDeployments: number;
  /** Why the namespace was not reconciled, when it was not. */
  error?: string;
}

export interface SessionSummary {
  namespace: string;
  labType: string;
  sessionId: string;
  action: SessionOutcome['action'];
  reason: string;
  resources: string[];
  /** What became of its session key, once it was acted on. */
  sessionKey?: SessionKeyOutcome;
  /** Its archive record's URI (`s3://bucket/key` or a file path), once written. */
  archive?: string;
  /** What went wrong, for a failed session. */
  error?: string;
}

export interface StaleKeySummary {
  key: string;
  sessionId: string;
  action: StaleKeyOutcomeAction;
  reason: string;
  /** When it was first seen stale, unchanged since; absent when not known. */
  firstSeenAt?: string;
  /** Its archive record's URI, once deleted with an archive. */
  archive?: string;
  error?: string;
}

/** The run's summary: the Lambda's response and the command line's `--output json`. */
export interface Summary {
  status: RunStatus;
  dryRun: boolean;
  startedAt: string;
  durationMs: number;
  totals: Totals;
  namespaces: NamespaceSummary[];
  sessions: SessionSummary[];
  /** Session keys without a session; empty when the run did not read the keys. */
  staleSessionKeys: StaleKeySummary[];
  /** Deployments without a session key, for a person to look at; never acted on. */
  leakedDeployments: LeakedDeployment[];
  /** What an operator should know about the run as a whole (no session store, store errors...). */
  warnings: string[];
}

/** One namespace as the run saw it: findings when it was listed completely, an error otherwise. */
export type NamespaceResult =
  | { namespace: string; findings: NamespaceFindings; error?: undefined }
  | { namespace: string; findings?: undefined; error: string };

export interface SummaryInput {
  dryRun: boolean;
  startedAt: number;
  finishedAt: number;
  namespaces: readonly NamespaceResult[];
  outcomes: readonly SessionOutcome[];
  /** The stale keys' outcomes; empty when the keys were not read. */
  staleKeys?: readonly StaleKeyOutcome[];
  leakedDeployments?: readonly LeakedDeployment[];
  /** The circuit breaker opened: too many sessions to clean. */
  aborted: boolean;
  /** Errors that belong to no namespace or session (session store, lock...). */
  runErrors: number;
  warnings: readonly string[];
  /** Keys deleted outside any session of this run (left pending by an earlier run). */
  extraSessionKeysDeleted?: number;
}

const EMPTY_TOTALS: Totals = {
  namespacesChecked: 0,
  servicesChecked: 0,
  orphanedFound: 0,
  cleanedUp: 0,
  spared: 0,
  resourcesDeleted: 0,
  sessionKeysDeleted: 0,
  errors: 0,
  staleSessionKeys: 0,
  staleSessionKeysDeleted: 0,
  leakedDeployments: 0,
};

/** Builds the summary of a run that reached the cluster. */
export function summarize(input: SummaryInput): Summary {
  const leaked = input.leakedDeployments ?? [];
  const staleKeys = input.staleKeys ?? [];
  const namespaces = input.namespaces.map((result) => namespaceSummary(result, input.outcomes, leaked));
  const totals: Totals = { ...EMPTY_TOTALS, errors: input.runErrors, sessionKeysDeleted: input.extraSessionKeysDeleted ?? 0 };
  for (const ns of namespaces) {
    totals.namespacesChecked += ns.error === undefined ? 1 : 0;
    totals.servicesChecked += ns.servicesChecked;
    totals.orphanedFound += ns.orphanedFound;
    totals.cleanedUp += ns.cleanedUp;
    totals.spared += ns.spared;
    totals.errors += ns.errors;
  }
  for (const outcome of input.outcomes) {
    if (!input.dryRun) totals.resourcesDeleted += outcome.deleted.length;
    if (outcome.sessionKey === 'deleted') totals.sessionKeysDeleted += 1;
  }
  totals.staleSessionKeys = staleKeys.length;
  totals.staleSessionKeysDeleted = staleKeys.filter((k) => k.action === 'deleted').length;
  totals.leakedDeployments = leaked.length;
  totals.errors += staleKeys.filter((k) => k.action === 'failed').length;
  const listed = listedStaleKeys(staleKeys);
  const warnings = [...input.warnings];
  if (listed.length < staleKeys.length) {
    warnings.push(`Listed ${listed.length} of the ${staleKeys.length} stale session keys in staleSessionKeys (those deleted or failed first); the totals count them all`);
  }
  return {
    status: statusOf(input, totals),
    dryRun: input.dryRun,
    startedAt: new Date(input.startedAt).toISOString(),
    durationMs: Math.max(0, Math.round(input.finishedAt - input.startedAt)),
    totals,
    namespaces,
    sessions: input.outcomes.map(sessionSummary),
    staleSessionKeys: listed.map(staleKeySummary),
    leakedDeployments: leaked.map((d) => ({ ...d })),
    warnings,
  };
}

function statusOf(input: SummaryInput, totals: Totals): RunStatus {
  const reconciled = input.namespaces.some((ns) => ns.findings !== undefined);
  if (!reconciled) return 'failed';
  if (input.aborted) return 'aborted';
  return totals.errors > 0 ? 'partial' : 'ok';
}

function namespaceSummary(result: NamespaceResult, outcomes: readonly SessionOutcome[], leaked: readonly LeakedDeployment[]): NamespaceSummary {
  if (!result.findings) {
    return { namespace: result.namespace, servicesChecked: 0, orphanedFound: 0, cleanedUp: 0, spared: 0, errors: 1, leakedDeployments: 0, error: result.error };
  }
  const mine = outcomes.filter((o) => o.decision.orphan.namespace === result.namespace);
  return {
    namespace: result.namespace,
    servicesChecked: result.findings.servicesChecked,
    orphanedFound: result.findings.orphans.length,
    cleanedUp: mine.filter((o) => o.action === 'cleaned').length,
    spared: mine.filter((o) => o.action === 'spared').length,
    errors: mine.filter((o) => o.action === 'failed').length,
    leakedDeployments: leaked.filter((d) => d.namespace === result.namespace).length,
  };
}

/** At most {@link MAX_LISTED_STALE_KEYS}: the deleted, would-delete and failed first, in key order within each. */
function listedStaleKeys(staleKeys: readonly StaleKeyOutcome[]): readonly StaleKeyOutcome[] {
  if (staleKeys.length <= MAX_LISTED_STALE_KEYS) return staleKeys;
  const acted = (k: StaleKeyOutcome) => k.action === 'deleted' || k.action === 'would-delete' || k.action === 'failed';
  return [...staleKeys.filter(acted), ...staleKeys.filter((k) => !acted(k))].slice(0, MAX_LISTED_STALE_KEYS);
}

/**
 * Whether the run judged the session keys: it reached the cluster, and no warning says the keys
 * were not judged (every such warning ends with {@link KEYS_NOT_JUDGED}).
 */
export function keysJudged(summary: Pick<Summary, 'namespaces' | 'warnings'>): boolean {
  return summary.namespaces.length > 0 && !summary.warnings.some((w) => w.includes(KEYS_NOT_JUDGED));
}

function staleKeySummary(outcome: StaleKeyOutcome): StaleKeySummary {
  const summary: StaleKeySummary = { key: outcome.key, sessionId: outcome.sessionId, action: outcome.action, reason: outcome.reason };
  if (outcome.firstSeenAt !== undefined) summary.firstSeenAt = new Date(outcome.firstSeenAt).toISOString();
  if (outcome.archive !== undefined) summary.archive = outcome.archive;
  if (outcome.error !== undefined) summary.error = outcome.error;
  return summary;
}

function sessionSummary(outcome: SessionOutcome): SessionSummary {
  const { namespace, labType, sessionId, resources } = outcome.decision.orphan;
  const summary: SessionSummary = {
    namespace,
    labType,
    sessionId,
    action: outcome.action,
    reason: outcome.reason,
    resources: resources.map(ref),
  };
  if (outcome.sessionKey !== undefined) summary.sessionKey = outcome.sessionKey;
  if (outcome.archive !== undefined) summary.archive = outcome.archive;
  if (outcome.error !== undefined) summary.error = outcome.error;
  return summary;
}

/** The summary of a run that did nothing by design (`disabled`, `locked`) or could not start (`failed`). */
export function emptySummary(
  status: RunStatus,
  { dryRun, startedAt, finishedAt, warnings = [], errors = 0 }: { dryRun: boolean; startedAt: number; finishedAt: number; warnings?: string[]; errors?: number },
): Summary {
  return {
    status,
    dryRun,
    startedAt: new Date(startedAt).toISOString(),
    durationMs: Math.max(0, Math.round(finishedAt - startedAt)),
    totals: { ...EMPTY_TOTALS, errors },
    namespaces: [],
    sessions: [],
    staleSessionKeys: [],
    leakedDeployments: [],
    warnings,
  };
}

/** The contract's metric names. */
export type MetricName =
  | 'RunsCompleted'
  | 'NamespacesChecked'
  | 'ServicesChecked'
  | 'OrphanedFound'
  | 'SessionsCleaned'
  | 'SessionsSpared'
  | 'ResourcesDeleted'
  | 'SessionKeysDeleted'
  | 'Errors'
  | 'CircuitBreakerOpen'
  | 'StaleSessionKeys'
  | 'StaleSessionKeysDeleted'
  | 'LeakedDeployments'
  | 'DurationMs';

/** The metrics of the other direction: not emitted by a run that did not judge the keys. */
const KEY_METRICS: readonly MetricName[] = ['StaleSessionKeys', 'StaleSessionKeysDeleted', 'LeakedDeployments'];

export interface MetricValues {
  /**
   * Per run, dimension `Cluster`. The key metrics are absent when the keys were not judged: a
   * 0 would read as "none found" and end the LeakedDeployments alarm's streak.
   */
  run: Partial<Record<MetricName, number>>;
  /** Per namespace, dimensions `Cluster` and `Namespace`. */
  namespaces: { namespace: string; values: Partial<Record<MetricName, number>> }[];
}

/** The metrics of a run, computed from its summary alone. */
export function metricValues(summary: Summary): MetricValues {
  const { totals } = summary;
  const judged = keysJudged(summary);
  const values: MetricValues = {
    run: {
      RunsCompleted: 1,
      NamespacesChecked: totals.namespacesChecked,
      ServicesChecked: totals.servicesChecked,
      OrphanedFound: totals.orphanedFound,
      SessionsCleaned: totals.cleanedUp,
      SessionsSpared: totals.spared,
      ResourcesDeleted: totals.resourcesDeleted,
      SessionKeysDeleted: totals.sessionKeysDeleted,
      Errors: totals.errors,
      CircuitBreakerOpen: summary.status === 'aborted' ? 1 : 0,
      StaleSessionKeys: totals.staleSessionKeys,
      StaleSessionKeysDeleted: totals.staleSessionKeysDeleted,
      LeakedDeployments: totals.leakedDeployments,
      DurationMs: summary.durationMs,
    },
    namespaces: summary.namespaces.map((ns) => ({
      namespace: ns.namespace,
      values: {
        ServicesChecked: ns.servicesChecked,
        OrphanedFound: ns.orphanedFound,
        SessionsCleaned: ns.cleanedUp,
        SessionsSpared: ns.spared,
        Errors: ns.errors,
        LeakedDeployments: ns.leakedDeployments,
      },
    })),
  };
  if (!judged) {
    for (const name of KEY_METRICS) delete values.run[name];
    for (const ns of values.namespaces) delete ns.values.LeakedDeployments;
  }
  return values;
}
