/**
 * The race soak's archive: every run of a seed writes its records to one DirectoryArchive (a
 * temporary directory of the seed's), and the monitor asks this at the moment of each DELETE the
 * API server serves whether a record file there holds that object's very uid, and at each
 * delete of a key that reaches Redis (a cleaned session's, a pending or a stale one) whether a
 * record holds the value it takes. At the end of the seed: every object and key value deleted is still held by a
 * record (none lost to a record written over another), and no file is half a record.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirectoryArchive } from '../../../src/adapters/dir-archive.js';
import type { RespClient } from '../../support/resp-client.js';
import type { KeyDelete } from './archive-records.js';
import { RecordFiles, holdsKey, holdsObject, takesValue } from './archive-records.js';

export interface ArchiveStats {
  /** Record files in the directory at the end of the seed: of a session, and of a key alone (stale or pending). */
  records: number;
  keyRecords: number;
  /** DELETEs served, each checked against the records at that moment. */
  deletesChecked: number;
  /** Deletes of a key that take a value, each checked against the records at that moment. */
  keyDeletesChecked: number;
}

export class SoakArchive {
  /** The product's adapter, for reconcile(). */
  readonly archive: DirectoryArchive;
  readonly stats: ArchiveStats = { records: 0, keyRecords: 0, deletesChecked: 0, keyDeletesChecked: 0 };
  private readonly dir: string;
  private readonly files: RecordFiles;
  /** What was deleted, to be still held at the end. */
  private readonly objectsDeleted: { what: string; kind: string; namespace: string; name: string; uid: string | undefined }[] = [];
  private readonly keysDeleted: { what: string; key: string; value: string }[] = [];

  constructor(private readonly breach: (message: string) => void) {
    this.dir = mkdtempSync(join(tmpdir(), 'race-soak-archive-'));
    this.archive = new DirectoryArchive(this.dir);
    this.files = new RecordFiles(this.dir);
  }

  /** At a DELETE the API server has just served (200, not a dry run): a record holds that uid. */
  atDelete(label: string, kind: string, namespace: string, name: string, uid: string | undefined): void {
    this.stats.deletesChecked += 1;
    const what = `${label} deleted ${kind} ${namespace}/${name} (uid ${uid})`;
    this.objectsDeleted.push({ what, kind, namespace, name, uid });
    if (!this.files.now().some((s) => holdsObject(s, kind, namespace, name, uid))) this.breach(`${what} with no record holding that uid in ${this.dir}`);
  }

  /**
   * At the delete of keys, before it reaches Redis: a record holds the value each one takes (the
   * value it has now, unless the delete is conditioned on another: a key gone or rewritten since
   * its archive loses nothing).
   */
  async atKeyDelete(phase: string, deletes: readonly KeyDelete[], redis: RespClient): Promise<void> {
    if (deletes.length === 0) return;
    const values = (await redis.call('MGET', ...deletes.map((d) => d.key))) as (Buffer | null)[];
    const stored = this.files.now();
    deletes.forEach((d, i) => {
      const value = values[i];
      if (value === null || value === undefined || !takesValue(d, String(value))) return;
      this.stats.keyDeletesChecked += 1;
      const what = `the delete of ${d.key} sent in ${phase}`;
      this.keysDeleted.push({ what, key: d.key, value: String(value) });
      if (!stored.some((s) => holdsKey(s, d.key, String(value)))) this.breach(`${what}, taking ${String(value)}, with no record holding that value in ${this.dir}`);
    });
  }

  /** At the end of the seed: everything deleted is still held, and every file is a whole record. */
  checkEnd(): void {
    const stored = this.files.now();
    this.stats.keyRecords = stored.filter((s) => s.record.namespace === null).length;
    this.stats.records = stored.length - this.stats.keyRecords;
    for (const [name, problem] of this.files.problems) this.breach(`archive file ${name} is not a whole record: ${problem}`);
    for (const d of this.objectsDeleted) {
      if (!stored.some((s) => holdsObject(s, d.kind, d.namespace, d.name, d.uid))) this.breach(`${d.what}: no record holds it any more (a record written over another?)`);
    }
    for (const k of this.keysDeleted) {
      if (!stored.some((s) => holdsKey(s, k.key, k.value))) this.breach(`${k.what}: no record holds its value any more (a record written over another?)`);
    }
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
