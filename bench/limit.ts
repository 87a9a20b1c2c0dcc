/**
 * The limit: for a scenario, the fewest requests any correct run needs and the least wall
 * time those requests can take at a given concurrency and latency.
 *
 * Requests: every page of each of the five lists of each namespace (at the product's page
 * size), plus one delete for each of the three resources of each cleaned session. Nothing
 * else is needed to decide correctly, so nothing else is counted; in particular not the
 * product's GET of a session's Deployment just before its deletes (a safety re-check that
 * the contract does not ask for).
 *
 * Wall time, in rounds of one latency each (every request costs at least the latency):
 * - lists: pages of one list are sequential (each needs the previous page's continue
 *   token); lists of different kinds and namespaces run side by side, up to the
 *   concurrency. The least number of rounds is that of Hu's schedule (always advance the
 *   lists with the most pages left), which is optimal for unit-time chains on identical
 *   workers: max(longest list, pages / concurrency) here.
 * - then deletes, spread over the concurrency. No delete can come before the last page of
 *   the last list: the cap (`RECONCILIATION_MAX_DELETIONS`) counts the sessions to clean
 *   over all namespaces, and a run that finds more cleans none, so no run can know it may
 *   delete before it has seen everything.
 * Processing time on either side (TLS, JSON, decoding, the server's own work) is not
 * counted: the limit is what the latency alone imposes.
 */
import type { Scenario } from './scenarios.js';
import { orphansIn } from './scenarios.js';

export interface LimitOptions {
  pageSize: number;
  concurrency: number;
  latencyMs: number;
}

export interface Limit {
  requests: number;
  listRequests: number;
  deletes: number;
  /** The least number of latency periods the lists take, then the deletes. */
  listRounds: number;
  deleteRounds: number;
  wallMs: number;
}

/** Pages a list of `items` objects takes: an empty list is still one request. */
export function pages(items: number, pageSize: number): number {
  return Math.max(1, Math.ceil(items / pageSize));
}

/** The five lists of one namespace, in pages: Deployments, Services, Ingresses, ConfigMaps, EndpointSlices. */
export function listPagesOf(scenario: Scenario, namespaceIndex: number, pageSize: number): number[] {
  const live = scenario.livePerNamespace;
  const orphans = orphansIn(scenario, namespaceIndex);
  // Live sessions have every kind, one EndpointSlice each; orphans have no Deployment and no slice.
  return [live, live + orphans, live + orphans, live + orphans, live].map((n) => pages(n, pageSize));
}

/** Rounds Hu's schedule takes to run chains of unit requests, `concurrency` at a time. */
export function chainRounds(chains: readonly number[], concurrency: number): number {
  const left = [...chains];
  let rounds = 0;
  while (left.some((n) => n > 0)) {
    left.sort((a, b) => b - a);
    for (let i = 0; i < Math.min(concurrency, left.length); i++) if (left[i]! > 0) left[i]! -= 1;
    rounds += 1;
  }
  return rounds;
}

/** The limit of a scenario in which every orphan is cleaned. */
export function limitOf(scenario: Scenario, { pageSize, concurrency, latencyMs }: LimitOptions): Limit {
  const chains = scenario.namespaces.flatMap((_, index) => listPagesOf(scenario, index, pageSize));
  const listRequests = chains.reduce((a, b) => a + b, 0);
  const deletes = 3 * scenario.orphans;
  const listRounds = chainRounds(chains, concurrency);
  const deleteRounds = Math.ceil(deletes / concurrency);
  return {
    requests: listRequests + deletes,
    listRequests,
    deletes,
    listRounds,
    deleteRounds,
    wallMs: (listRounds + deleteRounds) * latencyMs,
  };
}
