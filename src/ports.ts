/**
 * The ports: the small interfaces through which the core talks to the outside world.
 * Each is shaped by what the core needs, not by an SDK's surface, so that the core can be
 * tested with in-memory fakes and every adapter stays thin.
 */

/** The four kinds of resource a lab session is made of. */
export type ResourceKind = 'Deployment' | 'Service' | 'Ingress' | 'ConfigMap';

/** The kinds the reconciler may delete; a Deployment is never deleted. */
export type DeletableKind = Exclude<ResourceKind, 'Deployment'>;

/** What the core keeps of one listed resource: just enough to decide and to delete safely. */
export interface ResourceRecord {
  kind: ResourceKind;
  namespace: string;
  name: string;
  /** The uid it was listed with; every delete carries it as a precondition. */
  uid: string;
  /** `metadata.creationTimestamp` in epoch milliseconds; undefined when the object had none. */
  createdAt: number | undefined;
  /** Only the annotations the core reads (`lab-reconciler/keep`). */
  keep: boolean;
}

/** What the core keeps of one EndpointSlice. */
export interface EndpointSliceRecord {
  namespace: string;
  name: string;
  /** The `kubernetes.io/service-name` label; slices without it are ignored. */
  serviceName: string | undefined;
  /** Number of endpoints whose `conditions.ready` is not false (the API's own reading of unset). */
  readyEndpoints: number;
}

/** Everything the core needs to know about one namespace, read from complete lists. */
export interface NamespaceObservation {
  namespace: string;
  deployments: ResourceRecord[];
  services: ResourceRecord[];
  ingresses: ResourceRecord[];
  configMaps: ResourceRecord[];
  endpointSlices: EndpointSliceRecord[];
}

/** A Kubernetes object as JSON, whole. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; annotations?: Record<string, string> | null; [field: string]: unknown };
  [field: string]: unknown;
}

/**
 * A session key as the archive keeps it: its type, value and remaining time to live
 * (`pttlMs` -1 for none). The value is a string (`string`), an object of fields (`hash`),
 * an array of members (`list`, `set`), `[member, score]` pairs (`zset`), or `[id, [field,
 * value, ...]]` entries (`stream`).
 */
export interface SessionKeySnapshot {
  key: string;
  type: 'string' | 'hash' | 'list' | 'set' | 'zset' | 'stream';
  value: unknown;
  pttlMs: number;
}

/** A session key read whole, and the fingerprint of that very value (a SHA-1 the store makes). */
export interface KeyRead {
  snapshot: SessionKeySnapshot;
  /** Passed to a delete, it deletes the key only while it still holds this value. */
  fingerprint: string;
}

/** How one delete ended, when it did not throw. */
export type DeleteOutcome =
  /** The API server accepted the delete (in dry run: it would have). */
  | 'deleted'
  /** 404: somebody else deleted it first; counts as gone. */
  | 'gone'
  /** 409: the object under that name has another uid now; it is left alone and not retried. */
  | 'conflict';

/**
 * Where a namespace's lists go as they are read, object by object, in any order and
 * interleaved (the core's SessionCollector). Nothing is kept here that a decision does not need.
 */
export interface ObservationSink {
  /** One listed Deployment, Service, Ingress or ConfigMap. */
  resource(record: ResourceRecord): void;
  /** One listed EndpointSlice. */
  endpointSlice(record: EndpointSliceRecord): void;
  /** The list of `kind` started again from its first page: what it gave before is superseded. */
  restarted(kind: ResourceKind | 'EndpointSlice'): void;
}

/** The Kubernetes API, as the core uses it. */
export interface Cluster {
  /**
   * Lists the namespace's Deployments, Services, Ingresses, ConfigMaps and EndpointSlices,
   * every page of each, into `sink` as pages arrive (a page's objects only once the page was
   * read whole). Rejects when any list could not be read completely: an incomplete list must
   * never look like a missing Deployment, so the caller then drops what the sink holds.
   */
  observe(namespace: string, sink: ObservationSink): Promise<void>;
  /**
   * Deletes one resource with the precondition of the uid it was listed with.
   * With `dryRun`, the API server validates the delete (`dryRun=All`) and changes nothing.
   * Resolves to the outcome; rejects on any other failure, after the adapter's retries.
   */
  delete(resource: ResourceRecord, options: { dryRun: boolean }): Promise<DeleteOutcome>;
  /**
   * Reads whether the named Deployment exists now (a GET, not a list): the last look before
   * a session's resources are deleted, so that a Deployment recreated since the list spares them.
   */
  deploymentExists(namespace: string, name: string): Promise<boolean>;
  /**
   * Reads one resource whole (a GET), for the archive: the object as the API server returns it,
   * or `gone` on 404. Rejects on any other failure, after the adapter's retries.
   */
  read(resource: ResourceRecord): Promise<KubeObject | 'gone'>;
  /** A short description for logs and the table ("context kind-lab", "snapshot x.json"). */
  readonly description: string;
}

/** The session store (Upstash Redis): session keys, sightings and the run lock. */
export interface SessionStore {
  /** Takes the run lock for `ttlMs` if nobody holds it; resolves to false when somebody does. */
  acquireLock(owner: string, ttlMs: number): Promise<boolean>;
  /** Releases the lock only if `owner` still holds it. */
  releaseLock(owner: string): Promise<void>;
  /** Extends the lock to `ttlMs` from now if `owner` still holds it; resolves to whether it did. */
  renewLock(owner: string, ttlMs: number): Promise<boolean>;
  /**
   * Reads the first-sighting times (epoch ms) of these orphaned sessions of a namespace.
   * Unless `readOnly`, records `now` as the first sighting of those never seen before,
   * with the given time to live. Sessions without a sighting are absent from the map.
   */
  sightings(
    namespace: string,
    sessionIds: readonly string[],
    options: { now: number; ttlSeconds: number; readOnly: boolean },
  ): Promise<Map<string, number>>;
  /** Forgets the sightings of these sessions (no longer orphaned, or cleaned). */
  forgetSightings(namespace: string, sessionIds: readonly string[]): Promise<void>;
  /** Deletes the session's key; resolves to whether a key was there. */
  deleteSessionKey(sessionId: string): Promise<boolean>;
  /**
   * Remembers that these sessions' keys are to be deleted, before their resources are: a key
   * whose delete fails, or is put off, is then found and deleted by a later run.
   */
  markPendingKeys(sessionIds: readonly string[]): Promise<void>;
  /** The session ids whose keys are still to be deleted. */
  pendingKeys(): Promise<string[]>;
  /** Forgets these pending keys (deleted, or their session is alive again). */
  unmarkPendingKeys(sessionIds: readonly string[]): Promise<void>;
  /** The key a session is kept under, for reports. */
  sessionKey(sessionId: string): string;
  /** `SESSION_KEY_PREFIX`: every session key starts with it. */
  readonly keyPrefix: string;
  /**
   * Every key under the session prefix (`SCAN ... MATCH {prefix}*`), every page. Rejects when
   * any page cannot be read: a partial scan must never look like missing keys.
   */
  scanSessionKeys(): Promise<string[]>;
  /**
   * Reads the first sightings of these stale keys (epoch ms), each only as long as its key is
   * unchanged since: a key rewritten since its sighting, or never seen, gets `now` as its
   * first sighting, unless `readOnly` (then undefined). A key gone now is absent from the map.
   */
  keySightings(sessionIds: readonly string[], options: { now: number; ttlSeconds: number; readOnly: boolean }): Promise<Map<string, number | undefined>>;
  /** Forgets the sightings of every stale key except these (stale in this run). */
  forgetKeySightingsExcept(stillStale: ReadonlySet<string>): Promise<void>;
  /**
   * Deletes a stale key, in one atomic step, only if its sighting is still the one first seen
   * at `firstSeenAt` (the decision's) and the key is unchanged since: else `changed` (rewritten,
   * recreated, or its sighting started over: it starts over at `now`), or `absent` (gone).
   * With `fingerprint` (an archived value's), the key must also still hold that value.
   */
  deleteStaleKey(
    sessionId: string,
    options: { firstSeenAt: number; now: number; ttlSeconds: number; fingerprint?: string },
  ): Promise<'deleted' | 'changed' | 'absent'>;
  /**
   * Reads a session's key whole, for the archive (one atomic read of its type, value, TTL and
   * fingerprint); null when there is none. Rejects for a type the archive cannot hold (a module's).
   */
  readSessionKey(sessionId: string): Promise<KeyRead | null>;
  /** Deletes a session's key only while it holds the value of this fingerprint (the archived one). */
  deleteArchivedKey(sessionId: string, fingerprint: string): Promise<'deleted' | 'absent' | 'changed'>;
}

/** What a restore creates resources through (the operator's credentials: the reconciler's Role cannot create). */
export interface ResourceCreator {
  /** Creates the object: `created`, or `exists` when one of that name is there (it is never replaced). */
  create(kind: DeletableKind, namespace: string, object: KubeObject, options: { dryRun: boolean }): Promise<'created' | 'exists'>;
  readonly description: string;
}

/** What a restore writes session keys through. */
export interface KeyRestorer {
  /** Writes the key with its value and TTL: `restored`, or `exists` when a key of that name is there. */
  restoreSessionKey(snapshot: SessionKeySnapshot, options: { dryRun: boolean }): Promise<'restored' | 'exists'>;
  /** `SESSION_KEY_PREFIX`: a restore writes no key outside it. */
  readonly keyPrefix: string;
}

/** Where a restore reads records from: one record, a directory of them, or an S3 prefix. */
export interface ArchiveReader {
  /** The URIs of the records there, in name order; rejects when the source cannot be read. */
  list(): Promise<string[]>;
  /** One record's text. */
  read(uri: string): Promise<string>;
}

/** Where the archive records of cleaned sessions are written (an S3 bucket, a directory). */
export interface Archive {
  /** Writes one record under its name; resolves to its URI once it is durably stored. */
  write(name: string, body: string): Promise<string>;
  /** Where the records go, for logs and the table (`s3://bucket`, a directory). */
  readonly description: string;
}

/**
 * What a person watching a long run is told as it goes (the command line draws it on a
 * terminal); counts, not objects, so that telling costs nothing.
 */
export interface Progress {
  /** Objects listed so far in a namespace, all kinds together; `complete` once its lists are. */
  listed(namespace: string, objects: number, complete: boolean): void;
  /** Sessions done (cleaned, failed or skipped) of those the plan cleans. */
  cleaned(done: number, total: number): void;
}

/** The clock, injected so that tests control "now". */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Structured logging: a message in the past tense naming the object, plus fields. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** A logger that drops everything, for callers that want none. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
