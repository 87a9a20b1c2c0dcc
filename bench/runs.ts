/**
 * One run of one algorithm on a seeded scenario, in a child process: plain (for wall time,
 * CPU and memory unconstrained) or held to the Lambda's memory envelope. Every run is
 * checked against the server's log: it deleted exactly the orphans' resources.
 */
import type { KubeApiServer } from '../test/support/kube-api-server.js';
import type { ChildJob, RunOutcome } from './child.js';
import type { EnvelopeResult } from './envelope.js';
import { runInEnvelope } from './envelope.js';
import { runInChild } from './fork.js';
import type { Scenario } from './scenarios.js';
import type { ObjectShape } from './seed.js';
import { checkDeletes, seedOrphans, seedScenario } from './seed.js';

/** What every run of a bench shares. */
export interface RunSettings {
  latencyMs: number;
  concurrency: number;
  /** Items per list page for the product; undefined keeps its default. */
  pageSize: number | undefined;
  objects: ObjectShape;
}

function jobFor(server: KubeApiServer, scenario: Scenario, algorithm: ChildJob['algorithm'], settings: RunSettings): ChildJob {
  return {
    algorithm,
    kubeconfig: server.kubeconfig(),
    namespaces: scenario.namespaces,
    maxDeletions: scenario.maxDeletions,
    concurrency: settings.concurrency,
    pageSize: settings.pageSize,
  };
}

function checkOutcome(outcome: RunOutcome, scenario: Scenario, algorithm: string): void {
  if (outcome.cleanedUp !== scenario.orphans || outcome.errors > 0) {
    throw new Error(`The ${algorithm} cleaned ${outcome.cleanedUp} of ${scenario.orphans} orphans with ${outcome.errors} errors (${outcome.status})`);
  }
}

/**
 * Seeds the scenario (only its orphans again when `reseed` is false: the run before left the
 * live sessions in place), runs one algorithm in a child, and checks it cleaned exactly the orphans.
 */
export async function runOnce(server: KubeApiServer, scenario: Scenario, algorithm: ChildJob['algorithm'], settings: RunSettings, reseed = true) {
  const expected = reseed ? seedScenario(server, scenario, settings.objects) : seedOrphans(server, scenario, settings.objects);
  server.latencyMs = settings.latencyMs;
  server.clearRequests();
  // The server's process hosts nothing else while the child runs, so its CPU time is the server's.
  const serverCpu = process.cpuUsage();
  const report = await runInChild(jobFor(server, scenario, algorithm, settings));
  const serverCpuUsed = process.cpuUsage(serverCpu);
  checkDeletes(server, expected);
  checkOutcome(report.outcome, scenario, algorithm);
  const log = [...server.requests];
  const peakInFlight = server.peakInFlight;
  server.clearRequests();
  const cpu = { clientCpuMs: report.cpuMs, serverCpuMs: (serverCpuUsed.user + serverCpuUsed.system) / 1000 };
  return { report, log, peakInFlight, cpu };
}

/**
 * The product on a scenario whose live sessions are seeded already, in a child held to
 * `memoryMb` as the Lambda would hold it (see envelope.ts), and with `lambdaCpu` to the
 * Lambda's CPU share for that memory too. A run the envelope ended is a
 * result: its deletes are only checked to be orphans' (it may have done some of them).
 */
export async function runEnveloped(server: KubeApiServer, scenario: Scenario, settings: RunSettings, memoryMb: number, cgroup: boolean, lambdaCpu = false): Promise<EnvelopeResult> {
  const expected = seedOrphans(server, scenario, settings.objects);
  server.latencyMs = settings.latencyMs;
  server.clearRequests();
  const result = await runInEnvelope(jobFor(server, scenario, 'product', settings), memoryMb, cgroup, lambdaCpu);
  checkDeletes(server, expected, result.status !== 'ok');
  if (result.status === 'ok') checkOutcome(result.report.outcome, scenario, 'product');
  server.clearRequests();
  return result;
}
