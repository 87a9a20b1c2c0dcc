/**
 * The archive record of a cleaned session: what it holds, what it is named, how it is read
 * back, and what of each object a restore sends. Pure: the adapters write and read the bytes.
 */
import type { KubeObject, SessionKeySnapshot } from '../ports.js';
import { KEEP_ANNOTATION } from './naming.js';

/** The record format's version; a restore refuses any other. */
export const ARCHIVE_VERSION = 1;

/** The kinds a record may hold: the ones the reconciler deletes. */
export const ARCHIVED_KINDS = ['Service', 'Ingress', 'ConfigMap'] as const;
export type ArchivedKind = (typeof ARCHIVED_KINDS)[number];

/**
 * One cleaned session, as archived just before its first delete (the contract's fields); or a
 * session key alone, deleted without its session's resources (a stale key, or a key an earlier
 * clean left pending): `namespace` and `labType` null, no resources.
 */
export interface ArchiveRecord {
  version: typeof ARCHIVE_VERSION;
  runStartedAt: string;
  cluster: string;
  namespace: string | null;
  labType: string | null;
  sessionId: string;
  reason: string;
  /** Each object as the API server returned it, whole. */
  resources: KubeObject[];
  sessionKey: SessionKeySnapshot | null;
}

/** Where the records of keys archived alone live: no namespace name can hold an underscore. */
export const KEY_RECORDS = '_keys';

/**
 * `{namespace}/{sessionId}/{startedAt}-{labType}.json`: a session's records sort by run; a key's
 * alone, `_keys/{sessionId}/{startedAt}.json`.
 */
export function archiveRecordName(record: Pick<ArchiveRecord, 'namespace' | 'sessionId' | 'runStartedAt' | 'labType'>): string {
  if (record.namespace === null) return `${KEY_RECORDS}/${record.sessionId}/${record.runStartedAt}.json`;
  return `${record.namespace}/${record.sessionId}/${record.runStartedAt}-${record.labType}.json`;
}

/** A record that cannot be restored from; the message names the record and what is wrong. */
export class ArchiveRecordError extends Error {
  override name = 'ArchiveRecordError';
}

/**
 * Reads a record back, checking every field a restore relies on: anything else (not JSON, an
 * unknown version, a kind the reconciler never deletes, an object of another namespace) is
 * an ArchiveRecordError naming `source`, so that nothing is created from a record half understood.
 */
export function parseArchiveRecord(text: string, source: string): ArchiveRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ArchiveRecordError(`${source} is not JSON (${(error as Error).message}): not an archive record`);
  }
  const fail = (what: string): never => {
    throw new ArchiveRecordError(`${source} is not an archive record of version ${ARCHIVE_VERSION}: ${what}`);
  };
  if (!isObject(parsed)) return fail('it is not a JSON object');
  if (parsed.version !== ARCHIVE_VERSION) {
    return fail(`its version is ${JSON.stringify(parsed.version)}; this lab-reconciler reads version ${ARCHIVE_VERSION} only`);
  }
  // A key's own record has no namespace and no lab type, and nothing but its key.
  const keyOnly = parsed.namespace === null && parsed.labType === null;
  for (const field of ['runStartedAt', 'cluster', 'sessionId', 'reason', ...(keyOnly ? [] : (['namespace', 'labType'] as const))] as const) {
    if (typeof parsed[field] !== 'string' || parsed[field] === '') fail(`"${field}" is not a non-empty string`);
  }
  const namespace = parsed.namespace as string;
  if (!Array.isArray(parsed.resources)) return fail('"resources" is not an array');
  if (keyOnly && (parsed.resources.length > 0 || parsed.sessionKey === null)) fail('a record without a namespace holds a session key and nothing else');
  parsed.resources.forEach((object, index) => {
    const where = `resources[${index}]`;
    if (!isObject(object) || !isObject(object.metadata)) return fail(`${where} is not a Kubernetes object`);
    if (!(ARCHIVED_KINDS as readonly unknown[]).includes(object.kind)) fail(`${where} is a ${JSON.stringify(object.kind)}; a record holds only ${ARCHIVED_KINDS.join(', ')}`);
    if (typeof object.metadata.name !== 'string' || object.metadata.name === '') fail(`${where} has no metadata.name`);
    if (object.metadata.namespace !== undefined && object.metadata.namespace !== namespace) {
      fail(`${where} is in namespace ${JSON.stringify(object.metadata.namespace)}, not the record's ${JSON.stringify(namespace)}`);
    }
  });
  const key = parsed.sessionKey;
  if (key !== null) {
    if (!isObject(key) || typeof key.key !== 'string' || typeof key.type !== 'string' || typeof key.pttlMs !== 'number') {
      return fail('"sessionKey" is neither null nor {key, type, value, pttlMs}');
    }
    if (!Number.isSafeInteger(key.pttlMs) || key.pttlMs < -1) fail(`"sessionKey.pttlMs" is ${key.pttlMs}: -1 (no TTL) or the milliseconds that were left`);
    const problem = valueProblem(key.type, key.value);
    if (problem) fail(`"sessionKey": ${problem}`);
  }
  return parsed as unknown as ArchiveRecord;
}

/** Why a session key's value cannot be of its type, or undefined when it can. */
export function valueProblem(type: string, value: unknown): string | undefined {
  const strings = (v: unknown) => Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'string');
  switch (type) {
    case 'string':
      return typeof value === 'string' ? undefined : 'a string key\'s value is not a string';
    case 'hash':
      return isObject(value) && Object.keys(value).length > 0 && Object.values(value).every((v) => typeof v === 'string') ? undefined : 'a hash key\'s value is not an object of strings';
    case 'list':
    case 'set':
      return strings(value) ? undefined : `a ${type} key's value is not an array of strings`;
    case 'zset':
      return Array.isArray(value) && value.length > 0 && value.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && typeof p[1] === 'string')
        ? undefined
        : 'a zset key\'s value is not an array of [member, score] pairs';
    case 'stream':
      return Array.isArray(value) && value.length > 0 && value.every((e) => Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && strings(e[1]) && (e[1] as string[]).length % 2 === 0)
        ? undefined
        : 'a stream key\'s value is not an array of [id, [field, value, ...]] entries';
    default:
      return `the type ${JSON.stringify(type)} cannot be restored`;
  }
}

/**
 * The metadata fields the API server sets, never sent on a create; and `ownerReferences`: the
 * owner of an orphan is gone (or it would not be one), and an object restored pointing at it
 * would be taken by the garbage collector at once.
 */
const SERVER_SET_METADATA = ['uid', 'resourceVersion', 'creationTimestamp', 'managedFields', 'generation', 'selfLink', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'ownerReferences'];

/**
 * The object a restore creates: the archived one without its server-set fields (`status`,
 * the metadata above, what a Service was allocated: `clusterIP`/`clusterIPs`, each port's
 * `nodePort`, `healthCheckNodePort`, which another Service may hold now), and, unless `keep` is
 * false, the keep annotation, so that the next run does not clean it again while its
 * Deployment is still missing.
 */
export function objectToRestore(object: KubeObject, { keep }: { keep: boolean }): KubeObject {
  const { status: _status, ...rest } = object;
  const metadata = { ...(object.metadata ?? {}) };
  for (const field of SERVER_SET_METADATA) delete metadata[field];
  if (keep) metadata.annotations = { ...(metadata.annotations ?? {}), [KEEP_ANNOTATION]: 'true' };
  const restored: KubeObject = { ...rest, metadata };
  if (object.kind === 'Service' && isObject(object.spec)) {
    const spec = { ...object.spec };
    // A headless Service's "None" is its definition, not an allocation: it stays.
    if (spec.clusterIP !== 'None') {
      delete spec.clusterIP;
      delete spec.clusterIPs;
    }
    delete spec.healthCheckNodePort;
    if (Array.isArray(spec.ports)) spec.ports = spec.ports.map((port: unknown) => (isObject(port) ? withoutNodePort(port) : port));
    restored.spec = spec;
  }
  return restored;
}

function withoutNodePort(port: Record<string, unknown>): Record<string, unknown> {
  const { nodePort: _nodePort, ...rest } = port;
  return rest;
}

function isObject(value: unknown): value is Record<string, unknown> & { metadata?: Record<string, unknown> } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
