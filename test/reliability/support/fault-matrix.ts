/**
 * The fault matrix as data: every request the product makes, every fault, and the cases
 * made of them. A case is persistent (the fault hits every matching request: times Infinity)
 * or transient (it hits the first one only: times 1); the two modes alternate over the
 * matrix like the squares of a chessboard, so each target and each fault meets both.
 */
import type { FaultEffect as KubeFaultEffect, FaultMatch } from '../../support/kube-api-server.js';
import type { EksFaultEffect } from '../../support/eks.js';
import type { FaultEffect as BridgeFaultEffect } from '../../support/upstash-bridge.js';
import type { S3FaultEffect } from '../../support/s3-proxy.js';
import { KEY_SIGHTINGS, LOCK_KEY, PENDING_KEYS } from '../../../src/adapters/upstash.js';
import { sessionKeysDeletedBy } from './archive-records.js';
import { isKeySightingsEval, staleKeyDeleteOf } from './fault-runs.js';
import type { World } from './fault-world.js';
import { FAULTED_NAMESPACE, KEY_PREFIX } from './fault-world.js';

export type Mode = 'transient' | 'persistent';

/** One fault, as each layer's test server makes it. */
export interface FaultSpec {
  id: string;
  kube?: KubeFaultEffect;
  store?: { effect: BridgeFaultEffect; when?: 'before' | 'after' };
  eks?: EksFaultEffect;
  /** Only for list pages after the first: the fault is about a continue token. */
  laterPagesOnly?: boolean;
  /** Only for the store calls whose right outcome after a lost answer is well defined (see StoreTarget.lostAnswer). */
  lostAnswerOnly?: boolean;
}

const RETRY_AFTER = { 'Retry-After': '1' };

export const FAULTS: readonly FaultSpec[] = [
  { id: '500', kube: { type: 'status', code: 500 }, store: { effect: { status: 500, body: { error: 'ERR internal error' } } }, eks: { type: 'status', status: 500, errorType: 'ServerException' } },
  { id: '503', kube: { type: 'status', code: 503 }, store: { effect: { status: 503, body: { error: 'ERR service unavailable' } } }, eks: { type: 'status', status: 503, errorType: 'ServiceUnavailableException' } },
  {
    id: '429 with Retry-After',
    kube: { type: 'status', code: 429, headers: RETRY_AFTER },
    store: { effect: { status: 429, headers: RETRY_AFTER, body: { error: 'ERR max requests limit exceeded' } } },
    eks: { type: 'status', status: 429, errorType: 'ThrottlingException', headers: RETRY_AFTER, message: 'Rate exceeded' },
  },
  {
    id: '429 without Retry-After',
    kube: { type: 'status', code: 429, body: 'Too many requests, please try again later.' },
    store: { effect: { status: 429, body: { error: 'ERR max requests limit exceeded' } } },
    eks: { type: 'status', status: 429, errorType: 'TooManyRequestsException', message: 'Rate exceeded' },
  },
  { id: 'timeout', kube: { type: 'hang' }, store: { effect: 'hang' }, eks: { type: 'hang' } },
  { id: 'reset', kube: { type: 'reset' }, store: { effect: 'reset' }, eks: { type: 'reset' } },
  { id: 'malformed JSON', kube: { type: 'malformed-json' }, store: { effect: 'malformed-json' }, eks: { type: 'malformed-json' } },
  { id: '410 expired continue', kube: { type: 'status', code: 410 }, laterPagesOnly: true },
  { id: '401', kube: { type: 'status', code: 401 }, store: { effect: { status: 401, body: { error: 'Unauthorized' } } }, eks: { type: 'status', status: 401, errorType: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' } },
  { id: '403', kube: { type: 'status', code: 403 }, store: { effect: { status: 403, body: { error: 'ERR forbidden' } } }, eks: { type: 'status', status: 403, errorType: 'AccessDeniedException', message: 'User is not authorized to perform: eks:DescribeCluster' } },
  // A reset can also come after the store ran the command: the write happened, the answer was lost.
  { id: 'reset after the command ran', store: { effect: 'reset', when: 'after' }, lostAnswerOnly: true },
];

/** A Kubernetes request, matched in the faulted namespace. */
export interface KubeTarget {
  id: string;
  match: FaultMatch;
  /** A list page: its failure leaves the namespace unlisted. */
  listPage?: number;
}

const LIST_KINDS = ['Deployment', 'Service', 'Ingress', 'ConfigMap', 'EndpointSlice'] as const;

export const KUBE_TARGETS: readonly KubeTarget[] = [
  ...LIST_KINDS.flatMap((kind) =>
    [1, 2].map((page) => ({ id: `list ${kind} page ${page}`, match: { verb: 'list', kind, namespace: FAULTED_NAMESPACE, page } as FaultMatch, listPage: page })),
  ),
  { id: 'GET Deployment (re-check)', match: { verb: 'get', kind: 'Deployment', namespace: FAULTED_NAMESPACE } },
  // Each resource read whole for the archive, just before the session's first delete.
  ...(['Ingress', 'Service', 'ConfigMap'] as const).map((kind) => ({ id: `GET ${kind} (archive read)`, match: { verb: 'get', kind, namespace: FAULTED_NAMESPACE } as FaultMatch })),
  ...(['Ingress', 'Service', 'ConfigMap'] as const).map((kind) => ({ id: `delete ${kind}`, match: { verb: 'delete', kind, namespace: FAULTED_NAMESPACE } as FaultMatch })),
];

/** A session-store call, matched by command and keys. */
export interface StoreTarget {
  id: string;
  command: string;
  match: (command: readonly string[]) => boolean;
  /** Made only when RECONCILIATION_CONFIRM_SECONDS > 0. */
  needsConfirmation?: boolean;
  /**
   * A lost answer (the command ran, the reset came after) has one right outcome: a write
   * that is idempotent or checkable (lock, sightings, pending set). Not for the key deletes, whose
   * retry finds nothing to delete and so cannot tell who deleted the key.
   */
  lostAnswer: boolean;
  /**
   * What its failure must do to the summary: `error` counts at least one error; `benign`
   * (a deleted key not yet forgotten as pending, which the next run forgets) may or may not.
   */
  failure: 'error' | 'benign';
  /** Its failure means the run could not start. */
  isLock?: boolean;
}

const hasKey = (command: readonly string[], test: (key: string) => boolean) => command.slice(1).some(test);
/** The archive's read of a session key: `EVAL_RO script 1 lab_session:{id}`. */
export const isSessionKeyRead = (command: readonly string[]): boolean => command[0] === 'EVAL_RO' && command[2] === '1' && (command[3]?.startsWith(KEY_PREFIX) ?? false);
const SIGHTING = 'lab-reconciler:sighting:';

export const STORE_TARGETS: readonly StoreTarget[] = [
  { id: 'lock SET NX', command: 'SET', match: (c) => c[1] === LOCK_KEY, lostAnswer: true, failure: 'error', isLock: true },
  { id: 'sightings SET NX/MGET pipeline', command: '*', match: (c) => (c[0] === 'SET' || c[0] === 'MGET') && hasKey(c, (k) => k.startsWith(SIGHTING)), needsConfirmation: true, lostAnswer: true, failure: 'error' },
  // The session key read whole for the archive (EVAL_RO of the read script): a read, so a lost answer is just retried.
  { id: 'session key read EVAL_RO', command: 'EVAL_RO', match: isSessionKeyRead, lostAnswer: true, failure: 'error' },
  { id: 'pending-keys SADD', command: 'SADD', match: (c) => c[1] === PENDING_KEYS, lostAnswer: true, failure: 'error' },
  { id: 'pending-keys SMEMBERS', command: 'SMEMBERS', match: (c) => c[1] === PENDING_KEYS, lostAnswer: false, failure: 'error' },
  { id: 'pending-keys SREM', command: 'SREM', match: (c) => c[1] === PENDING_KEYS, lostAnswer: true, failure: 'benign' },
  // A DEL, or, with an archive, the EVAL that deletes the key only while it holds the value archived.
  { id: 'session key delete', command: '*', match: (c) => sessionKeysDeletedBy(c, KEY_PREFIX).length > 0, lostAnswer: false, failure: 'error' },
  { id: 'sighting DEL', command: 'DEL', match: (c) => hasKey(c, (k) => k.startsWith(SIGHTING)), needsConfirmation: true, lostAnswer: false, failure: 'error' },
  { id: 'unlock EVAL', command: 'EVAL', match: (c) => hasKey(c, (k) => k === LOCK_KEY), lostAnswer: true, failure: 'error' },
];

export interface KubeCase {
  layer: 'kube';
  name: string;
  target: KubeTarget;
  fault: FaultSpec;
  mode: Mode;
  confirm: boolean;
}
export interface StoreCase {
  layer: 'store';
  name: string;
  target: StoreTarget;
  fault: FaultSpec;
  mode: Mode;
  confirm: boolean;
}
export interface EksCase {
  layer: 'eks';
  name: string;
  fault: FaultSpec;
  mode: Mode;
}

const modeOf = (i: number, j: number): Mode => ((i + j) % 2 === 0 ? 'persistent' : 'transient');
const nameOf = (target: string, fault: string, mode: Mode, confirm: boolean) =>
  `${target} × ${fault} (${mode}${confirm ? ', confirmation on' : ''})`;

/** Extra cases run with confirmation on (two runs under the fault), besides the sightings' own. */
const CONFIRMED_EXTRAS: { target: string; fault: string; mode: Mode }[] = [
  { target: 'list Deployment page 2', fault: '500', mode: 'persistent' },
  { target: 'delete Service', fault: 'reset', mode: 'persistent' },
  { target: 'GET Deployment (re-check)', fault: '403', mode: 'transient' },
  { target: 'session key delete', fault: '503', mode: 'transient' },
  { target: 'pending-keys SADD', fault: 'timeout', mode: 'persistent' },
];

export function kubeCases(): KubeCase[] {
  const cases: KubeCase[] = [];
  KUBE_TARGETS.forEach((target, i) =>
    FAULTS.forEach((fault, j) => {
      if (!fault.kube) return;
      if (fault.laterPagesOnly && !(target.listPage !== undefined && target.listPage > 1)) return;
      const mode = modeOf(i, j);
      cases.push({ layer: 'kube', name: nameOf(target.id, fault.id, mode, false), target, fault, mode, confirm: false });
    }),
  );
  for (const extra of CONFIRMED_EXTRAS) {
    const target = KUBE_TARGETS.find((t) => t.id === extra.target);
    const fault = FAULTS.find((f) => f.id === extra.fault)!;
    if (target) cases.push({ layer: 'kube', name: nameOf(target.id, fault.id, extra.mode, true), target, fault, mode: extra.mode, confirm: true });
  }
  return cases;
}

export function storeCases(): StoreCase[] {
  const cases: StoreCase[] = [];
  STORE_TARGETS.forEach((target, i) =>
    FAULTS.forEach((fault, j) => {
      if (!fault.store) return;
      if (fault.lostAnswerOnly && !target.lostAnswer) return;
      // A lost answer is tried both ways: a retry that finds its own write is the case to get right.
      const modes: Mode[] = fault.lostAnswerOnly ? ['transient', 'persistent'] : [modeOf(i, j)];
      const confirm = target.needsConfirmation === true;
      for (const mode of modes) cases.push({ layer: 'store', name: nameOf(target.id, fault.id, mode, confirm), target, fault, mode, confirm });
    }),
  );
  for (const extra of CONFIRMED_EXTRAS) {
    const target = STORE_TARGETS.find((t) => t.id === extra.target);
    const fault = FAULTS.find((f) => f.id === extra.fault)!;
    if (target) cases.push({ layer: 'store', name: nameOf(target.id, fault.id, extra.mode, true), target, fault, mode: extra.mode, confirm: true });
  }
  return cases;
}

export function eksCases(): EksCase[] {
  return FAULTS.flatMap((fault, j): EksCase[] => {
    if (!fault.eks) return [];
    // A DescribeCluster that never answers is tried persistent: there is nothing to retry onto.
    const mode = fault.id === 'timeout' ? 'persistent' : modeOf(0, j);
    return [{ layer: 'eks', name: nameOf('DescribeCluster', fault.id, mode, false), fault, mode }];
  });
}

/**
 * The store's side of both directions, run in delete mode (RECONCILIATION_STALE_KEYS=delete,
 * confirmation on) over the world seeded with stale keys, a leaked Deployment and filler
 * enough for a SCAN of three pages. `phase` says which run the fault is in:
 * - `first sighting`: the first two runs, minutes apart, are under the fault (the first
 *   sights the stale keys, the second would delete them);
 * - `confirmed delete`: a run without the fault sights them first; the next run, which would
 *   delete them, is under the fault.
 */
export interface KeyTarget extends StoreTarget {
  phase: 'first sighting' | 'confirmed delete';
  /** A page of the scan: its failure leaves the keys unread, and so unjudged. */
  scanPage?: number;
}

export const KEY_TARGETS: readonly KeyTarget[] = [
  // Every page after the first (SCAN's cursor is not 0): persistent, page 2 fails for good and page 3 is never asked for.
  { id: 'SCAN page 2', command: 'SCAN', match: (c) => c[1] !== '0', lostAnswer: false, failure: 'error', phase: 'confirmed delete', scanPage: 2 },
  { id: 'key sightings EVAL', command: 'EVAL', match: isKeySightingsEval, lostAnswer: true, failure: 'error', phase: 'first sighting' },
  { id: 'stale key delete EVAL', command: 'EVAL', match: (c) => staleKeyDeleteOf(c) !== undefined, lostAnswer: true, failure: 'error', phase: 'confirmed delete' },
  { id: 'key-sightings SMEMBERS', command: 'SMEMBERS', match: (c) => c[1] === KEY_SIGHTINGS, lostAnswer: false, failure: 'error', phase: 'confirmed delete' },
];

/** A lost answer that the client does not retry by itself (an HTTP error, not a network one): a persistent one stays cheap. */
const LOST_500: FaultSpec = { id: '500 after the command ran', store: { effect: { status: 500, body: { error: 'ERR internal error' } }, when: 'after' }, lostAnswerOnly: true };

export interface KeyCase extends Omit<StoreCase, 'target'> {
  target: KeyTarget;
}

/**
 * The key cases: chosen rather than crossed (each store fault on every key target would add
 * minutes), so that each target meets an HTTP error, a timeout, a reset and malformed JSON or a
 * lost answer, persistent and transient; the slow ones (resets, timeouts on the deletes, which
 * are many) transient.
 */
const KEY_CASES: { target: string; fault: string; mode: Mode }[] = [
  { target: 'SCAN page 2', fault: '500', mode: 'persistent' },
  { target: 'SCAN page 2', fault: '503', mode: 'transient' },
  { target: 'SCAN page 2', fault: 'timeout', mode: 'persistent' },
  { target: 'SCAN page 2', fault: 'reset', mode: 'persistent' },
  { target: 'SCAN page 2', fault: 'malformed JSON', mode: 'persistent' },
  { target: 'SCAN page 2', fault: '403', mode: 'transient' },
  { target: 'key sightings EVAL', fault: '500', mode: 'persistent' },
  { target: 'key sightings EVAL', fault: 'timeout', mode: 'persistent' },
  { target: 'key sightings EVAL', fault: 'reset', mode: 'transient' },
  { target: 'key sightings EVAL', fault: 'reset after the command ran', mode: 'transient' },
  { target: 'key sightings EVAL', fault: '500 after the command ran', mode: 'persistent' },
  { target: 'stale key delete EVAL', fault: '500', mode: 'persistent' },
  { target: 'stale key delete EVAL', fault: '503', mode: 'transient' },
  { target: 'stale key delete EVAL', fault: 'timeout', mode: 'transient' },
  { target: 'stale key delete EVAL', fault: 'reset', mode: 'transient' },
  { target: 'stale key delete EVAL', fault: 'malformed JSON', mode: 'persistent' },
  { target: 'stale key delete EVAL', fault: 'reset after the command ran', mode: 'transient' },
  { target: 'stale key delete EVAL', fault: '500 after the command ran', mode: 'persistent' },
  { target: 'key-sightings SMEMBERS', fault: '500', mode: 'persistent' },
];

export function keyCases(): KeyCase[] {
  return KEY_CASES.map(({ target: id, fault: faultId, mode }) => {
    const target = KEY_TARGETS.find((t) => t.id === id)!;
    const fault = faultId === LOST_500.id ? LOST_500 : FAULTS.find((f) => f.id === faultId)!;
    return { layer: 'store', name: `${target.id} × ${fault.id} (${mode}, stale keys: delete)`, target, fault, mode, confirm: true };
  });
}

export const times = (mode: Mode): number => (mode === 'persistent' ? Infinity : 1);

/**
 * The archive cases: each request of the archive step failing, with what the run under it must
 * then report exactly (the crossed cases above judge the same requests under every fault, by
 * the general checks only). `get`: a resource's read, in the faulted namespace; `key read`: the
 * session key's read at the bridge; `put`: the record's PutObject to S3 (the real S3Archive,
 * through the proxy to moto). `failed` lists the sessions (`namespace/sessionId`) that must be
 * `failed`/`archive-failed`, or says how many, when which one depends on the order of the work.
 */
export interface ArchiveCase {
  layer: 'archive';
  name: string;
  target: { step: 'get'; kind: 'Service' | 'Ingress' | 'ConfigMap' } | { step: 'key read' } | { step: 'put' };
  fault: { id: string; kube?: KubeFaultEffect; store?: BridgeFaultEffect; s3?: S3FaultEffect };
  mode: Mode;
  failed: readonly string[] | number;
  /** What each failed session's error must say. */
  error: RegExp;
}

const JUPYTER_ORPHANS = ['jupyter-lab/jdead1', 'jupyter-lab/jdead2'];
/** Every session a clean run cleans: those whose key it may delete, and `shared` in ubuntu-lab, whose key is alive elsewhere. */
const ALL_ORPHANS = [...JUPYTER_ORPHANS, 'ubuntu-lab/udead1', 'ubuntu-lab/shared'];
const KEY_READERS = [...JUPYTER_ORPHANS, 'ubuntu-lab/udead1'];

export function archiveCases(): ArchiveCase[] {
  const cases: ArchiveCase[] = [];
  const gets = [
    { id: '500', kube: { type: 'status', code: 500 } as KubeFaultEffect },
    { id: 'timeout', kube: { type: 'hang' } as KubeFaultEffect },
    { id: 'reset', kube: { type: 'reset' } as KubeFaultEffect },
  ];
  for (const kind of ['Service', 'Ingress', 'ConfigMap'] as const) {
    for (const fault of gets) {
      const error = new RegExp(`^could not read ${kind}/${kind === 'Service' ? 'jupyter-service' : kind === 'Ingress' ? 'jupyter-ingress' : 'jupyter-config'}-jdead\\d for the archive, so nothing was deleted: `);
      cases.push({ layer: 'archive', name: `archive GET ${kind} × ${fault.id} (persistent)`, target: { step: 'get', kind }, fault, mode: 'persistent', failed: JUPYTER_ORPHANS, error });
    }
  }
  const keyRead = /^could not read session key lab_session:\w+ for the archive, so nothing was deleted: /;
  cases.push(
    { layer: 'archive', name: 'archive key read EVAL_RO × 500 (persistent)', target: { step: 'key read' }, fault: { id: '500', store: { status: 500, body: { error: 'ERR internal error' } } }, mode: 'persistent', failed: KEY_READERS, error: keyRead },
    { layer: 'archive', name: 'archive key read EVAL_RO × timeout (persistent)', target: { step: 'key read' }, fault: { id: 'timeout', store: 'hang' }, mode: 'persistent', failed: KEY_READERS, error: keyRead },
  );
  const put = (status: string) => new RegExp(`^could not write the archive record \\S+ to s3://\\S+, so nothing was deleted: ${status}`);
  cases.push(
    { layer: 'archive', name: 'archive S3 PutObject × 500 InternalError (persistent)', target: { step: 'put' }, fault: { id: '500', s3: 'internal-error' }, mode: 'persistent', failed: ALL_ORPHANS, error: put('InternalError \\(HTTP 500\\)') },
    { layer: 'archive', name: 'archive S3 PutObject × 403 AccessDenied (persistent)', target: { step: 'put' }, fault: { id: '403', s3: 'access-denied' }, mode: 'persistent', failed: ALL_ORPHANS, error: put('AccessDenied \\(HTTP 403\\)') },
    { layer: 'archive', name: 'archive S3 PutObject × timeout (persistent)', target: { step: 'put' }, fault: { id: 'timeout', s3: 'hang' }, mode: 'persistent', failed: ALL_ORPHANS, error: put('.*(timed? ?out|Timeout)') },
    // Once: the SDK retries a 500 by itself, and nothing fails; a 403 it does not, and one session waits for the next run.
    { layer: 'archive', name: 'archive S3 PutObject × 500 InternalError (transient)', target: { step: 'put' }, fault: { id: '500', s3: 'internal-error' }, mode: 'transient', failed: [], error: /^$/ },
    { layer: 'archive', name: 'archive S3 PutObject × 403 AccessDenied (transient)', target: { step: 'put' }, fault: { id: '403', s3: 'access-denied' }, mode: 'transient', failed: 1, error: put('AccessDenied \\(HTTP 403\\)') },
  );
  return cases;
}

/** Injects an archive case's fault where it aims; returns how often it has hit. */
export function injectArchiveFault(w: World, c: ArchiveCase): () => number {
  const n = times(c.mode);
  const fault =
    c.target.step === 'get'
      ? w.server.injectFault({ verb: 'get', kind: c.target.kind, namespace: FAULTED_NAMESPACE, effect: c.fault.kube!, times: n })
      : c.target.step === 'key read'
        ? w.bridge.fail({ command: 'EVAL_RO', match: isSessionKeyRead, effect: c.fault.store!, times: n })
        : w.archiveServers.proxy.failPuts({ effect: c.fault.s3!, times: n });
  return () => fault.hits;
}
