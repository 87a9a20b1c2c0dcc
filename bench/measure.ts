/**
 * One row of the table: a scenario run once by the baseline and once by the product, each in
 * its own child process against the API server hosted here, and its limit computed.
 */
import type { KubeApiServer } from '../test/support/kube-api-server.js';
import { baselineRequestCount } from './baseline.js';
import type { RunOutcome } from './child.js';
import { runInChild } from './fork.js';
import type { Limit } from './limit.js';
import { limitOf } from './limit.js';
import type { Scenario } from './scenarios.js';
import { scaledDown, totalSessions } from './scenarios.js';
import { checkDeletes, seedOrphans, seedScenario } from './seed.js';

export interface MeasureOptions {
  latencyMs: number;
  concurrency: number;
  /** Items per list page for the product; undefined keeps its default. */
  pageSize: number | undefined;
  /** Most sessions the baseline is run on; larger scenarios are extrapolated. 0: no cap. */
  baselineCap: number;
  /** Runs of the product per scenario; its figures are those of the run with the median wall time. */
  repeat: number;
  /** Progress lines (to stderr in the command line). */
  progress: (line: string) => void;
}

/** The figures of one algorithm on one scenario. */
export interface Figures {
  requests: number;
  wallMs: number;
  /** Peak resident set of the run's process. */
  maxRssBytes: number;
  /** Resident set of that process before the run (Node and the client loaded). */
  idleRssBytes: number;
  peakHeapUsedBytes: number;
  /** Most requests the API server had in flight at once. */
  peakInFlight: number;
  /** CPU time of the run's process (the client side), and of the API server's process, during the measured run. */
  clientCpuMs: number;
  serverCpuMs: number;
  outcome: RunOutcome;
  /** Sessions the run was actually made on (fewer than the scenario's when extrapolated). */
  measuredSessions: number;
  measuredRequests: number;
  measuredWallMs: number;
  /** True when requests and wall time are computed for the full scenario from a smaller run. */
  extrapolated: boolean;
  /** Wall time of every run made, in order (the product may be run several times). */
  wallRunsMs: number[];
}

export interface ProductFigures extends Figures {
  /** Requests by verb: list pages, GETs (the Deployment re-check before deleting), deletes. */
  byVerb: { list: number; get: number; delete: number };
  /** The `limit` the product sent on its list requests: its page size. */
  pageSize: number;
}

export interface Row {
  scenario: Scenario;
  baseline: Figures;
  product: ProductFigures;
  limit: Limit;
}

/**
 * Seeds the scenario (only its orphans again when `reseed` is false: the run before left the
 * live sessions in place), runs one algorithm in a child, and checks it cleaned exactly the orphans.
 */
async function runOnce(server: KubeApiServer, scenario: Scenario, algorithm: 'product' | 'baseline', options: MeasureOptions, reseed = true) {
  const expected = reseed ? seedScenario(server, scenario) : seedOrphans(server, scenario);
  server.latencyMs = options.latencyMs;
  server.clearRequests();
  // The server's process hosts nothing else while the child runs, so its CPU time is the server's.
  const serverCpu = process.cpuUsage();
  const report = await runInChild({
    algorithm,
    kubeconfig: server.kubeconfig(),
    namespaces: scenario.namespaces,
    maxDeletions: scenario.maxDeletions,
    concurrency: options.concurrency,
    pageSize: options.pageSize,
  });
  const serverCpuUsed = process.cpuUsage(serverCpu);
  checkDeletes(server, expected);
  if (report.outcome.cleanedUp !== scenario.orphans || report.outcome.errors > 0) {
    throw new Error(`The ${algorithm} cleaned ${report.outcome.cleanedUp} of ${scenario.orphans} orphans with ${report.outcome.errors} errors (${report.outcome.status})`);
  }
  const log = [...server.requests];
  const peakInFlight = server.peakInFlight;
  server.clearRequests();
  const cpu = { clientCpuMs: report.cpuMs, serverCpuMs: (serverCpuUsed.user + serverCpuUsed.system) / 1000 };
  return { report, log, peakInFlight, cpu };
}

async function measureBaseline(server: KubeApiServer, scenario: Scenario, options: MeasureOptions): Promise<Figures> {
  const run = scaledDown(scenario, options.baselineCap);
  const { report, log, peakInFlight, cpu } = await runOnce(server, run, 'baseline', options);
  const count = (s: Scenario) => baselineRequestCount(s.namespaces.length, totalSessions(s), s.orphans);
  // The count is extrapolated with the formula, so the formula must match what was measured.
  if (log.length !== count(run)) throw new Error(`The baseline sent ${log.length} requests where its formula says ${count(run)}`);
  const requests = count(scenario);
  return {
    requests,
    wallMs: (report.wallMs * requests) / log.length,
    ...report.memory,
    peakInFlight,
    ...cpu,
    outcome: report.outcome,
    measuredSessions: totalSessions(run),
    measuredRequests: log.length,
    measuredWallMs: report.wallMs,
    extrapolated: run !== scenario,
    wallRunsMs: [report.wallMs],
  };
}

async function measureProduct(server: KubeApiServer, scenario: Scenario, options: MeasureOptions): Promise<ProductFigures> {
  const runs = [];
  for (let i = 0; i < Math.max(1, options.repeat); i++) runs.push(await runOnce(server, scenario, 'product', options, i === 0));
  // The product is quick enough to run a few times: the median run damps the noise of a shared machine.
  const wallRunsMs = runs.map((r) => r.report.wallMs);
  const { report, log, peakInFlight, cpu } = [...runs].sort((a, b) => a.report.wallMs - b.report.wallMs)[Math.floor((runs.length - 1) / 2)]!;
  if (new Set(runs.map((r) => r.log.length)).size !== 1) throw new Error(`The product's runs sent different numbers of requests: ${runs.map((r) => r.log.length).join(', ')}`);
  const byVerb = { list: 0, get: 0, delete: 0 };
  for (const r of log) if (r.verb === 'list' || r.verb === 'get' || r.verb === 'delete') byVerb[r.verb] += 1;
  const limits = new Set(log.filter((r) => r.verb === 'list').map((r) => r.query.limit));
  const pageSize = [...limits][0];
  if (limits.size !== 1 || pageSize === undefined) throw new Error(`The product's list requests had page sizes ${[...limits].join(', ')}`);
  return {
    requests: log.length,
    wallMs: report.wallMs,
    ...report.memory,
    // Memory: the highest peak of all runs, so that the figure is never the lucky one.
    maxRssBytes: Math.max(...runs.map((r) => r.report.memory.maxRssBytes)),
    peakHeapUsedBytes: Math.max(...runs.map((r) => r.report.memory.peakHeapUsedBytes)),
    peakInFlight,
    ...cpu,
    outcome: report.outcome,
    measuredSessions: totalSessions(scenario),
    measuredRequests: log.length,
    measuredWallMs: report.wallMs,
    extrapolated: false,
    wallRunsMs,
    byVerb,
    pageSize,
  };
}

/** Measures one scenario: baseline, product, limit. */
export async function measureScenario(server: KubeApiServer, scenario: Scenario, options: MeasureOptions): Promise<Row> {
  options.progress(`${scenario.label}: baseline...`);
  const baseline = await measureBaseline(server, scenario, options);
  options.progress(`${scenario.label}: product...`);
  const product = await measureProduct(server, scenario, options);
  // The limit at the page size the product was seen to use.
  const limit = limitOf(scenario, { pageSize: product.pageSize, concurrency: options.concurrency, latencyMs: options.latencyMs });
  server.clear();
  return { scenario, baseline, product, limit };
}
