/**
 * A restore (`lab-reconciler restore SOURCE`): read the records ▸ pick (`--session`) ▸ check
 * each (version, namespace in the allowlist, key under the prefix) ▸ create its resources
 * (never replacing one) ▸ write its session key (never replacing one) ▸ report, per object.
 * Newest records first: a session archived twice comes back as it was last, and the older
 * record finds its objects there already (`exists`).
 */
import type { ArchiveReader, DeletableKind, KeyRestorer, Logger, ResourceCreator } from './ports.js';
import type { ArchiveRecord } from './core/archive.js';
import { ArchiveRecordError, objectToRestore, parseArchiveRecord } from './core/archive.js';
import { messageOf } from './errors.js';

export type RestoreAction = 'restored' | 'would-restore' | 'exists' | 'failed';

/** One object of a record (a resource, or the session key), and what became of it. */
export interface RestoredObject {
  kind: DeletableKind | 'SessionKey';
  name: string;
  action: RestoreAction;
  error?: string;
}

/** One record, and what became of what it holds. */
export interface RecordResult {
  record: string;
  namespace?: string;
  labType?: string;
  sessionId?: string;
  runStartedAt?: string;
  cluster?: string;
  /** Why nothing of the record was restored (unreadable, not JSON, unknown version, outside the allowlist). */
  error?: string;
  objects: RestoredObject[];
}

export interface RestoreSummary {
  /** `ok`: everything asked for was restored or was there already; `failed`: nothing was restored. */
  status: 'ok' | 'partial' | 'failed';
  dryRun: boolean;
  source: string;
  /** Whether restored resources carry `lab-reconciler/keep: "true"`. */
  keepAnnotation: boolean;
  totals: { records: number; restored: number; exists: number; failed: number };
  records: RecordResult[];
  warnings: string[];
}

export interface RestoreOptions {
  source: string;
  dryRun: boolean;
  keep: boolean;
  /** Only this session's records (`--session NAMESPACE/SESSION_ID`). */
  session?: { namespace: string; sessionId: string };
  /** RECONCILIATION_NAMESPACES: a record of another namespace is refused. */
  allowlist: readonly string[];
}

export interface RestoreDependencies {
  reader: ArchiveReader;
  cluster: ResourceCreator;
  /** Undefined when no session store is configured: a record's key then fails, naming why. */
  store: KeyRestorer | undefined;
  logger: Logger;
}

/** Resources in the order they are created: what others refer to first. */
const ORDER: Readonly<Record<DeletableKind, number>> = { ConfigMap: 0, Service: 1, Ingress: 2 };

/** Restores what the source's records hold; rejects only when the source cannot be listed. */
export async function restore(options: RestoreOptions, deps: RestoreDependencies): Promise<RestoreSummary> {
  const warnings: string[] = [];
  const uris = await deps.reader.list();
  const results: RecordResult[] = [];
  const chosen: { uri: string; record: ArchiveRecord }[] = [];
  for (const uri of uris) {
    const read = await readRecord(uri, deps.reader);
    if ('error' in read) {
      // With --session, a record that cannot be read may be anybody's: it is passed over, said.
      if (options.session) warnings.push(`Passed over ${uri}: ${read.error}`);
      else results.push({ record: uri, error: read.error, objects: [] });
      continue;
    }
    const { record } = read;
    // A key archived alone belongs to no namespace: it is the session's, in whichever it ran.
    if (options.session && (record.sessionId !== options.session.sessionId || (record.namespace !== null && record.namespace !== options.session.namespace))) continue;
    chosen.push({ uri, record });
  }
  // Newest run first, whatever the names: a session archived twice comes back as it was last.
  chosen.sort((a, b) => compare(b.record.runStartedAt, a.record.runStartedAt) || compare(a.uri, b.uri));
  for (const { uri, record } of chosen) results.push(await restoreRecord(uri, record, options, deps));
  if (uris.length === 0) warnings.push(`Found no archive record (*.json) in ${options.source}`);
  else if (results.length === 0 && options.session) warnings.push(`Found no record of session ${options.session.namespace}/${options.session.sessionId} in ${options.source}`);
  return summarize(results, options, warnings);
}

async function readRecord(uri: string, reader: ArchiveReader): Promise<{ record: ArchiveRecord } | { error: string }> {
  try {
    return { record: parseArchiveRecord(await reader.read(uri), uri) };
  } catch (error) {
    return { error: error instanceof ArchiveRecordError ? error.message : `could not read ${uri}: ${messageOf(error)}` };
  }
}

async function restoreRecord(uri: string, record: ArchiveRecord, options: RestoreOptions, deps: RestoreDependencies): Promise<RecordResult> {
  const { namespace, labType, sessionId, runStartedAt, cluster } = record;
  const result: RecordResult = { record: uri, ...(namespace !== null ? { namespace } : {}), ...(labType !== null ? { labType } : {}), sessionId, runStartedAt, cluster, objects: [] };
  const session = `${namespace}/${labType}/${sessionId}`;
  if (namespace !== null && !options.allowlist.includes(namespace)) {
    result.error = `namespace ${namespace} is not in the allowlist RECONCILIATION_NAMESPACES (${options.allowlist.join(', ')}): nothing of this record was restored`;
    deps.logger.error(`Refused to restore session ${session} from ${uri}: ${result.error}`);
    return result;
  }
  // Only a record with a namespace holds resources (parseArchiveRecord checks it).
  const resources = namespace === null ? [] : [...record.resources].sort((a, b) => ORDER[a.kind as DeletableKind] - ORDER[b.kind as DeletableKind]);
  for (const object of resources) {
    const kind = object.kind as DeletableKind;
    const name = object.metadata!.name!;
    result.objects.push(
      await restoreOne(kind, name, () => deps.cluster.create(kind, namespace!, objectToRestore(object, { keep: options.keep }), { dryRun: options.dryRun }), options.dryRun, deps.logger, `${kind} ${namespace}/${name}`),
    );
  }
  const key = record.sessionKey;
  if (key) {
    const { store } = deps;
    const refused = !store
      ? 'no session store is configured (UPSTASH_REDIS_REST_URL and a token), so the key was not restored'
      : key.key !== `${store.keyPrefix}${sessionId}`
        ? `the key is not session ${sessionId}'s under SESSION_KEY_PREFIX (${store.keyPrefix}${sessionId}), so it was not restored`
        : undefined;
    if (refused) {
      result.objects.push({ kind: 'SessionKey', name: key.key, action: 'failed', error: refused });
      deps.logger.error(`Failed to restore session key ${key.key}: ${refused}`);
    } else {
      result.objects.push(await restoreOne('SessionKey', key.key, () => store!.restoreSessionKey(key, { dryRun: options.dryRun }), options.dryRun, deps.logger, `session key ${key.key}`));
    }
  }
  return result;
}

async function restoreOne(
  kind: RestoredObject['kind'],
  name: string,
  create: () => Promise<'created' | 'restored' | 'exists'>,
  dryRun: boolean,
  logger: Logger,
  what: string,
): Promise<RestoredObject> {
  try {
    const answer = await create();
    if (answer === 'exists') {
      logger.warn(`Left ${what} as it is: it exists now, and a restore never replaces anything`);
      return { kind, name, action: 'exists' };
    }
    logger.info(dryRun ? `Would restore ${what} (dry run accepted)` : `Restored ${what}`);
    return { kind, name, action: dryRun ? 'would-restore' : 'restored' };
  } catch (error) {
    logger.error(`Failed to restore ${what}: ${messageOf(error)}`);
    return { kind, name, action: 'failed', error: messageOf(error) };
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function summarize(records: RecordResult[], options: RestoreOptions, warnings: string[]): RestoreSummary {
  const objects = records.flatMap((r) => r.objects);
  const totals = {
    records: records.length,
    restored: objects.filter((o) => o.action === 'restored' || o.action === 'would-restore').length,
    exists: objects.filter((o) => o.action === 'exists').length,
    failed: objects.filter((o) => o.action === 'failed').length + records.filter((r) => r.error !== undefined).length,
  };
  const status = totals.failed === 0 && records.length > 0 ? 'ok' : totals.restored > 0 || totals.exists > 0 ? 'partial' : 'failed';
  return { status, dryRun: options.dryRun, source: options.source, keepAnnotation: options.keep, totals, records, warnings };
}
