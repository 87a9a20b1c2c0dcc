/**
 * The fault matrix's archive: where each case's runs write their records, read back from the
 * storage itself, never from the product's words. By default a directory (the command line's
 * DirectoryArchive), fresh for each case; for the S3 cases and the Lambda's invocations, the
 * real S3Archive (createS3Client, path style) through a fault-injecting proxy
 * (test/support/s3-proxy.ts) to moto, one bucket created with the SDK first.
 *
 * The invariant, checked at the moment of each request: every DELETE the API server serves
 * (its afterServe hook) is of an object whose uid a record stored before it holds, and every
 * delete of a session key that reaches Redis (a DEL, or the EVAL deleting it only while it
 * holds the value archived: a cleaned session's key, a pending or a stale one) takes a value a
 * stored record holds. "Stored" is
 * what the storage holds at that moment: the directory's files, or the PutObjects moto
 * answered 2xx (the proxy's log); after the runs, the objects are read back from moto.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { DirectoryArchive } from '../../../src/adapters/dir-archive.js';
import { S3Archive, createS3Client } from '../../../src/adapters/s3-archive.js';
import type { Archive } from '../../../src/ports.js';
import type { ParsedRequest } from '../../support/kube-api-server.js';
import type { MotoServer } from '../../support/moto.js';
import { startMoto } from '../../support/moto.js';
import { S3Proxy } from '../../support/s3-proxy.js';
import type { KeyDelete, StoredRecord } from './archive-records.js';
import { RecordFiles, holdsKey, holdsObject, takesValue } from './archive-records.js';
import type { World } from './fault-world.js';

export type { StoredRecord };

export const ARCHIVE_BUCKET = 'fault-matrix-archive';
const S3_ENV = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' } as const;

/** Where a case's runs archive. */
export interface ArchiveUnderTest {
  kind: 'directory' | 's3';
  /** `directory /tmp/...` or `s3://bucket`. */
  description: string;
  /** The product's adapter, for reconcile() (the Lambda builds its own from ARCHIVE_BUCKET). */
  archive: Archive;
  /** The records stored at this moment, read synchronously from the storage. */
  stored(): StoredRecord[];
}

/** What the hooks found, over the whole file and since the case began. */
export interface ArchiveLog {
  violations: string[];
  deletesChecked: number;
  keyDeletesChecked: number;
  /** Over the whole file, by storage: records written, deletes and key DELs checked. */
  totals: { directory: number; s3: number; deletesChecked: number; keyDeletesChecked: number };
}

/** moto, the proxy before it, a client straight to moto (to create the bucket and read objects back), and the directories' root. */
export interface ArchiveServers {
  moto: MotoServer;
  proxy: S3Proxy;
  direct: S3Client;
  root: string;
  /** The environment variables changed for the S3 client, and their values before. */
  savedEnv: Map<string, string | undefined>;
}

export async function startArchiveServers(): Promise<ArchiveServers> {
  const moto = await startMoto();
  const proxy = await S3Proxy.start({ target: moto.url });
  const direct = new S3Client({ endpoint: moto.url, forcePathStyle: true, region: S3_ENV.AWS_REGION, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  await direct.send(new CreateBucketCommand({ Bucket: ARCHIVE_BUCKET }));
  // The SDK reads its region, credentials and endpoint from the environment, as in the Lambda.
  const savedEnv = new Map<string, string | undefined>();
  for (const [name, value] of Object.entries({ ...S3_ENV, AWS_ENDPOINT_URL_S3: proxy.url })) {
    savedEnv.set(name, process.env[name]);
    process.env[name] = value;
  }
  return { moto, proxy, direct, root: mkdtempSync(join(tmpdir(), 'fault-matrix-archive-')), savedEnv };
}

export async function stopArchiveServers(servers: ArchiveServers): Promise<void> {
  for (const [name, value] of servers.savedEnv) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  servers.direct.destroy();
  await servers.proxy.close();
  await servers.moto.stop();
  rmSync(servers.root, { recursive: true, force: true });
}

export function emptyArchiveLog(): ArchiveLog {
  return { violations: [], deletesChecked: 0, keyDeletesChecked: 0, totals: { directory: 0, s3: 0, deletesChecked: 0, keyDeletesChecked: 0 } };
}

/** A fresh directory archive below the root. */
export function directoryArchive(servers: ArchiveServers): ArchiveUnderTest {
  const dir = mkdtempSync(join(servers.root, 'case-'));
  const archive = new DirectoryArchive(dir);
  const files = new RecordFiles(dir);
  return { kind: 'directory', description: archive.description, archive, stored: () => files.now() };
}

/**
 * The real S3Archive, through the proxy to moto, with the bucket emptied first (so that what
 * moto holds afterwards is the case's); the stored records are the PutObjects moto accepted
 * since the proxy's last reset.
 */
export async function s3Archive(servers: ArchiveServers, options: { requestTimeoutMs?: number } = {}): Promise<ArchiveUnderTest> {
  for (;;) {
    const page = await servers.direct.send(new ListObjectsV2Command({ Bucket: ARCHIVE_BUCKET }));
    const objects = (page.Contents ?? []).map(({ Key }) => ({ Key }));
    if (objects.length === 0) break;
    await servers.direct.send(new DeleteObjectsCommand({ Bucket: ARCHIVE_BUCKET, Delete: { Objects: objects } }));
  }
  const client = createS3Client({ env: { AWS_ENDPOINT_URL_S3: servers.proxy.url, AWS_REGION: S3_ENV.AWS_REGION }, ...options });
  const archive = new S3Archive(client, ARCHIVE_BUCKET);
  return {
    kind: 's3',
    description: archive.description,
    archive,
    stored: () => servers.proxy.puts.filter((p) => p.bucket === ARCHIVE_BUCKET).map((p) => ({ name: p.key, record: JSON.parse(p.body) as StoredRecord['record'] })),
  };
}

/** The records moto holds whose name starts with `prefix`, read back with GetObject. */
export async function recordsInMoto(servers: ArchiveServers, prefix: string): Promise<StoredRecord[]> {
  const page = await servers.direct.send(new ListObjectsV2Command({ Bucket: ARCHIVE_BUCKET, Prefix: prefix }));
  const records: StoredRecord[] = [];
  for (const { Key } of page.Contents ?? []) {
    const object = await servers.direct.send(new GetObjectCommand({ Bucket: ARCHIVE_BUCKET, Key }));
    records.push({ name: Key!, record: JSON.parse((await object.Body!.transformToString('utf8')) || 'null') as StoredRecord['record'] });
  }
  return records;
}

/**
 * At the moment of each DELETE the API server serves (2xx, not a dry run): a stored record
 * holds that object's uid (taken just before the DELETE was served). Installed on the API
 * server's hooks, which its reset() clears.
 */
export function watchArchivedDeletes(w: World): void {
  const uids = new WeakMap<ParsedRequest, string | undefined>();
  const isDelete = (r: ParsedRequest) => r.verb === 'delete' && r.kind !== undefined && r.namespace !== undefined && r.name !== undefined;
  w.server.beforeServe = (request) => {
    if (isDelete(request)) uids.set(request, w.server.get(request.kind!, request.namespace!, request.name!)?.metadata.uid);
  };
  w.server.afterServe = (request, answer) => {
    if (!isDelete(request) || answer.code >= 300 || request.query.dryRun !== undefined) return;
    const uid = uids.get(request);
    w.archiveLog.deletesChecked += 1;
    w.archiveLog.totals.deletesChecked += 1;
    if (!w.archive.stored().some((s) => holdsObject(s, request.kind!, request.namespace!, request.name!, uid))) {
      w.archiveLog.violations.push(`DELETE ${request.kind} ${request.namespace}/${request.name} (uid ${uid}) was served with no record holding that uid in ${w.archive.description}`);
    }
  };
}

/**
 * At a delete of a key under the prefix, before it reaches Redis: a stored record holds the value
 * it takes (the value the key has now; none, or a value the delete is not conditioned on: nothing
 * goes).
 */
export async function checkKeyArchived(w: World, d: KeyDelete): Promise<void> {
  const value = await w.direct.call('GET', d.key);
  if (value === null || !takesValue(d, String(value))) return;
  w.archiveLog.keyDeletesChecked += 1;
  w.archiveLog.totals.keyDeletesChecked += 1;
  const text = String(value);
  if (!w.archive.stored().some((s) => holdsKey(s, d.key, text))) {
    w.archiveLog.violations.push(`a delete of ${d.key} was sent, taking its value ${text}, with no record holding that value in ${w.archive.description}`);
  }
}

/** The records stored under a name prefix; in S3 read back from moto itself, not from what the proxy saw pass. */
export async function recordsOf(w: World, prefix: string): Promise<StoredRecord[]> {
  return w.archive.kind === 's3' ? recordsInMoto(w.archiveServers, prefix) : w.archive.stored().filter((r) => r.name.startsWith(prefix));
}

/** Whether `promise` settles within `ms`. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), limit]);
  } finally {
    clearTimeout(timer);
  }
}
