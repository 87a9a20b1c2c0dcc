/**
 * The in-memory object store behind the local API server: objects by kind, namespace and
 * name, a cluster-wide resourceVersion, and paginated lists that behave like etcd's.
 */
import { randomUUID } from 'node:crypto';
import type { KindInfo, KubeObject } from './resources.js';
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

export class ObjectStore {
  private readonly objects = new Map<string, KubeObject>();
  /** The sorted items of each list that has more pages, by kind, namespace and revision. */
  private readonly snapshots = new Map<string, KubeObject[]>();
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
   */
  create(
    info: KindInfo,
    namespace: string,
    object: KubeObject,
    options: CreateOptions = {},
    how: { trusted?: boolean; dryRun?: boolean } = {},
  ): KubeObject {
    const name = object.metadata.name;
    const key = keyOf(info, namespace, name);
    if (this.objects.has(key)) throw new KubeStatusError(alreadyExists(info, name));
    const created = this.withSystemFields(info, namespace, object, options, how.trusted ?? true);
    if (how.dryRun) {
      delete created.metadata.resourceVersion;
      return created;
    }
    created.metadata.resourceVersion = String(++this.revision);
    this.objects.set(key, created);
    return structuredClone(created);
  }

  /** A copy of the object, or undefined. */
  get(info: KindInfo, namespace: string, name: string): KubeObject | undefined {
    const found = this.objects.get(keyOf(info, namespace, name));
    return found && structuredClone(found);
  }

  /** Copies of the objects of a kind, sorted by namespace then name (etcd key order). */
  all(info: KindInfo, namespace?: string): KubeObject[] {
    return this.sorted(info, namespace).map((o) => structuredClone(o));
  }

  /** Deletes unless `dryRun`, after checking the preconditions; returns the object as it was. */
  delete(info: KindInfo, namespace: string, name: string, request: DeleteRequest): KubeObject {
    const key = keyOf(info, namespace, name);
    const found = this.objects.get(key);
    if (!found) throw new KubeStatusError(notFound(info, name));
    const { uid = '', resourceVersion = '' } = found.metadata;
    if (request.uid !== undefined && request.uid !== uid) {
      throw new KubeStatusError(preconditionConflict(info, name, 'UID', request.uid, uid));
    }
    if (request.resourceVersion !== undefined && request.resourceVersion !== resourceVersion) {
      throw new KubeStatusError(preconditionConflict(info, name, 'ResourceVersion', request.resourceVersion, resourceVersion));
    }
    if (!request.dryRun) {
      this.objects.delete(key);
      this.revision++;
    }
    return structuredClone(found);
  }

  /** Changes an object in place (same uid), bumping its resourceVersion. */
  update(info: KindInfo, namespace: string, name: string, mutate: (object: KubeObject) => void): KubeObject {
    const key = keyOf(info, namespace, name);
    const found = this.objects.get(key);
    if (!found) throw new KubeStatusError(notFound(info, name));
    const changed = structuredClone(found);
    mutate(changed);
    // Identity fields are the server's; a test that wants a new uid recreates the object.
    changed.metadata = { ...changed.metadata, name, namespace, uid: found.metadata.uid, resourceVersion: String(++this.revision) };
    this.objects.set(key, changed);
    return structuredClone(changed);
  }

  /** Removes an object without any precondition; false when there was none. */
  remove(info: KindInfo, namespace: string, name: string): boolean {
    const removed = this.objects.delete(keyOf(info, namespace, name));
    if (removed) this.revision++;
    return removed;
  }

  /** Drops every object and every list snapshot (outstanding continue tokens then expire). */
  clear(): void {
    this.objects.clear();
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
    const { rv, start, items } = request.continueToken
      ? this.resume(info, namespace, request.continueToken)
      : { rv: this.revision, start: '', items: this.sorted(info, namespace) };
    // The snapshot is sorted by name: find where the page starts by bisection, then take
    // only what the page needs, as etcd's range read does (O(page), not O(list) per page).
    let from = 0;
    for (let hi = items.length; from < hi; ) {
      const mid = (from + hi) >>> 1;
      if (items[mid]!.metadata.name < start) from = mid + 1;
      else hi = mid;
    }
    const limit = request.limit && request.limit > 0 ? request.limit : Number.POSITIVE_INFINITY;
    const pageItems: KubeObject[] = [];
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
      const token = encodeContinue({ v: 'meta.k8s.io/v1', rv, start: `${last.metadata.name}\u0000` });
      this.tokenPages.set(token, (this.pageOf(request.continueToken) ?? 1) + 1);
      metadata.continue = token;
      // The real server leaves the count out when a selector filtered the list.
      if (!request.labelSelector) metadata.remainingItemCount = remaining;
    }
    return { metadata, items: pageItems.map(asListItem) };
  }

  private resume(info: KindInfo, namespace: string, token: string): { rv: number; start: string; items: KubeObject[] } {
    const decoded = decodeContinue(token);
    const items = this.snapshots.get(snapshotKey(info, namespace, decoded.rv));
    if (!items) throw new KubeStatusError(continueExpired());
    return { rv: decoded.rv, start: decoded.start, items };
  }

  private sorted(info: KindInfo, namespace?: string): KubeObject[] {
    const prefix = namespace === undefined ? `${info.plural}/` : `${info.plural}/${namespace}/`;
    return [...this.objects.entries()]
      .filter(([key]) => key.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, object]) => object);
  }

  private withSystemFields(info: KindInfo, namespace: string, object: KubeObject, options: CreateOptions, trusted: boolean): KubeObject {
    const copy = structuredClone(object);
    const given = copy.metadata;
    const labels = { ...given.labels, ...options.labels };
    const annotations = { ...given.annotations, ...options.annotations };
    const created = options.creationTimestamp ?? (trusted ? given.creationTimestamp : undefined) ?? new Date();
    copy.apiVersion = apiVersionOf(info);
    copy.kind = info.kind;
    copy.metadata = {
      ...given,
      namespace,
      uid: options.uid ?? (trusted ? given.uid : undefined) ?? randomUUID(),
      creationTimestamp: toRfc3339(created),
      ...(Object.keys(labels).length > 0 ? { labels } : {}),
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    };
    return copy;
  }
}

function keyOf(info: KindInfo, namespace: string, name: string): string {
  return `${info.plural}/${namespace}/${name}`;
}

function snapshotKey(info: KindInfo, namespace: string, rv: number): string {
  return `${info.plural}/${namespace}@${rv}`;
}

/** Items inside a list carry no apiVersion/kind on the real server (kubernetes#3030). */
function asListItem(object: KubeObject): KubeObject {
  const { apiVersion: _apiVersion, kind: _kind, ...rest } = structuredClone(object);
  return rest;
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
function matchesSelector(object: KubeObject, selector: string | undefined): boolean {
  if (!selector) return true;
  const labels = object.metadata.labels ?? {};
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
