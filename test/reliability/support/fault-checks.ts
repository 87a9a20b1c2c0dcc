/**
 * How a run is judged: by the servers' own logs and state, never by the product's words.
 * (a) nothing of a live session was deleted; (b) no session key was deleted while a resource
 * of its session existed; (c) the summary's status and counters match what the servers saw;
 * (d) the metrics were emitted; (e) the lab converged; (f) nothing went that the archive does
 * not hold.
 */
import { expect } from 'vitest';
import type { Summary } from '../../../src/core/report.js';
import type { RequestRecord } from '../../support/kube-api-server.js';
import type { RecordedRequest } from '../../support/upstash-bridge.js';
import type { StoredRecord } from './archive-records.js';
import { holdsKey, holdsObject } from './archive-records.js';
import type { State } from './fault-world.js';
import {
  CLUSTER,
  DELETABLE,
  FILLER_OTHER,
  FILLER_UNDER_PREFIX,
  KEY_PREFIX,
  KEYS_TO_DELETE,
  LEAKED,
  NAMESPACES,
  SESSIONS,
  STALE_IDS,
  isFiller,
  orphansIn,
  parseLabName,
  resourcesOfId,
} from './fault-world.js';
import { KEY_CONFIRM_SECONDS, isKeySightingsEval, staleKeyDeleteOf } from './fault-runs.js';

/** One run, and what the servers saw of it. */
export interface RunRecord {
  label: string;
  summary: Summary;
  before: State;
  after: State;
  /** The API server's log of this run. */
  kube: readonly RequestRecord[];
  /** The bridge's log of this run. */
  store: readonly RecordedRequest[];
  /** DescribeCluster requests of this run, and how many of them a fault hit. */
  eks: { requests: number; hits: number };
  /** Each DEL of a session key sent while a resource of that session existed. */
  keyDeleteViolations: string[];
  /** The archive of the run, as its storage holds it, and what its hooks found (fault-archive.ts). */
  archive: {
    description: string;
    /** The records this run wrote, and every record stored once it had ended. */
    written: StoredRecord[];
    stored: StoredRecord[];
    /** Deletes served (key deletes sent) without a record holding that uid (that value) stored before. */
    violations: string[];
    deletesChecked: number;
    keyDeletesChecked: number;
  };
  /** The EMF documents written for this run. */
  emf: EmfDocument[];
  /** The run's clock (epoch ms), when the test set it. */
  now?: number;
}

export interface EmfDocument {
  _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] };
  [key: string]: unknown;
}

/** What became of the faulted request in a run. */
export type FaultOutcome = 'not-hit' | 'recovered' | 'failed';

const identity = (r: RequestRecord) => `${r.verb} ${r.kind} ${r.namespace} ${r.name ?? ''} ${r.page ?? ''}`;
const answered = (r: RequestRecord) =>
  r.fault === undefined && r.status !== undefined && (r.status < 300 || (r.status === 404 && (r.verb === 'get' || r.verb === 'delete')));

/** Kubernetes: recovered when every faulted request was later answered, unfaulted, for the same object or page. */
export function kubeOutcome(log: readonly RequestRecord[]): FaultOutcome {
  const faulted = log.map((r, i) => [r, i] as const).filter(([r]) => r.fault !== undefined);
  if (faulted.length === 0) return 'not-hit';
  const recovered = faulted.every(([r, i]) => log.slice(i + 1).some((later) => identity(later) === identity(r) && answered(later)));
  return recovered ? 'recovered' : 'failed';
}

/** Session store: recovered when every command of every faulted request was later sent again and answered. */
export function storeOutcome(log: readonly RecordedRequest[]): FaultOutcome {
  const faulted = log.map((r, i) => [r, i] as const).filter(([r]) => r.fault !== undefined);
  if (faulted.length === 0) return 'not-hit';
  const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, k) => x === b[k]);
  // A command is recovered when an unfaulted request of the run carried it too. Not only a
  // later one: requests are logged as their bodies arrive, and a retry batched with other
  // commands can be logged before a slower faulted request of the same moment.
  const recovered = faulted.every(([r, i]) =>
    r.commands.every((command) => log.some((other, j) => j !== i && other.fault === undefined && other.commands.some((c) => same(c, command)))),
  );
  return recovered ? 'recovered' : 'failed';
}

/** DescribeCluster: recovered when a request after the faulted ones was answered. */
export function eksOutcome({ requests, hits }: RunRecord['eks']): FaultOutcome {
  if (hits === 0) return 'not-hit';
  return requests > hits ? 'recovered' : 'failed';
}

/** What the run should have reported, from what really happened. */
export interface Expectation {
  /** The faulted request did not succeed in the end. */
  failed: boolean;
  /** Its failure must count as an error (false: the product may count it or not). */
  errorRequired: boolean;
  /** The run could not take the lock, or reach the cluster: nothing could be done. */
  nothingDone: boolean;
  /** The namespaces listed completely. */
  listed: ReadonlySet<string>;
  /** Confirmation on: spared counts are not predicted. */
  confirm: boolean;
}

/** (a) Every protected resource still exists with the uid it was seeded with. */
export function checkNothingLiveDeleted(run: RunRecord, protectedResources: ReadonlyMap<string, string>): void {
  const lost = [...protectedResources].filter(([ref, uid]) => run.after.objects.get(ref) !== uid).map(([ref]) => ref);
  expect.soft(lost, `${run.label}: resources of live or has-endpoints sessions were deleted`).toEqual([]);
  const touched = run.kube.filter((r) => r.verb === 'delete' && protectedResources.has(`${r.kind}/${r.namespace}/${r.name}`));
  expect.soft(touched.map((r) => `${r.kind}/${r.namespace}/${r.name}`), `${run.label}: deletes sent for protected resources`).toEqual([]);
}

/** (b) No key deleted while a resource of its session existed: at each DEL (the hook), and at the end. */
export function checkKeysOutliveResources(run: RunRecord): void {
  expect.soft(run.keyDeleteViolations, `${run.label}: session keys deleted while their resources existed`).toEqual([]);
  const gone = [...run.before.keys].filter((id) => !run.after.keys.has(id));
  const early = gone.filter((id) => resourcesOfId(run.after, id).length > 0).map((id) => `${id}: ${resourcesOfId(run.after, id).join(', ')}`);
  expect.soft(early, `${run.label}: keys gone while resources of their session remain`).toEqual([]);
}

/** (c) The summary against the servers' logs and state. */
export function checkSummary(run: RunRecord, expected: Expectation): void {
  const { summary: s, before, after } = run;
  const where = (what: string) => `${run.label}: ${what} (summary ${brief(s)})`;

  // Deletes: what the API server served and what disappeared from it.
  const served = run.kube.filter((r) => r.verb === 'delete' && r.fault === undefined && r.status !== undefined && r.status < 300 && !r.query.dryRun);
  const removed = [...before.objects.keys()].filter((ref) => !after.objects.has(ref));
  expect.soft(removed.length, where('resources that disappeared vs deletes served')).toBe(served.length);
  expect.soft(removed.filter((ref) => !(DELETABLE as readonly string[]).includes(ref.split('/')[0]!)), where('kinds deleted')).toEqual([]);
  expect.soft(s.totals.resourcesDeleted, where('resourcesDeleted vs deletes the API server served')).toBe(served.length);
  for (const d of run.kube.filter((r) => r.verb === 'delete')) {
    expect.soft(d.preconditionUid, where(`uid precondition of the delete of ${d.kind}/${d.namespace}/${d.name}`)).toBe(
      before.objects.get(`${d.kind}/${d.namespace}/${d.name}`),
    );
  }
  checkDeletesFollowRecheck(run);

  // Session keys: what disappeared from Redis, but for the stale keys the stale path tried to
  // delete (see checkStaleKeys): those are counted in staleSessionKeysDeleted, or not at all.
  const staleTried = new Set(s.staleSessionKeys.filter((k) => k.action === 'deleted' || k.action === 'failed' || k.reason === 'gone').map((k) => k.sessionId));
  const keysGone = [...before.keys].filter((id) => !after.keys.has(id) && !staleTried.has(id));
  expect.soft(s.totals.sessionKeysDeleted, where(`sessionKeysDeleted vs keys that disappeared (${keysGone.join(', ') || 'none'})`)).toBe(keysGone.length);
  for (const session of s.sessions.filter((x) => x.sessionKey === 'deleted')) {
    expect.soft(after.keys.has(session.sessionId), where(`key of ${session.sessionId} reported deleted`)).toBe(false);
  }

  // Namespaces: only those listed completely count, and nothing is deleted in the others.
  const listed = [...expected.listed];
  expect.soft(s.totals.namespacesChecked, where('namespacesChecked')).toBe(listed.length);
  const services = listed.reduce((n, ns) => n + [...before.objects.keys()].filter((ref) => ref.startsWith(`Service/${ns}/`)).length, 0);
  expect.soft(s.totals.servicesChecked, where('servicesChecked')).toBe(services);
  const orphans = listed.flatMap((ns) => orphansIn(before, ns));
  expect.soft(s.totals.orphanedFound, where('orphanedFound')).toBe(orphans.length);
  const unlisted = NAMESPACES.filter((ns) => !expected.listed.has(ns));
  expect.soft(run.kube.filter((r) => r.verb === 'delete' && unlisted.includes(r.namespace as never)).length, where('deletes in namespaces not listed')).toBe(0);

  // Sessions: cleaned means all its resources are gone; all gone means cleaned, or its key failed.
  const fullyRemoved = orphans.filter((o) => o.resources.every((ref) => !after.objects.has(ref)));
  const key = (x: { namespace: string; labType: string; sessionId: string }) => `${x.namespace}/${x.labType}/${x.sessionId}`;
  const removedKeys = new Set(fullyRemoved.map(key));
  const cleaned = s.sessions.filter((x) => x.action === 'cleaned');
  expect.soft(cleaned.filter((x) => !removedKeys.has(key(x))).map(key), where('sessions reported cleaned whose resources remain')).toEqual([]);
  for (const o of fullyRemoved) {
    const reported = s.sessions.find((x) => key(x) === key(o));
    const ok = reported?.action === 'cleaned' || (reported?.action === 'failed' && reported.reason === 'session-key-failed' && after.keys.has(o.sessionId));
    expect.soft(ok, where(`session ${key(o)} was cleaned but reported ${reported?.action}/${reported?.reason}`)).toBe(true);
  }
  expect.soft(s.totals.cleanedUp, where('cleanedUp')).toBe(cleaned.length);
  if (!expected.confirm && !expected.nothingDone) {
    const busy = orphans.filter((o) => o.hasReadyEndpoints).length;
    expect.soft(s.totals.spared, where('spared (the has-endpoints sessions)')).toBe(busy);
  }

  // Errors and status.
  if (expected.failed && expected.errorRequired) expect.soft(s.totals.errors, where('errors after a request failed for good')).toBeGreaterThan(0);
  if (!expected.failed) expect.soft(s.totals.errors, where('errors when every request succeeded in the end')).toBe(0);
  expect.soft(before.lock, where('a lock held before the run')).toBeNull();
  const status = expected.nothingDone || listed.length === 0 ? 'failed' : s.totals.errors > 0 ? 'partial' : 'ok';
  expect.soft(s.status, where(`status (no other run held the lock; errors ${s.totals.errors}; ${listed.length} namespaces listed)`)).toBe(status);
}

/** Every delete follows, in the same run, a GET of its session's Deployment answered 404. */
function checkDeletesFollowRecheck(run: RunRecord): void {
  run.kube.forEach((r, i) => {
    if (r.verb !== 'delete') return;
    const parsed = parseLabName(r.name ?? '');
    const deployment = parsed && `${parsed.labType}-lab-${parsed.sessionId}`;
    const checked = run.kube
      .slice(0, i)
      .some((g) => g.verb === 'get' && g.kind === 'Deployment' && g.namespace === r.namespace && g.name === deployment && g.status === 404 && g.fault === undefined);
    expect.soft(checked, `${run.label}: delete of ${r.kind}/${r.namespace}/${r.name} without a GET of ${deployment} answered 404 first`).toBe(true);
  });
}

/**
 * (f) Nothing deleted that cannot be put back. At each DELETE served and each session key's
 * delete, a record holding that uid (that value) was already stored (the hooks); each session
 * whose resources the run deleted names a record the run wrote, holding them; the records say
 * what the contract says; a session reported `archive-failed` lost nothing (no DELETE sent for
 * it, its resources and key still there, no record); and every key gone (stale ones too) is
 * held with its value by a stored record, a deleted stale key's by the one its summary names.
 */
export function checkArchive(run: RunRecord): void {
  const { summary: s, before, after, archive } = run;
  const where = (what: string) => `${run.label}: ${what} (archive ${archive.description}; summary ${brief(s)})`;
  expect.soft(archive.violations, where('deletes without a record stored before them')).toEqual([]);
  for (const { name, record } of archive.written) {
    // A session's, or a key's alone (a stale or a pending key: no namespace, no resources).
    const expectedName = record.namespace === null ? `_keys/${record.sessionId}/${s.startedAt}.json` : `${record.namespace}/${record.sessionId}/${s.startedAt}-${record.labType}.json`;
    expect.soft([name, record.version, record.cluster, record.runStartedAt], where(`record ${name}`)).toEqual([expectedName, 1, CLUSTER, s.startedAt]);
  }
  const served = run.kube.filter((r) => r.verb === 'delete' && r.fault === undefined && r.status !== undefined && r.status < 300);
  for (const session of s.sessions) {
    const what = `${session.namespace}/${session.labType}/${session.sessionId} (${session.action}/${session.reason})`;
    const refs = session.resources.map((r) => `${r.split('/')[0]}/${session.namespace}/${r.split('/')[1]}`);
    const deleted = served.filter((r) => refs.includes(`${r.kind}/${r.namespace}/${r.name}`));
    const mine = archive.written.filter((w) => w.record.namespace === session.namespace && w.record.sessionId === session.sessionId && w.record.labType === session.labType);
    if (deleted.length > 0) {
      const record = mine.find((w) => session.archive?.endsWith(w.name));
      expect.soft(record?.name, where(`${what}: the record its summary names (${session.archive ?? 'none'}), written by this run`)).toBeDefined();
      for (const d of deleted) {
        const uid = before.objects.get(`${d.kind}/${d.namespace}/${d.name}`);
        expect.soft(record !== undefined && holdsObject(record, d.kind!, d.namespace!, d.name!, uid), where(`${what}: its record holds ${d.kind}/${d.name} (uid ${uid})`)).toBe(true);
      }
    }
    if (session.reason !== 'archive-failed') continue;
    expect.soft(session.action, where(`${what}: its action`)).toBe('failed');
    expect.soft(run.kube.filter((r) => r.verb === 'delete' && refs.includes(`${r.kind}/${r.namespace}/${r.name}`)).length, where(`${what}: DELETEs sent`)).toBe(0);
    expect.soft(refs.filter((ref) => after.objects.get(ref) !== before.objects.get(ref)), where(`${what}: resources gone or replaced`)).toEqual([]);
    if (before.keys.has(session.sessionId)) expect.soft(after.keys.has(session.sessionId), where(`${what}: its key is still there`)).toBe(true);
    expect.soft(['pending', 'kept'].includes(session.sessionKey ?? ''), where(`${what}: sessionKey ${session.sessionKey}`)).toBe(true);
    expect.soft(mine.map((w) => w.name), where(`${what}: records written for it`)).toEqual([]);
  }
  // Keys: every one gone (a cleaned session's, a pending or a stale one) is held with its value by a record.
  for (const id of [...before.keys].filter((k) => !after.keys.has(k))) {
    const key = `${KEY_PREFIX}${id}`;
    const value = before.keyValues.get(id)!;
    expect.soft(archive.stored.some((r) => holdsKey(r, key, value)), where(`the key ${key} went; a record holds its value ${value}`)).toBe(true);
  }
  for (const k of s.staleSessionKeys.filter((x) => x.action === 'deleted')) {
    const record = archive.written.find((r) => k.archive?.endsWith(r.name));
    expect.soft(record?.name, where(`stale key ${k.key} deleted: the record its summary names (${k.archive ?? 'none'}), written by this run`)).toBe(`_keys/${k.sessionId}/${s.startedAt}.json`);
  }
}

/** (d) One run-level EMF document, its values those of the summary and of what happened. */
export function checkMetrics(run: RunRecord): void {
  const runLevel = run.emf.filter((d) => JSON.stringify(d._aws.CloudWatchMetrics[0]?.Dimensions) === '[["Cluster"]]');
  expect.soft(runLevel, `${run.label}: one run-level EMF document`).toHaveLength(1);
  const doc = runLevel[0];
  if (!doc) return;
  const { totals } = run.summary;
  expect.soft(doc.RunsCompleted, `${run.label}: EMF RunsCompleted`).toBe(1);
  expect.soft(doc.Errors, `${run.label}: EMF Errors`).toBe(totals.errors);
  expect.soft(doc.ResourcesDeleted, `${run.label}: EMF ResourcesDeleted`).toBe(totals.resourcesDeleted);
  expect.soft(doc.SessionKeysDeleted, `${run.label}: EMF SessionKeysDeleted`).toBe(totals.sessionKeysDeleted);
  const perNamespace = run.emf.filter((d) => JSON.stringify(d._aws.CloudWatchMetrics[0]?.Dimensions) === '[["Cluster","Namespace"]]');
  expect.soft(perNamespace.length, `${run.label}: per-namespace EMF documents`).toBe(run.summary.namespaces.length);
}

/** (e) What is left once the lab has converged; the reasons it has not, empty when it has. */
export function notConverged(state: State, protectedResources: ReadonlyMap<string, string>): string[] {
  const problems: string[] = [];
  for (const s of SESSIONS.filter((x) => x.role === 'orphan')) {
    const left = [...state.objects.keys()].filter((ref) => {
      const [, ns, name] = ref.split('/') as [string, string, string];
      const parsed = parseLabName(name);
      return ns === s.namespace && parsed?.labType === s.labType && parsed.sessionId === s.sessionId;
    });
    if (left.length > 0) problems.push(`orphan resources left: ${left.join(', ')}`);
  }
  for (const [ref, uid] of protectedResources) if (state.objects.get(ref) !== uid) problems.push(`protected resource gone: ${ref}`);
  for (const id of KEYS_TO_DELETE) if (state.keys.has(id)) problems.push(`orphan key left: lab_session:${id}`);
  for (const id of SESSIONS.filter((x) => !KEYS_TO_DELETE.includes(x.sessionId)).map((x) => x.sessionId)) {
    if (!state.keys.has(id)) problems.push(`key of a session still in use deleted: lab_session:${id}`);
  }
  if (state.lock !== null) problems.push(`lock left: ${state.lock}`);
  if (state.pending.length > 0) problems.push(`pending keys left: ${state.pending.join(', ')}`);
  return problems;
}

/** What a run in delete mode must have made of the keys (beside {@link Expectation}). */
export interface KeyExpectation {
  /** The scan read every page: the keys were judged. False: it failed for good. */
  scanned: boolean;
  /** The run's warnings must say why the keys could not be read, this way (when not scanned). */
  scanWarning?: RegExp;
  /** Keys created while the run was in flight that its scan read (stale in its view). */
  staleAlso?: readonly string[];
  /** Stale keys somebody else deleted while the run was in flight. */
  deletedByOthers?: ReadonlySet<string>;
}

const firstSeenOf = (sighting: string | undefined) => (sighting === undefined ? Number.NaN : Number(sighting.slice(0, sighting.indexOf(':'))));

/**
 * The store's side of a run with the keys read, in delete mode, judged by what Redis held
 * before and after it and by the commands the bridge saw:
 * - nothing lost: the filler (keys under the prefix that cannot be judged, and unrelated keys) is whole;
 * - a stale key delete is sent only for a key an earlier run sighted at least the confirm period ago;
 * - a failed scan: no key judged, no stale key or leaked Deployment reported, no sighting or
 *   delete sent, and the warnings say why;
 * - a complete scan: exactly the keys without a resource reported stale, the leaked Deployment
 *   reported, each stale key's action what happened to it in Redis, the totals those of the lists.
 */
export function checkStaleKeys(run: RunRecord, expected: KeyExpectation): void {
  const { summary: s, before, after } = run;
  const where = (what: string) => `${run.label}: ${what} (summary ${brief(s)})`;
  const commands = run.store.flatMap((r) => r.commands);

  // Nothing lost.
  expect.soft([...after.keys].filter(isFiller).length, where('filler keys under the prefix (never judged) left')).toBe(FILLER_UNDER_PREFIX);
  expect.soft(after.otherKeys, where('unrelated keys left')).toBe(FILLER_OTHER);

  // Deletes only of keys confirmed by an earlier run.
  const deletesSent = [...new Set(commands.flatMap((c) => staleKeyDeleteOf(c) ?? []))];
  for (const id of deletesSent) {
    const seen = firstSeenOf(before.keySightings.get(id));
    expect
      .soft(run.now !== undefined && run.now - seen >= KEY_CONFIRM_SECONDS * 1000, where(`stale key delete sent for ${id}, sighted before the run at ${before.keySightings.get(id) ?? 'no time'}`))
      .toBe(true);
  }

  if (!expected.scanned) {
    expect.soft(s.staleSessionKeys, where('stale keys reported although the scan failed')).toEqual([]);
    expect.soft(s.leakedDeployments, where('leaked Deployments reported although the scan failed')).toEqual([]);
    expect.soft([s.totals.staleSessionKeys, s.totals.staleSessionKeysDeleted, s.totals.leakedDeployments], where('stale and leaked totals')).toEqual([0, 0, 0]);
    expect.soft(deletesSent, where('stale key deletes sent although the scan failed')).toEqual([]);
    expect.soft(commands.some(isKeySightingsEval), where('stale keys sighted although the scan failed')).toBe(false);
    if (expected.scanWarning) expect.soft(s.warnings.some((w) => expected.scanWarning!.test(w)), where(`a warning matching ${expected.scanWarning}`)).toBe(true);
    const stale = STALE_IDS.filter((id) => before.keys.has(id) && !after.keys.has(id));
    expect.soft(stale, where('stale keys gone although the scan failed')).toEqual([]);
    return;
  }

  // Leaked: the seeded Deployment without a key, and only it (every other Deployment has its key).
  expect.soft(s.leakedDeployments.map((d) => `${d.namespace}/${d.name}/${d.labType}/${d.sessionId}`), where('leaked Deployments')).toEqual([
    `${LEAKED.namespace}/${LEAKED.name}/${LEAKED.labType}/${LEAKED.sessionId}`,
  ]);
  expect.soft(s.totals.leakedDeployments, where('totals.leakedDeployments')).toBe(1);

  // Stale: every judged key before the run without a resource of its id, and those the run's scan read as they were made.
  const judged = (id: string) => !isFiller(id);
  const expectedStale = new Set([...[...before.keys].filter((id) => judged(id) && resourcesOfId(before, id).length === 0), ...(expected.staleAlso ?? [])]);
  expect.soft(s.staleSessionKeys.map((k) => k.sessionId).sort(), where('stale keys reported')).toEqual([...expectedStale].sort());
  expect.soft(s.totals.staleSessionKeys, where('totals.staleSessionKeys')).toBe(s.staleSessionKeys.length);
  expect.soft(s.totals.staleSessionKeysDeleted, where('totals.staleSessionKeysDeleted')).toBe(s.staleSessionKeys.filter((k) => k.action === 'deleted').length);

  // Each one's action against Redis. A delete whose answer was lost (the command ran, a fault
  // replaced its answer) or a key deleted by another may be reported spared (gone) or failed.
  const lostAnswer = new Set(run.store.filter((r) => r.fault?.when === 'after').flatMap((r) => r.commands.flatMap((c) => staleKeyDeleteOf(c) ?? [])));
  const excused = (id: string) => lostAnswer.has(id) || (expected.deletedByOthers?.has(id) ?? false);
  for (const k of s.staleSessionKeys) {
    const id = k.sessionId;
    const what = `stale key ${id} reported ${k.action}/${k.reason}`;
    expect.soft(k.key, where(`${what}: its key`)).toBe(`${KEY_PREFIX}${id}`);
    expect.soft(['deleted', 'spared', 'failed'].includes(k.action), where(`${what}: an action of delete mode`)).toBe(true);
    const gone = before.keys.has(id) && !after.keys.has(id);
    if (k.action === 'deleted') {
      expect.soft(gone, where(`${what}, but the key is there`)).toBe(true);
      expect.soft(deletesSent.includes(id), where(`${what} without a delete sent`)).toBe(true);
    } else if (gone) {
      const ok = excused(id) && ((k.action === 'spared' && k.reason === 'gone') || (k.action === 'failed' && k.reason === 'delete-failed'));
      expect.soft(ok, where(`${what}, but its key is gone`)).toBe(true);
    }
    if (k.action === 'failed') expect.soft(k.reason, where(`${what}: why`)).toBe('delete-failed');
    if (k.action === 'spared' && k.reason !== 'gone') expect.soft(k.reason, where(`${what}: why`)).toBe('unconfirmed');
  }
  expect.soft(s.totals.errors, where('errors at least the stale keys failed')).toBeGreaterThanOrEqual(s.staleSessionKeys.filter((k) => k.action === 'failed').length);
}

/**
 * (e) for the cases with the keys seeded: what {@link notConverged} asks, and the stale keys
 * deleted (but those a session took over), the filler whole, no sighting of a key kept.
 */
export function notConvergedKeys(state: State, protectedResources: ReadonlyMap<string, string>, live: readonly string[] = []): string[] {
  const problems = notConverged(state, protectedResources);
  for (const id of STALE_IDS) {
    if (live.includes(id)) continue;
    if (state.keys.has(id)) problems.push(`stale key left: ${KEY_PREFIX}${id}`);
  }
  for (const id of live) if (!state.keys.has(id)) problems.push(`key of a session started while a run was in flight deleted: ${KEY_PREFIX}${id}`);
  const filler = [...state.keys].filter(isFiller).length;
  if (filler !== FILLER_UNDER_PREFIX || state.otherKeys !== FILLER_OTHER) problems.push(`filler lost: ${filler} of ${FILLER_UNDER_PREFIX} under the prefix, ${state.otherKeys} of ${FILLER_OTHER} others`);
  if (state.keySightings.size > 0) problems.push(`stale key sightings left: ${[...state.keySightings.keys()].join(', ')}`);
  if (state.keySightingSet.length > 0) problems.push(`sighted stale keys still listed: ${state.keySightingSet.join(', ')}`);
  return problems;
}

function brief(s: Summary): string {
  const failed = s.sessions.filter((x) => x.action === 'failed').map((x) => `${x.namespace}/${x.sessionId}:${x.reason}:${x.sessionKey ?? ''}`);
  const stale = s.staleSessionKeys.filter((k) => k.action !== 'deleted').map((k) => `${k.sessionId}:${k.action}:${k.reason}`);
  return JSON.stringify({ status: s.status, totals: s.totals, failed, stale, warnings: s.warnings.map((w) => w.slice(0, 160)), nsErrors: s.namespaces.filter((n) => n.error).map((n) => `${n.namespace}: ${n.error?.slice(0, 160)}`) });
}
