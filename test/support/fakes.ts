/**
 * In-memory fakes of the ports (Cluster, SessionStore, Clock, Logger) and small builders of
 * lab sessions, for the core and reconcile tests. The fakes keep Kubernetes-shaped objects
 * and turn them into records with the adapters' own `toRecord`, so that annotations, creation
 * times and endpoint readiness are read exactly as in production.
 */
import type { ArchiveRecord } from '../../src/core/archive.js';
import type {
  Archive,
  Clock,
  Cluster,
  DeleteOutcome,
  Logger,
  NamespaceObservation,
  ObservationSink,
  ResourceKind,
  KubeObject,
  ResourceRecord,
  KeyRead,
  SessionStore,
} from '../../src/ports.js';
import { KEEP_ANNOTATION, toEndpointSliceRecord, toRecord } from '../../src/adapters/records.js';
import { nameFor } from '../../src/core/naming.js';
import { replay } from '../../src/core/collect.js';

/** One call made to a fake, in the order calls were made (shared between fakes if wanted). */
export interface CallRecord {
  port: 'cluster' | 'store' | 'archive';
  operation: string;
  /** What the call was about: `Kind/namespace/name`, a namespace, or a Redis key. */
  subject: string;
  /** The delete's dry-run flag and uid precondition; the store's read-only flag. */
  dryRun?: boolean;
  uid?: string;
  readOnly?: boolean;
  /** How the call ended: an outcome such as `deleted`, `true`/`false`, or `error: ...`. */
  result?: string;
}

/** A clock that only moves when told to. */
export class FixedClock implements Clock {
  constructor(private current: number = Date.parse('2026-11-26T12:00:00.000Z')) {}

  now(): number {
    return this.current;
  }

  /** Sets the time, in epoch milliseconds. */
  set(epochMs: number): void {
    this.current = epochMs;
  }

  /** Moves the time forward by this many seconds. */
  advanceSeconds(seconds: number): void {
    this.current += seconds * 1000;
  }
}

/** One line logged through a RecordingLogger. */
export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  fields: Record<string, unknown> | undefined;
}

/** A logger that keeps every line, for assertions on what was logged. */
export class RecordingLogger implements Logger {
  readonly entries: LogEntry[] = [];

  debug(message: string, fields?: Record<string, unknown>): void {
    this.entries.push({ level: 'debug', message, fields });
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.entries.push({ level: 'info', message, fields });
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.entries.push({ level: 'warn', message, fields });
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.entries.push({ level: 'error', message, fields });
  }

  /** The messages logged, optionally of one level only. */
  messages(level?: LogEntry['level']): string[] {
    return this.entries.filter((e) => level === undefined || e.level === level).map((e) => e.message);
  }
}

/** A Kubernetes object as the fake cluster keeps it: the metadata the adapters read. */
export interface FakeObject {
  kind: ResourceKind;
  namespace: string;
  name: string;
  uid: string;
  /** Epoch ms; undefined for an object without `creationTimestamp`. */
  createdAt: number | undefined;
  annotations: Record<string, string>;
}

/** An EndpointSlice as the fake cluster keeps it. */
export interface FakeEndpointSlice {
  namespace: string;
  name: string;
  /** The `kubernetes.io/service-name` label; undefined for a slice without it. */
  serviceName: string | undefined;
  /** Each endpoint's `conditions.ready`: true, false, or undefined (unset). */
  endpoints: (boolean | undefined)[];
}

type ClusterOperation = 'observe' | 'delete' | 'deploymentExists' | 'read';

/** Which calls an injected failure applies to; an unset field matches anything. */
export interface ClusterMatch {
  namespace?: string;
  kind?: ResourceKind;
  name?: string;
}

interface ClusterFailure extends ClusterMatch {
  operation: ClusterOperation;
  /** An error to throw, or a delete outcome to answer instead of the real one. */
  answer: Error | DeleteOutcome;
  remaining: number;
}

export interface FakeClusterOptions {
  /** A log shared with other fakes, to check the order of calls across ports. */
  log?: CallRecord[];
  /** Milliseconds every call takes (real timers); 0 answers on the next microtask. */
  latencyMs?: number;
}

let uidCounter = 0;
/** A fresh uid, unique in the test process. */
export function freshUid(): string {
  uidCounter += 1;
  return `uid-${uidCounter.toString().padStart(6, '0')}`;
}

/**
 * An in-memory Kubernetes API: namespaces of Deployments, Services, Ingresses, ConfigMaps
 * and EndpointSlices. Deletes honour the uid precondition (409 → `conflict`), answer 404 as
 * `gone`, and change nothing in dry run. Failures can be injected per operation and
 * namespace/kind/name; every call is logged; with `latencyMs`, calls overlap and the peak
 * number in flight is tracked.
 */
export class FakeCluster implements Cluster {
  readonly description = 'fake cluster';
  readonly calls: CallRecord[];
  /** Most calls in flight at once, over the fake's life. */
  peakInFlight = 0;
  private inFlight = 0;
  private readonly objects = new Map<string, FakeObject>();
  private readonly slices = new Map<string, FakeEndpointSlice>();
  private readonly failures: ClusterFailure[] = [];
  private readonly latencyMs: number;

  constructor(options: FakeClusterOptions = {}) {
    this.calls = options.log ?? [];
    this.latencyMs = options.latencyMs ?? 0;
  }

  /** Adds (or replaces, under a new uid unless one is given) one object. */
  add(object: Omit<FakeObject, 'uid' | 'annotations'> & { uid?: string; annotations?: Record<string, string> }): FakeObject {
    const stored: FakeObject = { ...object, uid: object.uid ?? freshUid(), annotations: { ...(object.annotations ?? {}) } };
    this.objects.set(objectKey(stored.kind, stored.namespace, stored.name), stored);
    return { ...stored };
  }

  /** Adds (or replaces) one EndpointSlice. */
  addEndpointSlice(slice: FakeEndpointSlice): void {
    this.slices.set(`${slice.namespace}/${slice.name}`, { ...slice, endpoints: [...slice.endpoints] });
  }

  /** Removes an object as somebody else would, without logging a call. */
  remove(kind: ResourceKind, namespace: string, name: string): void {
    this.objects.delete(objectKey(kind, namespace, name));
  }

  /** The object stored under this name, if any (a copy). */
  get(kind: ResourceKind, namespace: string, name: string): FakeObject | undefined {
    const found = this.objects.get(objectKey(kind, namespace, name));
    return found && { ...found, annotations: { ...found.annotations } };
  }

  has(kind: ResourceKind, namespace: string, name: string): boolean {
    return this.objects.has(objectKey(kind, namespace, name));
  }

  /** Every object and slice, sorted, as plain data: equal snapshots mean an unchanged cluster. */
  snapshot(): { objects: FakeObject[]; slices: FakeEndpointSlice[] } {
    const objects = [...this.objects.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, o]) => structuredClone(o));
    const slices = [...this.slices.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, s]) => structuredClone(s));
    return { objects, slices };
  }

  /**
   * Makes matching calls fail: with an Error they reject, with a delete outcome (`conflict`,
   * `gone`) a delete answers that instead. `times` bounds how many calls are affected.
   */
  fail(operation: ClusterOperation, match: ClusterMatch, answer: Error | DeleteOutcome, times = Number.POSITIVE_INFINITY): void {
    this.failures.push({ operation, ...match, answer, remaining: times });
  }

  /** The delete calls logged, optionally only those that were not dry runs. */
  deletes(options: { dryRun?: boolean } = {}): CallRecord[] {
    return this.calls.filter(
      (c) => c.port === 'cluster' && c.operation === 'delete' && (options.dryRun === undefined || c.dryRun === options.dryRun),
    );
  }

  async observe(namespace: string, sink: ObservationSink): Promise<void> {
    const observation = await this.call<NamespaceObservation>({ port: 'cluster', operation: 'observe', subject: namespace }, { namespace }, 'observe', () => {
      const of = (kind: ResourceKind): ResourceRecord[] =>
        [...this.objects.values()]
          .filter((o) => o.kind === kind && o.namespace === namespace)
          .map((o) =>
            toRecord(kind, namespace, {
              name: o.name,
              namespace: o.namespace,
              uid: o.uid,
              creationTimestamp: o.createdAt === undefined ? undefined : new Date(o.createdAt).toISOString(),
              annotations: { ...o.annotations },
            }),
          );
      return {
        namespace,
        deployments: of('Deployment'),
        services: of('Service'),
        ingresses: of('Ingress'),
        configMaps: of('ConfigMap'),
        endpointSlices: [...this.slices.values()]
          .filter((s) => s.namespace === namespace)
          .map((s) =>
            toEndpointSliceRecord(namespace, {
              metadata: {
                name: s.name,
                namespace: s.namespace,
                labels: s.serviceName === undefined ? {} : { 'kubernetes.io/service-name': s.serviceName },
              },
              endpoints: s.endpoints.map((ready) => ({ conditions: ready === undefined ? {} : { ready } })),
            }),
          ),
      };
    });
    replay(observation, sink);
  }

  async delete(resource: ResourceRecord, options: { dryRun: boolean }): Promise<DeleteOutcome> {
    const record: CallRecord = {
      port: 'cluster',
      operation: 'delete',
      subject: `${resource.kind}/${resource.namespace}/${resource.name}`,
      dryRun: options.dryRun,
      uid: resource.uid,
    };
    return this.call(record, resource, 'delete', () => {
      const key = objectKey(resource.kind, resource.namespace, resource.name);
      const stored = this.objects.get(key);
      if (!stored) return 'gone';
      if (stored.uid !== resource.uid) return 'conflict';
      if (!options.dryRun) this.objects.delete(key);
      return 'deleted';
    });
  }

  /** The object whole, as an API server's GET would answer it (the fake keeps only metadata). */
  async read(resource: ResourceRecord): Promise<KubeObject | 'gone'> {
    const record: CallRecord = { port: 'cluster', operation: 'read', subject: `${resource.kind}/${resource.namespace}/${resource.name}` };
    return this.call(record, resource, 'read', () => {
      const stored = this.objects.get(objectKey(resource.kind, resource.namespace, resource.name));
      if (!stored) return 'gone' as const;
      return {
        apiVersion: resource.kind === 'Ingress' ? 'networking.k8s.io/v1' : 'v1',
        kind: stored.kind,
        metadata: {
          name: stored.name,
          namespace: stored.namespace,
          uid: stored.uid,
          ...(stored.createdAt === undefined ? {} : { creationTimestamp: new Date(stored.createdAt).toISOString() }),
          annotations: { ...stored.annotations },
        },
      };
    });
  }

  async deploymentExists(namespace: string, name: string): Promise<boolean> {
    const record: CallRecord = { port: 'cluster', operation: 'deploymentExists', subject: `Deployment/${namespace}/${name}` };
    return this.call(record, { namespace, kind: 'Deployment', name }, 'deploymentExists', () =>
      this.objects.has(objectKey('Deployment', namespace, name)),
    );
  }

  /** Logs the call, waits the latency, applies an injected failure or runs `act`. */
  private async call<T>(record: CallRecord, subject: ClusterMatch, operation: ClusterOperation, act: () => T): Promise<T> {
    this.calls.push(record);
    this.inFlight += 1;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    try {
      await (this.latencyMs > 0 ? new Promise((resolve) => setTimeout(resolve, this.latencyMs)) : Promise.resolve());
      const failure = this.failures.find((f) => f.operation === operation && f.remaining > 0 && matches(f, subject));
      if (failure) {
        failure.remaining -= 1;
        if (failure.answer instanceof Error) throw failure.answer;
        record.result = failure.answer;
        return failure.answer as T;
      }
      const result = act();
      record.result = String(result);
      return result;
    } catch (error) {
      record.result = `error: ${error instanceof Error ? error.message : String(error)}`;
      throw error;
    } finally {
      this.inFlight -= 1;
    }
  }
}

function objectKey(kind: ResourceKind, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

function matches(match: ClusterMatch, subject: ClusterMatch): boolean {
  return (
    (match.namespace === undefined || match.namespace === subject.namespace) &&
    (match.kind === undefined || match.kind === subject.kind) &&
    (match.name === undefined || match.name === subject.name)
  );
}

/** The run lock's key (as the Upstash adapter names it). */
export const LOCK_KEY = 'lab-reconciler:lock';

/** Where the first sighting of an orphaned session is kept (the contract's name). */
export function sightingKey(namespace: string, sessionId: string): string {
  return `lab-reconciler:sighting:${namespace}:${sessionId}`;
}

/** Where a stale key's first sighting is kept (the contract's name). */
export function keySightingKey(sessionId: string): string {
  return `lab-reconciler:sighting:key:${sessionId}`;
}

/** The ids whose stale keys have a sighting (as the Upstash adapter names the set). */
export const KEY_SIGHTINGS = 'lab-reconciler:key-sightings';

type StoreOperation =
  | 'scanSessionKeys'
  | 'keySightings'
  | 'forgetKeySightingsExcept'
  | 'deleteStaleKey'
  | 'acquireLock'
  | 'releaseLock'
  | 'renewLock'
  | 'sightings'
  | 'forgetSightings'
  | 'deleteSessionKey'
  | 'markPendingKeys'
  | 'pendingKeys'
  | 'unmarkPendingKeys'
  | 'readSessionKey'
  | 'deleteArchivedKey';

/** The set of session ids whose keys are still to be deleted (as the Upstash adapter names it). */
export const PENDING_KEYS = 'lab-reconciler:pending-session-keys';

interface StoredValue {
  value: string;
  /** Epoch ms by the injected clock; undefined for a key without TTL. */
  expiresAt: number | undefined;
}

export interface FakeSessionStoreOptions {
  clock: Clock;
  keyPrefix?: string;
  /** A log shared with other fakes, to check the order of calls across ports. */
  log?: CallRecord[];
}

/**
 * An in-memory session store: Redis-like keys with TTLs measured by the injected clock, the
 * run lock with an owner, and sightings as the port describes them (first sighting kept,
 * read-only reads record nothing). Failures can be injected per operation; calls are logged.
 */
export class FakeSessionStore implements SessionStore {
  readonly calls: CallRecord[];
  private readonly keys = new Map<string, StoredValue>();
  private readonly failures: { operation: StoreOperation; error: Error; remaining: number }[] = [];
  private readonly clock: Clock;
  readonly keyPrefix: string;

  constructor(options: FakeSessionStoreOptions) {
    this.clock = options.clock;
    this.keyPrefix = options.keyPrefix ?? 'lab_session:';
    this.calls = options.log ?? [];
  }

  /** Sets a key directly, without logging a call; `ttlMs` from the clock's now. */
  setKey(key: string, value: string, ttlMs?: number): void {
    this.keys.set(key, { value, expiresAt: ttlMs === undefined ? undefined : this.clock.now() + ttlMs });
  }

  /** Adds the session key of each of these sessions. */
  seedSessions(...sessionIds: string[]): void {
    for (const id of sessionIds) this.setKey(this.sessionKey(id), JSON.stringify({ sessionId: id }));
  }

  /** The value under a key, if it has not expired. */
  get(key: string): string | undefined {
    return this.live(key)?.value;
  }

  has(key: string): boolean {
    return this.live(key) !== undefined;
  }

  /** The time to live left on a key, in ms; undefined without TTL or key. */
  ttlMs(key: string): number | undefined {
    const stored = this.live(key);
    return stored?.expiresAt === undefined ? undefined : stored.expiresAt - this.clock.now();
  }

  /** Every live key and its value and expiry, sorted: equal snapshots mean an unchanged store. */
  snapshot(): [string, StoredValue][] {
    return [...this.keys.keys()]
      .sort()
      .flatMap((key) => {
        const stored = this.live(key);
        return stored ? [[key, { ...stored }] as [string, StoredValue]] : [];
      });
  }

  /** Makes the next `times` calls of an operation reject with `error`. */
  fail(operation: StoreOperation, error: Error, times = Number.POSITIVE_INFINITY): void {
    this.failures.push({ operation, error, remaining: times });
  }

  /** The calls logged for one operation. */
  callsOf(operation: StoreOperation): CallRecord[] {
    return this.calls.filter((c) => c.port === 'store' && c.operation === operation);
  }

  sessionKey(sessionId: string): string {
    return `${this.keyPrefix}${sessionId}`;
  }

  async acquireLock(owner: string, ttlMs: number): Promise<boolean> {
    return this.call('acquireLock', LOCK_KEY, {}, () => {
      if (this.has(LOCK_KEY)) return false;
      this.setKey(LOCK_KEY, owner, ttlMs);
      return true;
    });
  }

  async releaseLock(owner: string): Promise<void> {
    return this.call('releaseLock', LOCK_KEY, {}, () => {
      if (this.get(LOCK_KEY) === owner) this.keys.delete(LOCK_KEY);
    });
  }

  async renewLock(owner: string, ttlMs: number): Promise<boolean> {
    return this.call('renewLock', LOCK_KEY, {}, () => {
      if (this.get(LOCK_KEY) !== owner) return false;
      this.setKey(LOCK_KEY, owner, ttlMs);
      return true;
    });
  }

  async sightings(
    namespace: string,
    sessionIds: readonly string[],
    { now, ttlSeconds, readOnly }: { now: number; ttlSeconds: number; readOnly: boolean },
  ): Promise<Map<string, number>> {
    return this.call('sightings', `${namespace}:[${sessionIds.join(',')}]`, { readOnly }, () => {
      const result = new Map<string, number>();
      for (const id of sessionIds) {
        const key = sightingKey(namespace, id);
        // Like SET NX: the first sighting stays, a later one only reads it back.
        if (!readOnly && !this.has(key)) this.setKey(key, String(now), ttlSeconds * 1000);
        const seen = this.get(key);
        if (seen !== undefined) result.set(id, Number(seen));
      }
      return result;
    });
  }

  async forgetSightings(namespace: string, sessionIds: readonly string[]): Promise<void> {
    return this.call('forgetSightings', `${namespace}:[${sessionIds.join(',')}]`, {}, () => {
      for (const id of sessionIds) this.keys.delete(sightingKey(namespace, id));
    });
  }

  /** The fake keeps strings only: a key reads as a string with its TTL; its fingerprint is its value. */
  async readSessionKey(sessionId: string): Promise<KeyRead | null> {
    const key = this.sessionKey(sessionId);
    return this.call('readSessionKey', key, {}, () => {
      const stored = this.live(key);
      if (!stored) return null;
      return { snapshot: { key, type: 'string' as const, value: stored.value, pttlMs: stored.expiresAt === undefined ? -1 : stored.expiresAt - this.clock.now() }, fingerprint: stored.value };
    });
  }

  async deleteArchivedKey(sessionId: string, fingerprint: string): Promise<'deleted' | 'absent' | 'changed'> {
    const key = this.sessionKey(sessionId);
    return this.call('deleteArchivedKey', key, {}, () => {
      const stored = this.live(key);
      if (!stored) return 'absent' as const;
      if (stored.value !== fingerprint) return 'changed' as const;
      this.keys.delete(key);
      return 'deleted' as const;
    });
  }

  async deleteSessionKey(sessionId: string): Promise<boolean> {
    const key = this.sessionKey(sessionId);
    return this.call('deleteSessionKey', key, {}, () => {
      const existed = this.has(key);
      this.keys.delete(key);
      return existed;
    });
  }

  async markPendingKeys(sessionIds: readonly string[]): Promise<void> {
    return this.call('markPendingKeys', `[${sessionIds.join(',')}]`, {}, () => {
      this.addToSet(PENDING_KEYS, sessionIds);
    });
  }

  async pendingKeys(): Promise<string[]> {
    return this.call('pendingKeys', PENDING_KEYS, {}, () => this.members(PENDING_KEYS));
  }

  async unmarkPendingKeys(sessionIds: readonly string[]): Promise<void> {
    return this.call('unmarkPendingKeys', `[${sessionIds.join(',')}]`, {}, () => {
      this.removeFromSet(PENDING_KEYS, sessionIds);
    });
  }

  /** Every live key under the prefix, like SCAN MATCH (which also returns the product's own when they match). */
  async scanSessionKeys(): Promise<string[]> {
    return this.call('scanSessionKeys', `${this.keyPrefix}*`, {}, () => this.snapshot().map(([key]) => key).filter((key) => key.startsWith(this.keyPrefix)));
  }

  async keySightings(
    sessionIds: readonly string[],
    { now, ttlSeconds, readOnly }: { now: number; ttlSeconds: number; readOnly: boolean },
  ): Promise<Map<string, number | undefined>> {
    return this.call('keySightings', `[${sessionIds.join(',')}]`, { readOnly }, () => {
      const result = new Map<string, number | undefined>();
      for (const id of sessionIds) {
        const current = this.get(this.sessionKey(id));
        if (current === undefined) continue;
        const seen = this.keySighting(id);
        // The value stands in for the adapter's fingerprint: a rewritten key starts over.
        if (seen && seen.value === current) {
          if (!readOnly) this.setKey(keySightingKey(id), `${seen.at}\u0000${current}`, ttlSeconds * 1000);
          result.set(id, seen.at);
        } else if (readOnly) {
          result.set(id, undefined);
        } else {
          this.setKey(keySightingKey(id), `${now}\u0000${current}`, ttlSeconds * 1000);
          this.addToSet(KEY_SIGHTINGS, [id]);
          result.set(id, now);
        }
      }
      return result;
    });
  }

  async forgetKeySightingsExcept(stillStale: ReadonlySet<string>): Promise<void> {
    return this.call('forgetKeySightingsExcept', `[${[...stillStale].join(',')}]`, {}, () => {
      const forget = this.members(KEY_SIGHTINGS).filter((id) => !stillStale.has(id));
      for (const id of forget) this.keys.delete(keySightingKey(id));
      this.removeFromSet(KEY_SIGHTINGS, forget);
    });
  }

  async deleteStaleKey(
    sessionId: string,
    { firstSeenAt, now, ttlSeconds, fingerprint }: { firstSeenAt: number; now: number; ttlSeconds: number; fingerprint?: string },
  ): Promise<'deleted' | 'changed' | 'absent'> {
    const key = this.sessionKey(sessionId);
    return this.call('deleteStaleKey', key, {}, () => {
      const current = this.get(key);
      const seen = this.keySighting(sessionId);
      const forget = () => {
        this.keys.delete(keySightingKey(sessionId));
        this.removeFromSet(KEY_SIGHTINGS, [sessionId]);
      };
      if (current === undefined) {
        forget();
        return 'absent';
      }
      // As the adapter's script: only the decision's own sighting, older than now, confirms.
      // The fake's fingerprint of a value is the value itself.
      if (seen && seen.at === firstSeenAt && seen.at < now && seen.value === current && (fingerprint === undefined || fingerprint === current)) {
        this.keys.delete(key);
        forget();
        return 'deleted';
      }
      this.setKey(keySightingKey(sessionId), `${now}\u0000${current}`, ttlSeconds * 1000);
      this.addToSet(KEY_SIGHTINGS, [sessionId]);
      return 'changed';
    });
  }

  /** A stale key's sighting: when, and the value it had then. */
  keySighting(sessionId: string): { at: number; value: string } | undefined {
    const stored = this.get(keySightingKey(sessionId));
    if (stored === undefined) return undefined;
    const sep = stored.indexOf('\u0000');
    return { at: Number(stored.slice(0, sep)), value: stored.slice(sep + 1) };
  }

  /** A Redis set (the pending keys, the key sightings' index), kept here as a sorted JSON array under its key. */
  private members(key: string): string[] {
    const stored = this.get(key);
    return stored === undefined ? [] : (JSON.parse(stored) as string[]);
  }

  private addToSet(key: string, ids: readonly string[]): void {
    this.storeSet(key, [...new Set([...this.members(key), ...ids])].sort());
  }

  private removeFromSet(key: string, ids: readonly string[]): void {
    this.storeSet(key, this.members(key).filter((id) => !ids.includes(id)));
  }

  /** Like Redis, an empty set is no key at all. */
  private storeSet(key: string, ids: string[]): void {
    if (ids.length === 0) this.keys.delete(key);
    else this.setKey(key, JSON.stringify(ids));
  }

  private live(key: string): StoredValue | undefined {
    const stored = this.keys.get(key);
    if (stored?.expiresAt !== undefined && stored.expiresAt <= this.clock.now()) {
      this.keys.delete(key);
      return undefined;
    }
    return stored;
  }

  private async call<T>(operation: StoreOperation, subject: string, extra: Partial<CallRecord>, act: () => T): Promise<T> {
    const record: CallRecord = { port: 'store', operation, subject, ...extra };
    this.calls.push(record);
    await Promise.resolve();
    const failure = this.failures.find((f) => f.operation === operation && f.remaining > 0);
    if (failure) {
      failure.remaining -= 1;
      record.result = `error: ${failure.error.message}`;
      throw failure.error;
    }
    const result = act();
    record.result = String(result);
    return result;
  }
}

/** What a session is made of, for `addSession`. Ages are in seconds before `now`. */
export interface SessionSpec {
  namespace?: string;
  labType?: string;
  sessionId: string;
  /** Whether the session's Deployment exists (a live session). Default false: an orphan. */
  deployment?: boolean;
  /** Which of Service, Ingress, ConfigMap exist. Default: all three. */
  kinds?: readonly Exclude<ResourceKind, 'Deployment'>[];
  /** The time the ages are measured from (epoch ms). */
  now: number;
  /** Age of every resource, in seconds; default one hour. */
  ageSeconds?: number;
  /** Per-kind ages overriding `ageSeconds`; `null` for an object without creation time. */
  ages?: Partial<Record<ResourceKind, number | null>>;
  /** Kinds that carry `lab-reconciler/keep: "true"`. */
  keep?: readonly ResourceKind[];
  /** The Service's EndpointSlice endpoints (`ready` per endpoint); none by default. */
  endpoints?: (boolean | undefined)[];
}

/** The objects a session was given, by kind. */
export type AddedSession = Partial<Record<ResourceKind, FakeObject>>;

/**
 * Adds a lab session to a fake cluster, named by the convention: its Deployment (when
 * `deployment`), Service, Ingress and ConfigMap, and an EndpointSlice for the Service when
 * `endpoints` is given. Defaults: namespace `jupyter-lab`, lab type `jupyter`, one hour old.
 */
export function addSession(cluster: FakeCluster, spec: SessionSpec): AddedSession {
  const namespace = spec.namespace ?? 'jupyter-lab';
  const session = { labType: spec.labType ?? 'jupyter', sessionId: spec.sessionId };
  const kinds: ResourceKind[] = [...(spec.deployment ? (['Deployment'] as const) : []), ...(spec.kinds ?? ['Service', 'Ingress', 'ConfigMap'])];
  const added: AddedSession = {};
  for (const kind of kinds) {
    const override = spec.ages?.[kind];
    const age = override === undefined ? (spec.ageSeconds ?? 3600) : override;
    added[kind] = cluster.add({
      kind,
      namespace,
      name: nameFor(kind, session),
      createdAt: age === null ? undefined : spec.now - age * 1000,
      annotations: spec.keep?.includes(kind) ? { [KEEP_ANNOTATION]: 'true' } : {},
    });
  }
  if (spec.endpoints) {
    cluster.addEndpointSlice({
      namespace,
      name: `${nameFor('Service', session)}-abcde`,
      serviceName: nameFor('Service', session),
      endpoints: spec.endpoints,
    });
  }
  return added;
}

/** A resource record as an observation holds it, with sensible defaults. */
export function resourceRecord(
  kind: ResourceKind,
  name: string,
  fields: Partial<Omit<ResourceRecord, 'kind' | 'name'>> = {},
): ResourceRecord {
  return {
    kind,
    name,
    namespace: fields.namespace ?? 'jupyter-lab',
    uid: fields.uid ?? freshUid(),
    createdAt: 'createdAt' in fields ? fields.createdAt : Date.parse('2026-11-26T11:00:00.000Z'),
    keep: fields.keep ?? false,
  };
}

/** An observation of one namespace from loose records; slices default to none. */
export function observation(
  namespace: string,
  records: readonly ResourceRecord[],
  endpointSlices: NamespaceObservation['endpointSlices'] = [],
): NamespaceObservation {
  return {
    namespace,
    deployments: records.filter((r) => r.kind === 'Deployment'),
    services: records.filter((r) => r.kind === 'Service'),
    ingresses: records.filter((r) => r.kind === 'Ingress'),
    configMaps: records.filter((r) => r.kind === 'ConfigMap'),
    endpointSlices: [...endpointSlices],
  };
}

/**
 * An in-memory archive: records by name, each write logged in the shared call log (port
 * `archive`), failures injected per call.
 */
export class FakeArchive implements Archive {
  readonly description = 'fake archive';
  readonly records = new Map<string, string>();
  private failures: { error: Error; remaining: number }[] = [];

  constructor(private readonly calls: CallRecord[] = []) {}

  /** Makes the next `times` writes reject with `error`. */
  fail(error: Error, times = Number.POSITIVE_INFINITY): void {
    this.failures.push({ error, remaining: times });
  }

  /** The records written, parsed. */
  parsed(): ArchiveRecord[] {
    return [...this.records.values()].map((text) => JSON.parse(text) as ArchiveRecord);
  }

  async write(name: string, body: string): Promise<string> {
    const record: CallRecord = { port: 'archive', operation: 'write', subject: name };
    this.calls.push(record);
    await Promise.resolve();
    const failure = this.failures.find((f) => f.remaining > 0);
    if (failure) {
      failure.remaining -= 1;
      record.result = `error: ${failure.error.message}`;
      throw failure.error;
    }
    this.records.set(name, body);
    record.result = 'written';
    return `fake://${name}`;
  }
}

/** The fakes a run needs, sharing one call log (to check the order of calls across ports) and one clock. */
export function fakeWorld() {
  const clock = new FixedClock();
  const log: CallRecord[] = [];
  const cluster = new FakeCluster({ log });
  const store = new FakeSessionStore({ clock, log });
  const logger = new RecordingLogger();
  const archive = new FakeArchive(log);
  return { clock, log, cluster, store, logger, archive };
}
