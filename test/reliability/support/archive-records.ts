/**
 * Archive records as the storage holds them, for the invariants of the fault matrix and the
 * race soak: the record files of a directory, read synchronously (so that a server's hook can
 * ask at the very moment of a delete), what a record holds (an object's uid, a key's value),
 * and which store commands delete a session key. Read from the bytes stored, in the contract's
 * words (`{"version": 1, ..., "resources": [...], "sessionKey": {"key", "type", "value",
 * "pttlMs"} | null}`), never through the product's own parser.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeObject } from '../../../src/ports.js';

/** A record's fields, as the contract names them. */
export interface RecordFields {
  version: unknown;
  runStartedAt: string;
  cluster: string;
  namespace: string | null;
  labType: string | null;
  sessionId: string;
  reason: string;
  resources: KubeObject[];
  sessionKey: { key: string; type: string; value: unknown; pttlMs: number } | null;
}

/** One record as stored: its name (below the directory, or the object's key) and its fields. */
export interface StoredRecord {
  name: string;
  record: RecordFields;
}

/**
 * The `.json` files below a directory, as they are now. A file is parsed again only when it
 * changed (a new inode, size or time: a record renamed over another); one that does not parse
 * is a half record, which the archive must never leave, and is listed in {@link problems}.
 */
export class RecordFiles {
  /** Files that are not a JSON record, by name. */
  readonly problems = new Map<string, string>();
  private readonly read = new Map<string, { stamp: string; stored: StoredRecord }>();

  constructor(readonly dir: string) {}

  now(): StoredRecord[] {
    const out: StoredRecord[] = [];
    let names: string[];
    try {
      names = readdirSync(this.dir, { recursive: true, encoding: 'utf8' });
    } catch {
      return out; // not made yet: no record written
    }
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const path = join(this.dir, name);
      const info = statSync(path, { throwIfNoEntry: false });
      if (!info) continue;
      const stamp = `${info.ino}:${info.size}:${info.mtimeMs}`;
      let entry = this.read.get(name);
      if (entry?.stamp !== stamp) {
        const text = readFileSync(path, 'utf8');
        try {
          entry = { stamp, stored: { name, record: JSON.parse(text) as RecordFields } };
          this.problems.delete(name);
        } catch (error) {
          this.problems.set(name, `${(error as Error).message} (${text.length} bytes)`);
          continue;
        }
        this.read.set(name, entry);
      }
      out.push(entry.stored);
    }
    return out;
  }
}

/** Whether a record holds the object `Kind namespace/name` with this very uid. */
export function holdsObject(stored: StoredRecord, kind: string, namespace: string, name: string, uid: string | undefined): boolean {
  return (
    uid !== undefined &&
    stored.record.namespace === namespace &&
    Array.isArray(stored.record.resources) &&
    stored.record.resources.some((o) => o.kind === kind && o.metadata?.name === name && o.metadata.uid === uid)
  );
}

/** Whether a record holds this session key with this (string) value. */
export function holdsKey(stored: StoredRecord, key: string, value: string): boolean {
  return stored.record.sessionKey?.key === key && stored.record.sessionKey.value === value;
}

// A script that deletes its first key: the product's compare-and-delete of an archived key.
const DELETES_FIRST_KEY = /redis\.call\(\s*["']DEL["']\s*,\s*KEYS\[1\]\s*\)/i;

/**
 * The session keys a command sent to Redis may delete as a cleaned session's key: those a
 * `DEL`/`UNLINK`/`GETDEL` names, or the one key of an `EVAL` whose script deletes it (a
 * delete only while the key holds the value archived). Not the stale key delete (an `EVAL` of
 * four keys): a stale key has no session.
 */
export function sessionKeysDeletedBy(command: readonly string[], prefix: string): string[] {
  const name = command[0] ?? '';
  if (['DEL', 'UNLINK', 'GETDEL'].includes(name)) return command.slice(1).filter((k) => k.startsWith(prefix));
  if (name === 'EVAL' && command[2] === '1' && command[3]?.startsWith(prefix) && DELETES_FIRST_KEY.test(command[1] ?? '')) return [command[3]];
  return [];
}

/** A key a command may delete, and the fingerprint of the archived value it deletes it only with (none: whatever it holds). */
export interface KeyDelete {
  key: string;
  fingerprint?: string;
}

/**
 * Every key under the prefix a command may delete: a cleaned session's (above), or a stale
 * key (`EVAL script 4 {key} {sighting} {index} {mark} ...`, its script deleting KEYS[1] too).
 * An `EVAL` carries the fingerprint of the value archived as its last argument: it deletes the
 * key only while the key holds that value.
 */
export function keyDeletesIn(command: readonly string[], prefix: string): KeyDelete[] {
  const name = command[0] ?? '';
  if (name !== 'EVAL') return sessionKeysDeletedBy(command, prefix).map((key) => ({ key }));
  const key = command[3];
  const deletes = command[2] === '1' ? DELETES_FIRST_KEY.test(command[1] ?? '') : command[2] === '4' && /redis\.call\(\s*["']DEL["']\s*,\s*KEYS\[1\]/i.test(command[1] ?? '');
  if (!deletes || key === undefined || !key.startsWith(prefix)) return [];
  const fingerprint = command.at(-1);
  return [fingerprint ? { key, fingerprint } : { key }];
}

/**
 * The store's fingerprint of a string key (its type and value, as the product's Lua makes it:
 * SHA-1 of `string\n{byte length}:{value}`), recomputed here to tell whether a conditioned
 * delete will take the value the key holds now.
 */
export function stringFingerprint(value: string): string {
  return createHash('sha1').update(`string\n${Buffer.byteLength(value)}:${value}`).digest('hex');
}

/** Whether this delete takes the (string) value the key holds now: unconditioned, or conditioned on this very value. */
export function takesValue(d: KeyDelete, value: string): boolean {
  return d.fingerprint === undefined || d.fingerprint === stringFingerprint(value);
}
