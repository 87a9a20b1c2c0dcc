/**
 * The fault matrix: every request the product makes (each list page of each kind, the
 * Deployment re-check, each delete, DescribeCluster, each session-store call) under every
 * fault (500, 503, 429 with and without Retry-After, a timeout, a reset, malformed JSON, an
 * expired continue token, 401, 403; for the store also a reset after the command ran), one
 * run under the fault, persistent or transient as the case's name says. After each run:
 *  (a) nothing of a live session (or of one spared for its endpoints) was deleted;
 *  (b) no session key was deleted while a resource of its session existed;
 *  (c) the summary's status and counters match what the servers saw;
 *  (d) the metrics were emitted, Errors as in the summary;
 *  (e) at most two runs without the fault reach the clean state.
 * Faults aim at jupyter-lab; ubuntu-lab is reconciled beside it. Cases with confirmation on
 * make two runs under the fault, minutes apart, so that sightings are read and written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_KEY } from '../../src/adapters/upstash.js';
import type { Expectation, RunRecord } from './support/fault-checks.js';
import {
  checkKeysOutliveResources,
  checkMetrics,
  checkNothingLiveDeleted,
  checkSummary,
  eksOutcome,
  kubeOutcome,
  notConverged,
  storeOutcome,
} from './support/fault-checks.js';
import type { EksCase, KubeCase, StoreCase } from './support/fault-matrix.js';
import { eksCases, kubeCases, storeCases, times } from './support/fault-matrix.js';
import { CONFIRM_SECONDS, LambdaEnvironment, TestClock, reconcileRun, watchKeyDeletes } from './support/fault-runs.js';
import type { World } from './support/fault-world.js';
import { FAULTED_NAMESPACE, NAMESPACES, productAdapters, protectedResources, resetWorld, snapshot, startWorld, stopWorld } from './support/fault-world.js';

/** The product's own lock time to live (reconcile's default): a lock left behind expires within it. */
const LOCK_TTL_MS = 15 * 60 * 1000;
/** Time the Lambda has left when DescribeCluster never answers. */
const REMAINING_WHEN_HANGING_MS = 15_000;

let w: World;
beforeAll(async () => {
  w = await startWorld();
  // One run to warm up (module loading, TLS, JIT), so that the first case is timed like the others.
  await resetWorld(w);
  await reconcileRun(w, 'warm-up', { confirm: false, clock: new TestClock(Date.now()), violations: [], adapters: productAdapters(w, 'relaxed') });
}, 60_000);
afterAll(async () => {
  await stopWorld(w);
});

/** What a run with every request eventually answered must report. */
const clean = (confirm: boolean): Expectation => ({ failed: false, errorRequired: true, nothingDone: false, listed: new Set(NAMESPACES), confirm });

function expectationFor(c: KubeCase | StoreCase, run: RunRecord): Expectation {
  const failed = (c.layer === 'kube' ? kubeOutcome(run.kube) : storeOutcome(run.store)) === 'failed';
  const lockFailed = c.layer === 'store' && c.target.isLock === true && failed;
  const listFailed = c.layer === 'kube' && c.target.listPage !== undefined && failed;
  const listed = lockFailed ? [] : NAMESPACES.filter((ns) => !(listFailed && ns === FAULTED_NAMESPACE));
  return { failed, errorRequired: c.layer === 'kube' || c.target.failure === 'error', nothingDone: lockFailed, listed: new Set(listed), confirm: c.confirm };
}

function judge(run: RunRecord, protectedRes: ReadonlyMap<string, string>, expected: Expectation): void {
  checkNothingLiveDeleted(run, protectedRes);
  checkKeysOutliveResources(run);
  checkSummary(run, expected);
  checkMetrics(run);
}

/** Injects the case's fault; returns how often it has hit. */
function inject(c: KubeCase | StoreCase): () => number {
  if (c.layer === 'kube') {
    const fault = w.server.injectFault({ ...c.target.match, effect: c.fault.kube!, times: times(c.mode) });
    return () => fault.hits;
  }
  const { effect, when } = c.fault.store!;
  const fault = w.bridge.fail({ command: c.target.command, match: c.target.match, effect, when: when ?? 'before', times: times(c.mode) });
  return () => fault.hits;
}

/**
 * A lock left behind by a run whose unlock (or whose lock's answer) was lost must expire by
 * itself, within the lock's time to live; the clean runs start once it has.
 */
async function letLeftLockExpire(c: KubeCase | StoreCase | EksCase): Promise<void> {
  const state = await snapshot(w);
  if (state.lock === null) return;
  const mayLeaveLock = c.layer === 'store' && (c.target.isLock === true || c.target.id === 'unlock EVAL');
  expect.soft(mayLeaveLock, `a lock was left behind by a fault on ${c.layer === 'eks' ? 'DescribeCluster' : c.target.id}`).toBe(true);
  expect.soft(state.lockTtlMs, 'a lock left behind expires by itself').toBeGreaterThan(0);
  expect.soft(state.lockTtlMs, 'a lock left behind expires within the lock TTL').toBeLessThanOrEqual(LOCK_TTL_MS);
  await w.direct.call('DEL', LOCK_KEY);
}

/** (e) At most two clean runs reach the clean state; each is judged like any run. */
async function converge(
  protectedRes: ReadonlyMap<string, string>,
  confirm: boolean,
  runOnce: (label: string) => Promise<RunRecord | undefined>,
): Promise<void> {
  let problems: string[] = [];
  for (let i = 1; i <= 2; i++) {
    const run = await runOnce(`clean run ${i}`);
    expect(run, `clean run ${i} returned a summary`).toBeDefined();
    judge(run!, protectedRes, clean(confirm));
    problems = notConverged(run!.after, protectedRes);
    if (problems.length === 0) return;
  }
  expect(problems, 'the state after two clean runs').toEqual([]);
}

async function runReconcileCase(c: KubeCase | StoreCase): Promise<void> {
  // Prepare
  await resetWorld(w);
  const violations: string[] = [];
  watchKeyDeletes(w, violations);
  const protectedRes = protectedResources(await snapshot(w));
  const clock = new TestClock(Date.now());
  const adapters = productAdapters(w, c.fault.id === 'timeout' ? 'short' : 'relaxed');
  const hits = inject(c);

  // Act: one run under the fault; two, minutes apart, with confirmation on.
  const faulted: RunRecord[] = [];
  for (let i = 1; i <= (c.confirm ? 2 : 1); i++) {
    faulted.push(await reconcileRun(w, `run ${i} under the fault`, { confirm: c.confirm, clock, violations, adapters }));
    clock.advanceSeconds(CONFIRM_SECONDS + 1);
  }

  // Assess (a)-(d)
  expect(hits(), 'the fault hit the request it aims at').toBeGreaterThan(0);
  for (const run of faulted) judge(run, protectedRes, expectationFor(c, run));

  // Act and assess (e): the fault gone, at most two runs reach the clean state.
  w.server.clearFaults();
  w.bridge.clearFaults();
  await letLeftLockExpire(c);
  await converge(protectedRes, c.confirm, async (label) => {
    const run = await reconcileRun(w, label, { confirm: c.confirm, clock, violations, adapters });
    clock.advanceSeconds(CONFIRM_SECONDS + 1);
    return run;
  });
}

async function runEksCase(c: EksCase): Promise<void> {
  // Prepare: a cold start of the Lambda, in EKS mode through the local endpoint.
  await resetWorld(w);
  const violations: string[] = [];
  watchKeyDeletes(w, violations);
  const protectedRes = protectedResources(await snapshot(w));
  const lambda = new LambdaEnvironment(w);
  try {
    await lambda.coldStart();
    const fault = w.eks.fail({ effect: c.fault.eks!, times: times(c.mode) });
    const hanging = c.fault.id === 'timeout';

    // Act
    const { run, settled, elapsedMs } = await lambda.invoke(
      'invocation under the fault',
      violations,
      () => fault.hits,
      hanging ? { remainingMs: REMAINING_WHEN_HANGING_MS, whenStuck: () => w.eks.clearFaults() } : {},
    );

    // Assess (a)-(d)
    expect(fault.hits, 'the fault hit DescribeCluster').toBeGreaterThan(0);
    expect
      .soft(settled, `the invocation settled, with a summary and metrics, within the ${REMAINING_WHEN_HANGING_MS} ms the Lambda had left (after ${elapsedMs} ms it had not)`)
      .toBe(true);
    if (run) {
      const failed = eksOutcome(run.eks) === 'failed';
      judge(run, protectedRes, { failed, errorRequired: true, nothingDone: failed, listed: new Set(failed ? [] : NAMESPACES), confirm: false });
      if (failed) expect.soft(run.kube, 'requests to the cluster without its endpoint').toEqual([]);
    }

    // Act and assess (e): invocations without the fault; warm, unless the Lambda would have
    // killed the stuck one (its execution environment is then started afresh).
    w.eks.clearFaults();
    if (!settled) await lambda.coldStart();
    await letLeftLockExpire(c);
    await converge(protectedRes, false, async (label) => (await lambda.invoke(label, violations, () => fault.hits)).run);
  } finally {
    lambda.restore();
  }
}

describe('fault matrix: Kubernetes requests (list pages, Deployment re-check, deletes)', () => {
  it.each(kubeCases())('$name', runReconcileCase);
});

describe('fault matrix: session-store calls (lock, sightings, pending keys, key delete, unlock)', () => {
  it.each(storeCases())('$name', runReconcileCase);
});

describe('fault matrix: DescribeCluster, through the Lambda handler', () => {
  it.each(eksCases())('$name', runEksCase, 60_000);
});
