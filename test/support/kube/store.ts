/**
 * The in-memory object store behind the local API server: objects by kind, namespace and
 * name, a cluster-wide resourceVersion, and paginated lists that behave like etcd's.
 * Objects are held serialized (see {@link StoredObject}): half a million production-sized
 * objects fit in about their JSON's size, and a page of a thousand is a join of strings.
 */
import { randomUUID } from 'node:crypto';
import type { KindInfo, KubeObject, KubeObjectMeta } from './resources.js';
import { apiVersionOf } from './resources.js';
import {
  KubeStatusError,
  alreadyExists,
  badRequest,
  continueExpired,
  notFound,
  preconditionConflict,
} from './status.js';

/** System fields a test may set when it creates an object through the test API. */
export interface CreateOptions {
  /** Default: a random UUID. */
  uid?: string;
  /** Default: now. A Date or an RFC 3339 string; stored to the second, as the server does. */
  creationTimestamp?: Date | string;
  /** Merged over the object's labels. */
  labels?: Record<string, string>;
  /** Merged over the object's annotations. */
  annotations?: Record<string, string>;
}

/** Preconditions and options of a delete. */
export interface DeleteRequest {
  uid?: string;
  resourceVersion?: string;
  dryRun: boolean;
}

/** What a list request asks for. */
export interface ListRequest {
  limit?: number;
  continueToken?: string;
  labelSelector?: string;
}

/** A page of a list, as `{Kind}List.metadata` and `items`. */
export interface ListPage {
  metadata: { resourceVersion: string; continue?: string; remainingItemCount?: number };
  items: KubeObject[];
}

/** The decoded form of a continue token, the same fields the real server encodes. */
interface ContinueToken {
  v: 'meta.k8s.io/v1';
  rv: number;
  start: string;
}

/**
 * One stored object, kept serialized: its metadata and the rest of its fields as JSON, so a
 * list page is a join of strings, not a clone and a stringify of every item. Immutable: a
 * change stores a new one, so a list snapshot holding this one still sees the object as it
 * was, and there is no cache to invalidate.
 */
export class StoredObject {
  private labelsCache: Record<string, string> | undefined;

  constructor(
    readonly info: KindInfo,
    readonly namespace: string,
    readonly name: string,
    readonly uid: string,
    /** '' for a dry-run create, which is never stored. */
    readonly resourceVersion: string,
    /** `JSON.stringify(metadata)`. */
    readonly metadataJson: string,
    /** The fields after `metadata`, as JSON members each preceded by a comma; '' for none. */
    readonly restJson: string,
  ) {}

  /** The labels, parsed on first use (only label selectors need them). */
  labels(): Record<string, string> {
    this.labelsCache ??= (JSON.parse(this.metadataJson) as KubeObject['metadata']).labels ?? {};
    return this.labelsCache;
  }

  /** The object as a get answers it: apiVersion, kind, metadata, the rest. */
  objectJson(): string {
    return `{"apiVersion":"${apiVersionOf(this.info)}","kind":"${this.info.kind}","metadata":${this.metadataJson}${this.restJson}}`;
  }

  /** The object as an item of a list: without apiVersion and kind (kubernetes#3030). */
  itemJson(): string {
    return `{"metadata":${this.metadataJson}${this.restJson}}`;
  }

  /** The object's PartialObjectMetadata: its whole metadata, managedFields included. */
  metadataOnlyJson(apiVersion: string): string {
    return `{"kind":"PartialObjectMetadata","apiVersion":"${apiVersion}","metadata":${this.metadataJson}}`;
  }

  /** A fresh copy of the object. */
  object(): KubeObject {
    return JSON.parse(this.objectJson()) as KubeObject;
  }
}

/** A page of a list as stored objects; what the routes render in either representation. */
export interface StoredPage {
  metadata: ListPage['metadata'];
  items: readonly StoredObject[];
}

/** The objects of one kind in one namespace, with a sorted view rebuilt only after a change. */
class NamespaceIndex {
  readonly byName = new Map<string, StoredObject>();
  /** Never changed in place: list snapshots share it. */
  private sortedCache: readonly StoredObject[] | undefined;

  set(object: StoredObject): void {
    this.byName.set(object.name, object);
    this.sortedCache = undefined;
  }

  delete(name: string): boolean {
    const deleted = this.byName.delete(name);
    if (deleted) this.sortedCache = undefined;
    return deleted;
  }

  /** By name, in byte order (etcd key order). */
  sorted(): readonly StoredObject[] {
    this.sortedCache ??= [...this.byName.values()].sort((a, b) => compare(a.name, b.name));
    return this.sortedCache;
  }
}

export class ObjectStore {
  /** By kind (plural), then namespace. */
  private readonly kinds = new Map<string, Map<string, NamespaceIndex>>();
  /** The sorted items of each list that has more pages, by kind, namespace and revision. */
  private readonly snapshots = new Map<string, readonly StoredObject[]>();
  /** The page number each issued continue token leads to (2 for the first token of a list). */
  private readonly tokenPages = new Map<string, number>();
  /** Cluster-wide, like etcd's revision; starts high so it never looks like a count. */
  private revision = 41_000;

  /** The current resourceVersion of the store. */
  get resourceVersion(): string {
    return String(this.revision);
  }

  /**
   * Stores a new object, filling the system fields. `trusted` is false for objects created
   * over HTTP: the real server ignores a client's uid and creationTimestamp. A `dryRun`
   * create is checked and answered but not stored, and has no resourceVersion.
   *
   * Answers the object as stored: its own `metadata` object, with the system fields, and the
   * other fields of the object given (not copied: seeding half a million objects should not
   * pay for a deep copy of each). The store keeps its own serialized copy, so changing either
   * object never changes the stored one.
   */
  create(
    info: KindInfo,
    namespace: string,
    object: KubeObject,
    options: CreateOptions = {},
    how: { trusted?: boolean; dryRun?: boolean } = {},
  ): KubeObject {
    return this.store(info, namespace, object, options, how).object;
  }

  /** {@link create}, answering the stored form. */
  createStored(
    info: KindInfo,
    namespace: string,
    object: KubeObject,
    options: CreateOptions = {},
    how: { trusted?: boolean; dryRun?: boolean } = {},
  ): StoredObject {
    return this.store(info, namespace, object, options, how).stored;
  }

  private store(
    info: KindInfo,
    namespace: string,
    object: KubeObject,
    options: CreateOptions,
    how: { trusted?: boolean; dryRun?: boolean },
  ): { object: KubeObject; stored: StoredObject } {
    const name = object.metadata.name;
    const index = this.index(info, namespace);
    if (index.byName.has(name)) throw new KubeStatusError(alreadyExists(info, name));
    const resourceVersion = how.dryRun ? '' : String(this.revision + 1);
    const created = this.withSystemFields(info, namespace, object, options, how.trusted ?? true, resourceVersion);
    if (!how.dryRun) {
      this.revision++;
      index.set(created.stored);
    }
    return created;
  }

  /** A copy of the object, or undefined. */
  get(info: KindInfo, namespace: string, name: string): KubeObject | undefined {
    return this.getStored(info, namespace, name)?.object();
  }

  /** The stored form of the object, or undefined. */
  getStored(info: KindInfo, namespace: string, name: string): StoredObject | undefined {
    return this.kinds.get(info.plural)?.get(namespace)?.byName.get(name);
  }

  /** Copies of the objects of a kind, sorted by namespace then name (etcd key order). */
  all(info: KindInfo, namespace?: string): KubeObject[] {
    const namespaces = this.kinds.get(info.plural);
    if (!namespaces) return [];
    const order = namespace === undefined ? [...namespaces.keys()].sort((a, b) => compare(`${a}/`, `${b}/`)) : [namespace];
    return order.flatMap((ns) => (namespaces.get(ns)?.sorted() ?? []).map((o) => o.object()));
  }

  /** Deletes unless `dryRun`, after checking the preconditions; returns the object as it was. */
  delete(info: KindInfo, namespace: string, name: string, request: DeleteRequest): KubeObject {
    return this.deleteStored(info, namespace, name, request).object();
  }

  /** {@link delete}, answering the stored form. */
  deleteStored(info: KindInfo, namespace: string, name: string, request: DeleteRequest): StoredObject {
    const found = this.getStored(info, namespace, name);
    if (!found) throw new KubeStatusError(notFound(info, name));
    const { uid, resourceVersion } = found;
    if (request.uid !== undefined && request.uid !== uid) {
      throw new KubeStatusError(preconditionConflict(info, name, 'UID', request.uid, uid));
    }
    if (request.resourceVersion !== undefined && request.resourceVersion !== resourceVersion) {
      throw new KubeStatusError(preconditionConflict(info, name, 'ResourceVersion', request.resourceVersion, resourceVersion));
    }
    if (!request.dryRun) {
      this.index(info, namespace).delete(name);
      this.revision++;
    }
    return found;
  }

  /** Changes an object in place (same uid), bumping its resourceVersion. */
  update(info: KindInfo, namespace: string, name: string, mutate: (object: KubeObject) => void): KubeObject {
    const found = this.getStored(info, namespace, name);
    if (!found) throw new KubeStatusError(notFound(info, name));
    const changed = found.object();
    mutate(changed);
    // Identity fields are the server's; a test that wants a new uid recreates the object.
    changed.metadata = { ...changed.metadata, name, namespace, uid: found.uid, resourceVersion: String(++this.revision) };
    const stored = serialize(info, namespace, changed);
    this.index(info, namespace).set(stored);
    return stored.object();
  }

  /** Removes an object without any precondition; false when there was none. */
  remove(info: KindInfo, namespace: string, name: string): boolean {
    const removed = this.kinds.get(info.plural)?.get(namespace)?.delete(name) ?? false;
    if (removed) this.revision++;
    return removed;
  }

  /** Drops every object and every list snapshot (outstanding continue tokens then expire). */
  clear(): void {
    this.kinds.clear();
    this.snapshots.clear();
    this.revision++;
  }

  /** Expires every outstanding continue token, as an etcd compaction does. */
  expireContinueTokens(): void {
    this.snapshots.clear();
  }

  /** Which page a continue token leads to; 1 without a token; undefined for a token never issued. */
  pageOf(continueToken: string | undefined): number | undefined {
    return continueToken ? this.tokenPages.get(continueToken) : 1;
  }

  /**
   * One page of a list. Later pages are served from the snapshot taken by the first, so
   * a paginated list is consistent, as it is against etcd.
   */
  listPage(info: KindInfo, namespace: string, request: ListRequest): ListPage {
    const page = this.listStored(info, namespace, request);
    return { metadata: page.metadata, items: page.items.map((o) => JSON.parse(o.itemJson()) as KubeObject) };
  }

  /** {@link listPage}, answering the stored objects. */
  listStored(info: KindInfo, namespace: string, request: ListRequest): StoredPage {
    const { rv, start, items } = request.continueToken
      ? this.resume(info, namespace, request.continueToken)
      : { rv: this.revision, start: '', items: this.kinds.get(info.plural)?.get(namespace)?.sorted() ?? [] };
    // The snapshot is sorted by name: find where the page starts by bisection, then take
    // only what the page needs, as etcd's range read does (O(page), not O(list) per page).
    let from = 0;
    for (let hi = items.length; from < hi; ) {
      const mid = (from + hi) >>> 1;
      if (items[mid]!.name < start) from = mid + 1;
      else hi = mid;
    }
    const limit = request.limit && request.limit > 0 ? request.limit : Number.POSITIVE_INFINITY;
    const pageItems: StoredObject[] = [];
    let remaining = 0;
    for (let i = from; i < items.length; i++) {
      if (!matchesSelector(items[i]!, request.labelSelector)) continue;
      if (pageItems.length < limit) pageItems.push(items[i]!);
      else if (request.labelSelector) {
        // The count is left out with a selector: knowing that more follow is enough.
        remaining = 1;
        break;
      } else {
        remaining = items.length - i;
        break;
      }
    }
    const metadata: ListPage['metadata'] = { resourceVersion: String(rv) };
    const last = pageItems.at(-1);
    if (remaining > 0 && last) {
      this.snapshots.set(snapshotKey(info, namespace, rv), items);
      const token = encodeContinue({ v: 'meta.k8s.io/v1', rv, start: `${last.name}\u0000` });
      this.tokenPages.set(token, (this.pageOf(request.continueToken) ?? 1) + 1);
      metadata.continue = token;
      // The real server leaves the count out when a selector filtered the list.
      if (!request.labelSelector) metadata.remainingItemCount = remaining;
    }
    return { metadata, items: pageItems };
  }

  private resume(info: KindInfo, namespace: string, token: string): { rv: number; start: string; items: readonly StoredObject[] } {
    const decoded = decodeContinue(token);
    const items = this.snapshots.get(snapshotKey(info, namespace, decoded.rv));
    if (!items) throw new KubeStatusError(continueExpired());
    return { rv: decoded.rv, start: decoded.start, items };
  }

  private index(info: KindInfo, namespace: string): NamespaceIndex {
    let namespaces = this.kinds.get(info.plural);
    if (!namespaces) this.kinds.set(info.plural, (namespaces = new Map()));
    let index = namespaces.get(namespace);
    if (!index) namespaces.set(namespace, (index = new NamespaceIndex()));
    return index;
  }

  private withSystemFields(
    info: KindInfo,
    namespace: string,
    object: KubeObject,
    options: CreateOptions,
    trusted: boolean,
    resourceVersion: string,
  ): { object: KubeObject; stored: StoredObject } {
    const given = object.metadata;
    const labels = { ...given.labels, ...options.labels };
    const annotations = { ...given.annotations, ...options.annotations };
    const created = options.creationTimestamp ?? (trusted ? given.creationTimestamp : undefined) ?? new Date();
    const metadata: KubeObjectMeta = {
      ...given,
      namespace,
      uid: options.uid ?? (trusted ? given.uid : undefined) ?? randomUUID(),
      creationTimestamp: toRfc3339(created),
      ...(Object.keys(labels).length > 0 ? { labels } : {}),
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    };
    if (resourceVersion) metadata.resourceVersion = resourceVersion;
    else delete metadata.resourceVersion;
    const { apiVersion: _apiVersion, kind: _kind, metadata: _metadata, ...rest } = object;
    return { object: { apiVersion: apiVersionOf(info), kind: info.kind, metadata, ...rest }, stored: serializeParts(info, namespace, metadata, rest) };
  }
}

/** The stored form of an object whose system fields are set; apiVersion and kind are the kind's. */
function serialize(info: KindInfo, namespace: string, object: KubeObject): StoredObject {
  const { apiVersion: _apiVersion, kind: _kind, metadata, ...rest } = object;
  return serializeParts(info, namespace, metadata, rest);
}

function serializeParts(info: KindInfo, namespace: string, metadata: KubeObjectMeta, rest: object): StoredObject {
  const restJson = JSON.stringify(rest);
  return new StoredObject(
    info,
    namespace,
    metadata.name,
    metadata.uid ?? '',
    metadata.resourceVersion ?? '',
    JSON.stringify(metadata),
    restJson === '{}' ? '' : `,${restJson.slice(1, -1)}`,
  );
}

/** Byte order for ASCII names, as etcd compares keys. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function snapshotKey(info: KindInfo, namespace: string, rv: number): string {
  return `${info.plural}/${namespace}@${rv}`;
}

/** RFC 3339 to the second, as metav1.Time serializes. */
function toRfc3339(time: Date | string): string {
  const date = typeof time === 'string' ? new Date(time) : time;
  if (Number.isNaN(date.getTime())) throw new Error(`invalid creationTimestamp: ${String(time)}`);
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** base64url without padding of the JSON, as storage.EncodeContinue does. */
function encodeContinue(token: ContinueToken): string {
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

/** Decodes a token, or throws the real server's 400 for one that is not a token at all. */
function decodeContinue(token: string): ContinueToken {
  const invalid = (why: string) => new KubeStatusError(badRequest(`invalid continue token: continue key is not valid: ${why}`));
  if (!/^[A-Za-z0-9_-]+$/.test(token)) throw invalid('illegal base64 data');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalid('invalid character in JSON');
  }
  const candidate = parsed as Partial<ContinueToken> | null;
  if (candidate?.v !== 'meta.k8s.io/v1') throw invalid('server does not recognize this encoded version');
  if (typeof candidate.rv !== 'number') throw invalid('incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  if (!candidate.start) throw invalid('encoded start key empty (version meta.k8s.io/v1)');
  return { v: candidate.v, rv: candidate.rv, start: candidate.start };
}

/** Equality-based label selectors: `a=b`, `a==b`, `a!=b`, `a`, `!a`, comma-separated. */
function matchesSelector(object: StoredObject, selector: string | undefined): boolean {
  if (!selector) return true;
  const labels = object.labels();
  return selector.split(',').every((raw) => {
    const term = raw.trim();
    const inequality = /^([^!=]+)!=(.*)$/.exec(term);
    if (inequality) return labels[inequality[1]!.trim()] !== inequality[2]!.trim();
    const equality = /^([^!=]+)==?(.*)$/.exec(term);
    if (equality) return labels[equality[1]!.trim()] === equality[2]!.trim();
    if (term.startsWith('!')) return !(term.slice(1) in labels);
    return term in labels;
  });
}
