/**
 * One row of the table: a scenario run once by the baseline and a few times by the product,
 * each in its own child process against the API server hosted here, once more by the product
 * inside the Lambda's memory envelope, and its limit computed (requests and wall time) and
 * measured (bytes).
 */
import type { KubeApiServer } from '../test/support/kube-api-server.js';
import { baselineRequestCount } from './baseline.js';
import type { LimitBytes } from './bytes.js';
import { bytesOf, measureLimitBytes, metadataListRequests } from './bytes.js';
import type { RunOutcome } from './child.js';
import type { EnvelopeResult } from './envelope.js';
import type { Limit } from './limit.js';
import { limitOf } from './limit.js';
import type { RunSettings } from './runs.js';
import { runEnveloped, runOnce } from './runs.js';
import type { Scenario } from './scenarios.js';
import { scaledDown, totalSessions } from './scenarios.js';
import { seedOrphans } from './seed.js';

export interface MeasureOptions extends RunSettings {
  /** The memory (MB) of the envelope the product is run in once more per scenario; 0: no such run. */
  envelopeMb: number;
  /** Hold that run in a memory cgroup where one can be made (false: the V8 flags alone). */
  cgroup: boolean;
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
  /** Response body bytes received (the server's log); scaled by requests when extrapolated. */
  bytes: number;
  measuredBytes: number;
  /** True when requests, wall time and bytes are computed for the full scenario from a smaller run. */
  extrapolated: boolean;
  /** Wall time of every run made, in order (the product may be run several times). */
  wallRunsMs: number[];
}

export interface ProductFigures extends Figures {
  /** Requests by verb: list pages, GETs (the Deployment re-check before deleting), deletes. */
  byVerb: { list: number; get: number; delete: number };
  /** The `limit` the product sent on its list requests: its page size. */
  pageSize: number;
  /** How many of its list requests asked for metadata only, of how many. */
  listAccept: { metadata: number; lists: number };
}

export interface Row {
  scenario: Scenario;
  baseline: Figures;
  product: ProductFigures;
  /** The product once more, in the Lambda's memory envelope; undefined with --envelope 0. */
  envelope: EnvelopeResult | undefined;
  limit: Limit;
  limitBytes: LimitBytes;
  /** The steady row only: the product asking for whole objects (the full-list path), once. */
  fullLists: { wallMs: number; clientCpuMs: number; bytes: number } | undefined;
}

async function measureBaseline(server: KubeApiServer, scenario: Scenario, options: MeasureOptions): Promise<Figures> {
  const run = scaledDown(scenario, options.baselineCap);
  const { report, log, peakInFlight, cpu } = await runOnce(server, run, 'baseline', options);
  const count = (s: Scenario) => baselineRequestCount(s.namespaces.length, totalSessions(s), s.orphans);
  // The count is extrapolated with the formula, so the formula must match what was measured.
  if (log.length !== count(run)) throw new Error(`The baseline sent ${log.length} requests where its formula says ${count(run)}`);
  const requests = count(scenario);
  // Bytes scale like requests: the smaller run has the same share of orphans, so the same mix
  // of answers (one Service list item and one Deployment per Service, per orphan an empty
  // slice list and three delete answers), give or take the length of the session ids.
  const measuredBytes = bytesOf(log);
  return {
    requests,
    wallMs: (report.wallMs * requests) / log.length,
    bytes: (measuredBytes * requests) / log.length,
    measuredBytes,
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
  options.progress(`${scenario.label}: product done (${runs.map((r) => `${(r.report.wallMs / 1000).toFixed(2)} s`).join(', ')})`);
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
    bytes: bytesOf(log),
    measuredBytes: bytesOf(log),
    extrapolated: false,
    wallRunsMs,
    byVerb,
    pageSize,
    listAccept: metadataListRequests(log),
  };
}

/**
 * Measures one scenario: baseline, product, the product in the envelope, the limit. The
 * envelope's run comes after the plain ones, which leave the live sessions in place.
 */
export async function measureScenario(server: KubeApiServer, scenario: Scenario, options: MeasureOptions): Promise<Row> {
  options.progress(`${scenario.label}: baseline...`);
  const baseline = await measureBaseline(server, scenario, options);
  options.progress(`${scenario.label}: product...`);
  const product = await measureProduct(server, scenario, options);
  let envelope: EnvelopeResult | undefined;
  if (options.envelopeMb > 0) {
    options.progress(`${scenario.label}: product in ${options.envelopeMb} MB...`);
    envelope = await runEnveloped(server, scenario, options, options.envelopeMb, options.cgroup);
  }
  let fullLists: Row['fullLists'];
  if (scenario.name === 'steady') {
    options.progress(`${scenario.label}: product with full lists...`);
    const run = await runOnce(server, scenario, 'product-full-lists', options, false);
    fullLists = { wallMs: run.report.wallMs, clientCpuMs: run.cpu.clientCpuMs, bytes: bytesOf(run.log) };
  }
  // The limit at the page size the product was seen to use, its bytes on the scenario as seeded.
  const limit = limitOf(scenario, { pageSize: product.pageSize, concurrency: options.concurrency, latencyMs: options.latencyMs });
  options.progress(`${scenario.label}: the limit's bytes...`);
  seedOrphans(server, scenario, options.objects);
  const limitBytes = await measureLimitBytes(server, scenario, product.pageSize);
  server.clear();
  server.clearRequests();
  return { scenario, baseline, product, envelope, limit, limitBytes, fullLists };
}
