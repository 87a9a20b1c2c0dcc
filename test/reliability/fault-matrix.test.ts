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
 *  (e) at most two runs without the fault reach the clean state;
 *  (f) nothing went that the archive does not hold: every run archives (a directory; S3 through
 *      a fault-injecting proxy to moto for the Lambda and the S3 cases), and at the moment of
 *      each DELETE served (and each session key's delete) a record holding that uid (that
 *      value) was already stored; a session reported archive-failed lost nothing.
 * Faults aim at jupyter-lab; ubuntu-lab is reconciled beside it. Cases with confirmation on
 * make two runs under the fault, minutes apart, so that sightings are read and written.
 *
 * The key cases (both directions, RECONCILIATION_STALE_KEYS=delete) run over a world that also
 * holds stale session keys, a leaked Deployment and enough other keys for a SCAN of three
 * pages; they fault the scan's later pages, the stale keys' sightings, their deletes and the
 * settling of their sightings, and race other actors against the deletes. Each run is judged
 * as above and by checkStaleKeys: never a live session's key deleted, never a key deleted that
 * an earlier run had not seen stale long enough, nothing reported from a partial scan, nothing
 * lost; and at most two runs without the fault delete every stale key.
 *
 * The archive cases fail each request of the archive step for good (a resource's GET: 500,
 * timeout, reset; the key's EVAL_RO read: 500, timeout; the record's PutObject to S3: 500
 * InternalError, 403 AccessDenied, a hang past the client's timeout) and check exactly which
 * sessions the run left alone (failed, archive-failed, the error naming the request and its
 * status), then that the next run cleans them and that their records are stored, whole (for S3,
 * read back from moto); the PutObject faults also once (the SDK retries a 500, not a 403).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_KEY } from '../../src/adapters/upstash.js';
import { keySightingKey } from '../../src/adapters/upstash.js';
import { seedSession } from '../support/lab.js';
import type { Expectation, KeyExpectation, RunRecord } from './support/fault-checks.js';
import {
  checkArchive,
  checkKeysOutliveResources,
  checkMetrics,
  checkNothingLiveDeleted,
  checkStaleKeys,
  checkSummary,
  eksOutcome,
  kubeOutcome,
  notConverged,
  notConvergedKeys,
  storeOutcome,
} from './support/fault-checks.js';
import type { ArchiveCase, EksCase, KeyCase, KubeCase, StoreCase } from './support/fault-matrix.js';
import { archiveCases, eksCases, injectArchiveFault, keyCases, kubeCases, storeCases, times } from './support/fault-matrix.js';
import { recordsOf, settlesWithin } from './support/fault-archive.js';
import {
  CONFIRM_SECONDS,
  KEY_CONFIRM_SECONDS,
  LambdaEnvironment,
  TestClock,
  isKeySightingsEval,
  reconcileRun,
  staleKeyDeleteOf,
  watchKeyDeletes,
} from './support/fault-runs.js';
import type { World } from './support/fault-world.js';
import {
  FAULTED_NAMESPACE,
  KEY_PREFIX,
  NAMESPACES,
  STALE_IDS,
  liveResourcesOfId,
  productAdapters,
  protectedResources,
  resetWorld,
  seededKeyValue,
  snapshot,
  startWorld,
  stopWorld,
  useS3Archive,
} from './support/fault-world.js';

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
  const t = w?.archiveLog.totals;
  if (t) {
    console.log(
      `fault matrix: ${kubeCases().length} Kubernetes, ${storeCases().length} session-store, ${keyCases().length} key-side, 3 race, ${archiveCases().length} archive and ${eksCases().length} DescribeCluster cases; ` +
        `archive: ${t.directory} records written to directories and ${t.s3} to S3 (moto), ${t.deletesChecked} DELETEs and ${t.keyDeletesChecked} key deletes checked against it at the moment they were served`,
    );
  }
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
  checkArchive(run);
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
  keys?: { live?: readonly string[] },
): Promise<void> {
  let problems: string[] = [];
  for (let i = 1; i <= 2; i++) {
    const run = await runOnce(`clean run ${i}`);
    expect(run, `clean run ${i} returned a summary`).toBeDefined();
    judge(run!, protectedRes, clean(confirm));
    if (keys) checkStaleKeys(run!, { scanned: true });
    problems = keys ? notConvergedKeys(run!.after, protectedRes, keys.live) : notConverged(run!.after, protectedRes);
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
  // Prepare: a cold start of the Lambda, in EKS mode through the local endpoint, archiving to S3 (ARCHIVE_BUCKET).
  await resetWorld(w);
  await useS3Archive(w);
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

/** A key case's world and its runs: delete mode, confirmation on, the clock moved on far enough to confirm a stale key after each run. */
async function keyWorld(timeouts: 'short' | 'relaxed', race?: (command: readonly string[]) => void | Promise<void>) {
  await resetWorld(w, { keys: true });
  const violations: string[] = [];
  watchKeyDeletes(w, violations, race);
  const protectedRes = protectedResources(await snapshot(w));
  const clock = new TestClock(Date.now());
  const adapters = productAdapters(w, timeouts);
  const run = async (label: string): Promise<RunRecord> => {
    const record = await reconcileRun(w, label, { confirm: true, staleKeys: 'delete', clock, violations, adapters });
    clock.advanceSeconds(KEY_CONFIRM_SECONDS + 1);
    return record;
  };
  return { violations, protectedRes, clock, run };
}

/** The uid of `Kind/namespace/name` on the API server now. */
function uidOf(ref: string): string {
  const [kind, namespace, name] = ref.split('/') as ['Deployment' | 'Service' | 'Ingress' | 'ConfigMap', string, string];
  return w.server.get(kind, namespace, name)?.metadata.uid ?? '';
}

/** The warning of a run whose scan failed on page `page`. */
const scanFailed = (page: number) => new RegExp(`Could not read the session keys.*SCAN (failed on page|page) ${page}\\b`);

async function runKeyCase(c: KeyCase): Promise<void> {
  // Prepare: a world with stale keys; for a fault on the deletes, a run without it sights them first.
  const { protectedRes, run } = await keyWorld(c.fault.id === 'timeout' ? 'short' : 'relaxed');
  if (c.target.phase === 'confirmed delete') {
    const first = await run('run before the fault (sights the stale keys)');
    judge(first, protectedRes, clean(true));
    checkStaleKeys(first, { scanned: true });
    expect(first.summary.staleSessionKeys.map((k) => `${k.sessionId}:${k.action}`), 'the stale keys, sighted first').toEqual(STALE_IDS.map((id) => `${id}:spared`));
  }
  const hits = inject(c);

  // Act: under the fault, the run that would delete the stale keys (and, for their first sighting, the one before it).
  const faulted: RunRecord[] = [];
  for (let i = 1; i <= (c.target.phase === 'first sighting' ? 2 : 1); i++) faulted.push(await run(`run ${i} under the fault`));

  // Assess (a)-(d), and the keys.
  expect(hits(), 'the fault hit the request it aims at').toBeGreaterThan(0);
  for (const r of faulted) {
    const expected = expectationFor(c, r);
    judge(r, protectedRes, expected);
    const unread = c.target.scanPage !== undefined && expected.failed;
    checkStaleKeys(r, unread ? { scanned: false, scanWarning: scanFailed(c.target.scanPage!) } : { scanned: true });
    if (unread) expect.soft(r.summary.status, `${r.label}: a scan that failed is an error of the run`).toBe('partial');
  }

  // Act and assess (e): the fault gone, at most two runs delete every stale key.
  w.bridge.clearFaults();
  await letLeftLockExpire(c);
  await converge(protectedRes, true, run, {});
}

/** Longest a run under an archive fault may take: a request that never answers must be ended by the client's timeouts. */
const ARCHIVE_RUN_LIMIT_MS = 20_000;
/** The S3 client's request timeout in the hang case (createS3Client's requestTimeoutMs). */
const S3_REQUEST_TIMEOUT_MS = 400;

function clearAllFaults(): void {
  w.server.clearFaults();
  w.bridge.clearFaults();
  w.archiveServers.proxy.clearFaults();
}

async function runArchiveCase(c: ArchiveCase): Promise<void> {
  // Prepare: the world; for the PutObject cases, the archive in S3 through the proxy.
  await resetWorld(w);
  const violations: string[] = [];
  watchKeyDeletes(w, violations);
  const hanging = c.fault.id === 'timeout';
  if (c.target.step === 'put') await useS3Archive(w, hanging ? { requestTimeoutMs: S3_REQUEST_TIMEOUT_MS } : {});
  const protectedRes = protectedResources(await snapshot(w));
  const clock = new TestClock(Date.now());
  const adapters = productAdapters(w, hanging ? 'short' : 'relaxed');
  const hits = injectArchiveFault(w, c);

  // Act: one run under the fault. It must end by itself; one stuck is unblocked (the fault
  // cleared, hanging requests dropped), so that it writes nothing into a later case.
  const started = Date.now();
  const running = reconcileRun(w, 'run under the fault', { confirm: false, clock, violations, adapters });
  const settled = await settlesWithin(running, ARCHIVE_RUN_LIMIT_MS);
  if (!settled) {
    clearAllFaults();
    w.archiveServers.proxy.dropHanging();
  }
  const run = await running;
  clock.advanceSeconds(CONFIRM_SECONDS + 1);
  expect(settled, `the run under the fault ended by itself within ${ARCHIVE_RUN_LIMIT_MS} ms (it had not; it ended ${Date.now() - started} ms after it began, once unblocked)`).toBe(true);

  // Assess (a)-(f), and exactly the sessions the fault hit left alone, each with the error that says why.
  expect(hits(), 'the fault hit the request it aims at').toBeGreaterThan(0);
  const failing = typeof c.failed === 'number' ? c.failed > 0 : c.failed.length > 0;
  judge(run, protectedRes, { failed: failing, errorRequired: true, nothingDone: false, listed: new Set(NAMESPACES), confirm: false });
  const leftAlone = run.summary.sessions.filter((x) => x.reason === 'archive-failed');
  const ids = leftAlone.map((x) => `${x.namespace}/${x.sessionId}`).sort();
  if (typeof c.failed === 'number') expect(ids, 'sessions left alone (archive-failed)').toHaveLength(c.failed);
  else expect(ids, 'sessions left alone (archive-failed)').toEqual([...c.failed].sort());
  for (const x of leftAlone) expect.soft(x.error, `the error of ${x.namespace}/${x.sessionId}`).toMatch(c.error);
  const otherwise = run.summary.sessions.filter((x) => x.action === 'failed' && x.reason !== 'archive-failed');
  expect(otherwise.map((x) => `${x.namespace}/${x.sessionId}: ${x.reason}`), 'sessions failed for another reason').toEqual([]);

  // Act and assess (e): the fault gone, the next runs clean them; each is then archived, whole.
  clearAllFaults();
  await converge(protectedRes, false, async (label) => {
    const next = await reconcileRun(w, label, { confirm: false, clock, violations, adapters });
    clock.advanceSeconds(CONFIRM_SECONDS + 1);
    return next;
  });
  for (const x of leftAlone) {
    const prefix = `${x.namespace}/${x.sessionId}/`;
    const records = await recordsOf(w, prefix);
    const uids = x.resources.map((ref) => run.before.objects.get(`${ref.split('/')[0]}/${x.namespace}/${ref.split('/')[1]}`)).sort();
    const keyed = x.sessionKey === 'pending';
    expect(
      records.map((r) => ({ uids: r.record.resources.map((o) => o.metadata?.uid).sort(), sessionKey: r.record.sessionKey && { key: r.record.sessionKey.key, value: r.record.sessionKey.value } })),
      `the records of ${prefix} once cleaned (${w.archive.description})`,
    ).toEqual([{ uids, sessionKey: keyed ? { key: `${KEY_PREFIX}${x.sessionId}`, value: seededKeyValue(x.sessionId) } : null }]);
  }
  expect(violations).toEqual([]);
}

describe('fault matrix: Kubernetes requests (list pages, Deployment re-check, deletes)', () => {
  it.each(kubeCases())('$name', runReconcileCase);
});

describe('fault matrix: session-store calls (lock, sightings, pending keys, key delete, unlock)', () => {
  it.each(storeCases())('$name', runReconcileCase);
});

describe('fault matrix: the key scan, the stale keys\' sightings and deletes (RECONCILIATION_STALE_KEYS=delete)', () => {
  it.each(keyCases())('$name', runKeyCase);
});

describe('races between the key scan and the stale key deletes (RECONCILIATION_STALE_KEYS=delete)', () => {
  it('stale keys rewritten, taken over by a new session (key first, then its Deployment), or deleted by another between the scan and the delete', async () => {
    // Prepare: the stale keys sighted by a run; then, just before the next run's delete of each,
    // another actor: stale-00 rewritten (still no session), stale-01 rewritten by a new session
    // that then creates its Deployment, Service, Ingress and ConfigMap, stale-02 deleted.
    const acted = new Set<string>();
    let racing = false;
    const world = await keyWorld('relaxed', async (command) => {
      const id = staleKeyDeleteOf(command);
      if (!racing || id === undefined || acted.has(id)) return;
      acted.add(id);
      if (id === 'stale-00') await w.direct.call('SET', `${KEY_PREFIX}${id}`, JSON.stringify({ user: 'grace', id, ended: true, touched: 2 }));
      if (id === 'stale-01') {
        await w.direct.call('SET', `${KEY_PREFIX}${id}`, JSON.stringify({ user: 'linus', id }));
        seedSession(w.server, FAULTED_NAMESPACE, 'jupyter', id, { deployment: true, endpoints: 'not-ready', ageMs: 0, now: world.clock.now() });
        for (const ref of liveResourcesOfId(w, id)) world.protectedRes.set(ref, uidOf(ref));
      }
      if (id === 'stale-02') await w.direct.call('DEL', `${KEY_PREFIX}${id}`);
    });
    judge(await world.run('run 1 (sights the stale keys)'), world.protectedRes, clean(true));

    // Act
    racing = true;
    const raced = await world.run('run 2 (raced at its deletes)');
    racing = false;

    // Assess: the rewritten and the taken-over key spared (their confirmation starts over), the one
    // deleted by another spared as gone, every other stale key deleted; nothing of the new session touched.
    judge(raced, world.protectedRes, clean(true));
    checkStaleKeys(raced, { scanned: true, deletedByOthers: new Set(['stale-02']) });
    const actions = new Map(raced.summary.staleSessionKeys.map((k) => [k.sessionId, `${k.action}/${k.reason}`]));
    expect([...acted].sort(), 'the race met every stale key delete').toEqual([...STALE_IDS].sort());
    expect(
      ['stale-00', 'stale-01', 'stale-02'].map((id) => `${id}: ${actions.get(id)}`),
      'the stale keys changed or gone between the scan and the delete',
    ).toEqual(['stale-00: spared/unconfirmed', 'stale-01: spared/unconfirmed', 'stale-02: spared/gone']);
    expect(STALE_IDS.slice(3).filter((id) => actions.get(id) !== 'deleted/no-resources'), 'the other stale keys, deleted').toEqual([]);
    expect([raced.after.keys.has('stale-00'), raced.after.keys.has('stale-01'), raced.after.keys.has('stale-02')], 'keys left').toEqual([true, true, false]);

    // Act and assess (e): stale-00 is deleted once confirmed again; stale-01 is a session's now, its key stays and its sighting goes.
    await converge(world.protectedRes, true, world.run, { live: ['stale-01'] });
    expect(world.violations).toEqual([]);
  });

  it('a stale key taken over by a new session just before its delete, the answer to that delete lost: the retry does not delete it', async () => {
    // Prepare: the stale keys sighted by a run; at the next run's delete of stale-01, a new
    // session writes that key first, then creates its resources; the delete runs (and finds the
    // key changed), but its answer is lost, so the client sends it again.
    let racing = false;
    const world = await keyWorld('relaxed', async (command) => {
      if (!racing || staleKeyDeleteOf(command) !== 'stale-01' || liveResourcesOfId(w, 'stale-01').length > 0) return;
      await w.direct.call('SET', `${KEY_PREFIX}stale-01`, JSON.stringify({ user: 'linus', id: 'stale-01' }));
      seedSession(w.server, FAULTED_NAMESPACE, 'jupyter', 'stale-01', { deployment: true, endpoints: 'not-ready', ageMs: 0, now: world.clock.now() });
      for (const ref of liveResourcesOfId(w, 'stale-01')) world.protectedRes.set(ref, uidOf(ref));
    });
    judge(await world.run('run 1 (sights the stale keys)'), world.protectedRes, clean(true));
    const lost = w.bridge.fail({ command: 'EVAL', match: (c) => staleKeyDeleteOf(c) === 'stale-01', effect: 'reset', when: 'after', times: 1 });

    // Act
    racing = true;
    const raced = await world.run('run 2 (raced at the delete of stale-01, its answer lost)');
    racing = false;

    // Assess: the new session's key is there; its delete was retried, and the retry too found it changed.
    expect(lost.hits, 'the lost answer').toBe(1);
    expect(raced.store.flatMap((r) => r.commands).filter((c) => staleKeyDeleteOf(c) === 'stale-01').length, 'deletes of stale-01 sent').toBeGreaterThan(1);
    expect(storeOutcome(raced.store), 'the delete whose answer was lost, sent again and answered').toBe('recovered');
    judge(raced, world.protectedRes, clean(true));
    checkStaleKeys(raced, { scanned: true });
    expect(raced.after.keys.has('stale-01'), 'the key of the session that took over stale-01').toBe(true);
    const entry = raced.summary.staleSessionKeys.find((k) => k.sessionId === 'stale-01');
    expect(entry && `${entry.action}/${entry.reason}`, 'stale-01, reported').toBe('spared/unconfirmed');
    w.bridge.clearFaults();
    await converge(world.protectedRes, true, world.run, { live: ['stale-01'] });
    expect(world.violations).toEqual([]);
  });

  it('a session created key first, then its Deployment, while a run is in flight: its key is never deleted, its sighting is forgotten', async () => {
    // Prepare: the stale keys sighted by a run; the next run's scan reads a new key (fresh1), whose
    // Deployment, Service, Ingress and ConfigMap are created once the run's lists are done.
    let racing = false;
    const world = await keyWorld('relaxed', (command) => {
      if (!racing) return;
      if (command[0] === 'SCAN' && command[1] === '0') return w.direct.call('SET', `${KEY_PREFIX}fresh1`, JSON.stringify({ user: 'ada', id: 'fresh1' })).then(() => undefined);
      if (isKeySightingsEval(command) && liveResourcesOfId(w, 'fresh1').length === 0) {
        seedSession(w.server, 'ubuntu-lab', 'ubuntu', 'fresh1', { deployment: true, endpoints: 'not-ready', ageMs: 0, now: world.clock.now() });
      }
      return undefined;
    });
    judge(await world.run('run 1 (sights the stale keys)'), world.protectedRes, clean(true));

    // Act
    racing = true;
    const raced = await world.run('run 2 (a session starts while it runs)');
    racing = false;
    for (const ref of liveResourcesOfId(w, 'fresh1')) world.protectedRes.set(ref, uidOf(ref));
    const next = await world.run('run 3 (the session has its Deployment)');

    // Assess: run 2 saw fresh1 stale (its scan read the key, its lists came before the
    // Deployment) and only sighted it; run 3 sees the session and forgets the sighting.
    judge(raced, world.protectedRes, clean(true));
    checkStaleKeys(raced, { scanned: true, staleAlso: ['fresh1'] });
    const fresh = raced.summary.staleSessionKeys.find((k) => k.sessionId === 'fresh1');
    expect(fresh && `${fresh.action}/${fresh.reason}`, 'the new key, in the run it started in').toBe('spared/unconfirmed');
    expect(raced.summary.staleSessionKeys.filter((k) => k.action === 'deleted').length, 'the confirmed stale keys, deleted beside it').toBe(STALE_IDS.length);
    expect(liveResourcesOfId(w, 'fresh1'), 'the session was created').toHaveLength(4);
    judge(next, world.protectedRes, clean(true));
    checkStaleKeys(next, { scanned: true });
    expect(next.summary.staleSessionKeys, 'run 3: no stale key left').toEqual([]);
    expect([next.after.keys.has('fresh1'), next.after.keySightings.has('fresh1'), next.after.keySightingSet], 'fresh1: key, sighting, sighted set').toEqual([true, false, []]);
    expect(await w.direct.call('EXISTS', keySightingKey('fresh1')), 'the sighting of fresh1').toBe(0);
    await converge(world.protectedRes, true, world.run, { live: ['fresh1'] });
    expect(world.violations).toEqual([]);
  });
});

describe('fault matrix: the archive step (each resource\'s GET, the key\'s read, the record\'s PutObject to S3)', () => {
  it.each(archiveCases())('$name', runArchiveCase, 60_000);
});

describe('fault matrix: DescribeCluster, through the Lambda handler', () => {
  it.each(eksCases())('$name', runEksCase, 60_000);
});
