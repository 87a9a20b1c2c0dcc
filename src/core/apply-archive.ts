/**
 * The archive step of a session's clean, just before its first delete: each resource is read
 * whole (a GET, which also proves it still has the uid it was listed with), the session key is
 * read (type, value, TTL), and the record is written. Only what was archived is then deleted;
 * a session whose record cannot be written is not touched.
 */
import type { Archive, KeyRead, KubeObject, ResourceRecord, SessionStore } from '../ports.js';
import type { ArchiveRecord } from './archive.js';
import { ARCHIVE_VERSION, archiveRecordName } from './archive.js';
import type { SessionDecision } from './plan.js';
import { ref } from './naming.js';
import { messageOf } from '../errors.js';

/** Where a run archives, and what every record of the run says of where it came from. */
export interface ArchiveTarget {
  archive: Archive;
  /** The cluster's name (the `Cluster` metric dimension). */
  cluster: string;
  /** The run's start, ISO 8601: part of each record's name. */
  runStartedAt: string;
}

/** What the reads found, and what may now be deleted. */
export type ArchiveStep =
  | {
      ok: true;
      /** Read with the listed uid: archived (unless a dry run), to be deleted. */
      toDelete: ResourceRecord[];
      /** Another uid under the name now: left alone, no DELETE. */
      conflicts: ResourceRecord[];
      /** 404: already gone. */
      gone: ResourceRecord[];
      /** The record's URI; undefined in a dry run, without an archive, or with nothing to archive. */
      uri: string | undefined;
      /**
       * The archived key's fingerprint: its delete goes through only while it holds that value.
       * Null: archived as absent; undefined: not archived (no archive, or not this clean's to delete).
       */
      keyFingerprint: string | null | undefined;
    }
  | { ok: false; error: string };

export interface ArchiveStepOptions {
  cluster: { read(resource: ResourceRecord): Promise<KubeObject | 'gone'> };
  store: SessionStore | undefined;
  /** Undefined when the run has no archive: nothing is read, everything listed is deleted. */
  archive: ArchiveTarget | undefined;
  dryRun: boolean;
}

/** Reads and archives a session about to be cleaned; never rejects. */
export async function archiveSession(decision: SessionDecision, options: ArchiveStepOptions): Promise<ArchiveStep> {
  const { resources } = decision.orphan;
  if (!options.archive) return { ok: true, toDelete: [...resources], conflicts: [], gone: [], uri: undefined, keyFingerprint: undefined };
  const step = {
    ok: true as const,
    toDelete: [] as ResourceRecord[],
    conflicts: [] as ResourceRecord[],
    gone: [] as ResourceRecord[],
    uri: undefined as string | undefined,
    keyFingerprint: undefined as string | null | undefined,
  };
  const objects: KubeObject[] = [];
  // One request at a time within a session, like its deletes.
  for (const resource of resources) {
    let object: KubeObject | 'gone';
    try {
      object = await options.cluster.read(resource);
    } catch (error) {
      return { ok: false, error: `could not read ${ref(resource)} for the archive, so nothing was deleted: ${messageOf(error)}` };
    }
    if (object === 'gone') step.gone.push(resource);
    else if (object.metadata?.uid !== resource.uid) step.conflicts.push(resource);
    else {
      objects.push(object);
      step.toDelete.push(resource);
    }
  }
  let key: KeyRead | null = null;
  // The key is archived only when this clean may delete it: one alive elsewhere stays.
  if (options.store && decision.mayDeleteSessionKey) {
    const read = await readKey(options.store, decision.orphan.sessionId, 'nothing was deleted');
    if (!read.ok) return read;
    key = read.key;
    step.keyFingerprint = key?.fingerprint ?? null;
  }
  if (options.dryRun || (objects.length === 0 && key === null)) return step;
  const { namespace, labType, sessionId } = decision.orphan;
  const written = await writeRecord(options.archive, { namespace, labType, sessionId, reason: decision.reason, resources: objects, sessionKey: key?.snapshot ?? null });
  if (!written.ok) return written;
  step.uri = written.uri;
  return step;
}

/**
 * Archives a session key alone, just before it is deleted without its session's resources (a
 * stale key; a key an earlier clean left pending): resolves to the key as read (null: there is
 * none, so nothing to delete) and its record's URI; never rejects.
 */
export async function archiveKey(
  sessionId: string,
  store: SessionStore,
  target: ArchiveTarget,
): Promise<{ ok: true; key: KeyRead | null; uri: string | undefined } | { ok: false; error: string }> {
  const read = await readKey(store, sessionId, 'it was not deleted');
  if (!read.ok) return read;
  const { key } = read;
  if (key === null) return { ok: true, key, uri: undefined };
  const written = await writeRecord(target, { namespace: null, labType: null, sessionId, reason: 'no-resources', resources: [], sessionKey: key.snapshot }, 'it was not deleted');
  return written.ok ? { ok: true, key, uri: written.uri } : written;
}

async function readKey(store: SessionStore, sessionId: string, consequence: string): Promise<{ ok: true; key: KeyRead | null } | { ok: false; error: string }> {
  try {
    return { ok: true, key: await store.readSessionKey(sessionId) };
  } catch (error) {
    return { ok: false, error: `could not read session key ${store.sessionKey(sessionId)} for the archive, so ${consequence}: ${messageOf(error)}` };
  }
}

async function writeRecord(
  target: ArchiveTarget,
  fields: Omit<ArchiveRecord, 'version' | 'runStartedAt' | 'cluster'>,
  consequence = 'nothing was deleted',
): Promise<{ ok: true; uri: string } | { ok: false; error: string }> {
  const record: ArchiveRecord = { version: ARCHIVE_VERSION, runStartedAt: target.runStartedAt, cluster: target.cluster, ...fields };
  const name = archiveRecordName(record);
  try {
    return { ok: true, uri: await target.archive.write(name, `${JSON.stringify(record, null, 2)}\n`) };
  } catch (error) {
    return { ok: false, error: `could not write the archive record ${name} to ${target.archive.description}, so ${consequence}: ${messageOf(error)}` };
  }
}
