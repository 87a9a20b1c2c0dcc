/**
 * The scenarios of the benchmark, each a row of the table: how many namespaces, live
 * sessions and orphaned sessions the local API server holds before one run.
 */

/** One shape of cluster to reconcile once. */
export interface Scenario {
  /** Short key, used by `--only` and in results.json. */
  name: string;
  /** The row's label in the table. */
  label: string;
  namespaces: string[];
  /** Sessions with a Deployment (alive) in each namespace. */
  livePerNamespace: number;
  /** Orphaned sessions (Service, Ingress, ConfigMap, no Deployment), spread over the namespaces. */
  orphans: number;
  /** The run's cap (`RECONCILIATION_MAX_DELETIONS`): the contract's default, raised for a burst. */
  maxDeletions: number;
}

export const LAB_NAMESPACES = ['jupyter-lab', 'ubuntu-lab', 'vscode-lab', 'postgresql-lab'];
const DEFAULT_CAP = 50;

/** The scenarios the issue asks for. */
export function standardScenarios(): Scenario[] {
  // `sessions` in all, 5 of them orphaned, so that the three rows are 250, 2,500 and 25,000.
  const growth = (sessions: number): Scenario => ({
    name: `growth-${sessions}`,
    label: `growth: 1 ns x ${sessions.toLocaleString('en-US')} (5 orphans)`,
    namespaces: ['jupyter-lab'],
    livePerNamespace: sessions - 5,
    orphans: 5,
    maxDeletions: DEFAULT_CAP,
  });
  return [
    {
      name: 'steady',
      label: 'steady: 4 ns x 2,500, 5 orphans',
      namespaces: LAB_NAMESPACES,
      livePerNamespace: 2_500,
      orphans: 5,
      maxDeletions: DEFAULT_CAP,
    },
    {
      name: 'burst',
      label: 'burst: 4 ns x 2,500, 1,000 orphans',
      namespaces: LAB_NAMESPACES,
      livePerNamespace: 2_500,
      orphans: 1_000,
      // The cap raised so the burst is cleaned rather than stopped by the circuit breaker.
      maxDeletions: 1_000,
    },
    largeScenario(25_000),
    growth(250),
    growth(2_500),
    growth(25_000),
  ];
}

/** 4 namespaces of `perNamespace` live sessions, 5 orphans: the large row (4 x 25,000), and the rows of the sizing table. */
export function largeScenario(perNamespace: number, kind: 'large' | 'sizing' = 'large'): Scenario {
  const count = (n: number) => n.toLocaleString('en-US');
  return {
    name: kind === 'large' && perNamespace === 25_000 ? 'large' : `${kind}-${perNamespace}`,
    label: `${kind}: 4 ns x ${count(perNamespace)}, 5 orphans`,
    namespaces: LAB_NAMESPACES,
    livePerNamespace: perNamespace,
    orphans: 5,
    maxDeletions: DEFAULT_CAP,
  };
}

/** Sessions in the whole scenario, live and orphaned. */
export function totalSessions(scenario: Scenario): number {
  return scenario.namespaces.length * scenario.livePerNamespace + scenario.orphans;
}

/**
 * The same scenario shrunk to at most `cap` sessions, keeping the share of orphans (at least
 * one when there were any). The baseline sends one request at a time, a few per Service, so
 * at full scale it would take minutes; its requests are then computed exactly for the full
 * scenario and its wall time extrapolated from this smaller run. `cap` 0 means no cap.
 */
export function scaledDown(scenario: Scenario, cap: number): Scenario {
  const total = totalSessions(scenario);
  if (cap <= 0 || total <= cap) return scenario;
  const factor = cap / total;
  const orphans = scenario.orphans === 0 ? 0 : Math.max(1, Math.round(scenario.orphans * factor));
  const livePerNamespace = Math.max(1, Math.floor((cap - orphans) / scenario.namespaces.length));
  return { ...scenario, livePerNamespace, orphans, maxDeletions: Math.max(scenario.maxDeletions, orphans) };
}

/** How many of the orphans go to each namespace: round-robin, as in `seedScenario`. */
export function orphansIn(scenario: Scenario, namespaceIndex: number): number {
  const n = scenario.namespaces.length;
  return Math.floor(scenario.orphans / n) + (namespaceIndex < scenario.orphans % n ? 1 : 0);
}

/** The tiny scenario of the smoke test. */
export function smokeScenario(): Scenario {
  return {
    name: 'smoke',
    label: 'smoke: 1 ns x 20, 2 orphans',
    namespaces: ['jupyter-lab'],
    livePerNamespace: 20,
    orphans: 2,
    maxDeletions: DEFAULT_CAP,
  };
}
