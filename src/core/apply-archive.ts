/**
 * The archive step of a session's clean, just before its first delete: each resource is read
 * whole (a GET, which also proves it still has the uid it was listed with), the session key is
 * read (type, value, TTL), and the record is written. Only what was archived is then deleted;
 * a session whose record cannot be written is not touched.
 */
import type { Archive, KubeObject, ResourceRecord, SessionKeySnapshot, SessionStore } from '../ports.js';
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
  if (!options.archive) return { ok: true, toDelete: [...resources], conflicts: [], gone: [], uri: undefined };
  const step = { ok: true as const, toDelete: [] as ResourceRecord[], conflicts: [] as ResourceRecord[], gone: [] as ResourceRecord[], uri: undefined as string | undefined };
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
  let sessionKey: SessionKeySnapshot | null = null;
  // The key is archived only when this clean may delete it: one alive elsewhere stays.
  if (options.store && decision.mayDeleteSessionKey) {
    try {
      sessionKey = await options.store.readSessionKey(decision.orphan.sessionId);
    } catch (error) {
      return { ok: false, error: `could not read session key ${options.store.sessionKey(decision.orphan.sessionId)} for the archive, so nothing was deleted: ${messageOf(error)}` };
    }
  }
  if (options.dryRun || (objects.length === 0 && sessionKey === null)) return step;
  const record = archiveRecord(decision, options.archive, objects, sessionKey);
  const name = archiveRecordName(record);
  try {
    step.uri = await options.archive.archive.write(name, `${JSON.stringify(record, null, 2)}\n`);
  } catch (error) {
    return { ok: false, error: `could not write the archive record ${name} to ${options.archive.archive.description}, so nothing was deleted: ${messageOf(error)}` };
  }
  return step;
}

function archiveRecord(decision: SessionDecision, target: ArchiveTarget, resources: KubeObject[], sessionKey: SessionKeySnapshot | null): ArchiveRecord {
  const { namespace, labType, sessionId } = decision.orphan;
  return {
    version: ARCHIVE_VERSION,
    runStartedAt: target.runStartedAt,
    cluster: target.cluster,
    namespace,
    labType,
    sessionId,
    reason: decision.reason,
    resources,
    sessionKey,
  };
}
