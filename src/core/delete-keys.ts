/**
 * Deleting session keys once their sessions' resources are gone (this run's cleans, and keys
 * an earlier run left pending), at most `concurrency` at once. With an archive, a key is
 * deleted only while it holds the value archived, in one step in the store.
 */
import type { Logger, SessionStore } from '../ports.js';
import type { ArchiveTarget } from './apply-archive.js';
import { archiveKey } from './apply-archive.js';
import { forEachBounded } from './pool.js';
import { messageOf } from '../errors.js';

/** How a session key's delete ended: `pending` when it changed since its archive (a later run archives it again). */
export interface KeyDeleteResult {
  outcome: 'deleted' | 'absent' | 'failed' | 'pending';
  error?: string;
  /** Why an `absent` key was not looked for, for the log. */
  note?: string;
}

/**
 * Deletes session keys, at most `concurrency` at once, and forgets them as pending once
 * deleted. A failure leaves the key pending, for a later run. With an archive, each key is
 * deleted only while it holds the value archived: the one of its session's record
 * (`fingerprints`), or else it is archived alone first.
 */
export async function deleteSessionKeys(
  ids: readonly string[],
  store: SessionStore | undefined,
  concurrency: number,
  logger: Logger,
  { archive, fingerprints }: { archive?: ArchiveTarget | undefined; fingerprints?: ReadonlyMap<string, string | null> } = {},
): Promise<Map<string, KeyDeleteResult>> {
  const results = new Map<string, KeyDeleteResult>();
  if (!store || ids.length === 0) return results;
  await forEachBounded(ids, concurrency, async (id) => {
    const key = store.sessionKey(id);
    try {
      const outcome: KeyDeleteResult = archive
        ? await deleteArchived(id, store, archive, fingerprints?.get(id), logger)
        : { outcome: (await store.deleteSessionKey(id)) ? 'deleted' : 'absent' };
      results.set(id, outcome);
      if (outcome.outcome === 'deleted' || outcome.outcome === 'absent') {
        const existed = outcome.outcome === 'deleted';
        const absent = outcome.note ? `Deleted no session key ${key}: ${outcome.note}` : `Found session key ${key} already gone`;
        logger.info(existed ? `Deleted session key ${key}` : absent, { sessionId: id, key, action: existed ? 'deleted-session-key' : 'session-key-absent' });
      }
    } catch (error) {
      results.set(id, { outcome: 'failed', error: messageOf(error) });
      logger.error(`Failed to delete session key ${key}; a later run retries: ${messageOf(error)}`, { sessionId: id, key, error: messageOf(error) });
    }
  });
  const done = [...results].filter(([, r]) => r.outcome === 'deleted' || r.outcome === 'absent').map(([id]) => id);
  if (done.length > 0) {
    await store.unmarkPendingKeys(done).catch((error: unknown) => {
      // Harmless: a later run finds the key gone and forgets it then.
      logger.warn(`Failed to forget ${done.length} deleted session keys as pending: ${messageOf(error)}`);
    });
  }
  return results;
}

/**
 * A key's delete with an archive: archived first unless its session's record holds it (then
 * `fingerprint`, or null when that record found no key: one there now came after, perhaps a new
 * session starting key first, and is not this clean's), then deleted only while unchanged.
 */
async function deleteArchived(id: string, store: SessionStore, archive: ArchiveTarget, fingerprint: string | null | undefined, logger: Logger): Promise<KeyDeleteResult> {
  const key = store.sessionKey(id);
  if (fingerprint === null) return { outcome: 'absent', note: 'its session had no key when it was archived; one there now came after, and is left alone' };
  if (fingerprint === undefined) {
    const archived = await archiveKey(id, store, archive);
    if (!archived.ok) {
      logger.error(`Left session key ${key} for a later run: ${archived.error}`, { sessionId: id, key, action: 'archive-failed', error: archived.error });
      return { outcome: 'failed', error: archived.error };
    }
    if (archived.key === null) return { outcome: 'absent' };
    logger.info(`Archived session key ${key} to ${archived.uri}`, { sessionId: id, key, action: 'archived', archive: archived.uri });
    fingerprint = archived.key.fingerprint;
  }
  const answer = await store.deleteArchivedKey(id, fingerprint);
  if (answer !== 'changed') return { outcome: answer };
  logger.warn(`Left session key ${key} for a later run: it changed since it was archived`, { sessionId: id, key, action: 'session-key-changed' });
  return { outcome: 'pending' };
}
