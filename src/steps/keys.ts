/**
 * The store's side of the observe step: the session keys, read with SCAN beside the lists,
 * and the stale keys' sightings. Keys are judged only from complete knowledge: a store, every
 * allowlisted namespace listed, a run not narrowed, a scan that read every page. Otherwise
 * nothing is judged, and the run's warnings say why.
 */
import type { Logger, SessionStore } from '../ports.js';
import type { NamespaceResult } from '../core/report.js';
import type { KeysInput } from '../core/plan.js';
import type { StaleKey } from '../core/keys.js';
import { KEYS_NOT_JUDGED, findStaleKeys, keyConfirmSeconds, sessionsWithResources, unjudgedKeys } from '../core/keys.js';
import { messageOf } from '../errors.js';
import type { RunSettings } from '../config.js';
import type { RunNotes } from './notes.js';

/** The scan of the session keys (with the store and mode it was made for), or why there is none (undefined: no store, said elsewhere). */
export type KeyScan =
  | { keys: string[]; store: SessionStore; mode: Exclude<RunSettings['staleKeys'], 'off'> }
  | { skipped: string | undefined }
  | { failed: string };

/** Reads every session key, unless the run is not to judge them. Never rejects. */
export async function scanKeys(store: SessionStore | undefined, settings: RunSettings, logger: Logger): Promise<KeyScan> {
  if (!store) return { skipped: undefined };
  const mode = settings.staleKeys;
  if (mode === 'off') return { skipped: `RECONCILIATION_STALE_KEYS is off: session keys were not read, ${KEYS_NOT_JUDGED}` };
  if (settings.narrowed) {
    return { skipped: `The run was narrowed to ${settings.namespaces.join(', ')}: session keys are judged only by a run over the whole allowlist, ${KEYS_NOT_JUDGED}` };
  }
  try {
    const keys = await store.scanSessionKeys();
    logger.info(`Read ${keys.length} keys under ${store.keyPrefix}`, { keys: keys.length });
    return { keys, store, mode };
  } catch (error) {
    return { failed: messageOf(error) };
  }
}

/** How long a stale key's sighting is kept: long enough to be confirmed, then forgotten. */
export function keySightingTtlSeconds(settings: Pick<RunSettings, 'minAgeSeconds' | 'confirmSeconds' | 'intervalSeconds'>): number {
  return keyConfirmSeconds(settings) + Math.max(3 * settings.intervalSeconds, 3600);
}

/**
 * What the plan needs of the keys, or undefined when they are not to be judged this run.
 * Reads (and, unless a dry run, records) the sightings of the keys found stale; a key gone
 * since the scan is dropped from what was scanned.
 */
export async function keysForPlan(
  scan: KeyScan,
  namespaces: readonly NamespaceResult[],
  settings: RunSettings,
  now: number,
  notes: RunNotes,
): Promise<KeysInput | undefined> {
  if ('skipped' in scan) {
    if (scan.skipped) notes.note(scan.skipped);
    return undefined;
  }
  if ('failed' in scan) {
    notes.problem(`Could not read the session keys, ${KEYS_NOT_JUDGED}: ${scan.failed}`);
    return undefined;
  }
  const unlisted = namespaces.filter((ns) => ns.findings === undefined).map((ns) => ns.namespace);
  if (unlisted.length > 0) {
    notes.note(`Session keys were not judged: ${unlisted.join(', ')} could not be listed completely, and a session could be alive there unseen, ${KEYS_NOT_JUDGED}`);
    return undefined;
  }
  const { store, mode } = scan;
  const findings = namespaces.flatMap((ns) => (ns.findings ? [ns.findings] : []));
  const prefix = store.keyPrefix;
  const unjudged = unjudgedKeys(scan.keys, prefix);
  if (unjudged > 0) notes.note(`${unjudged} keys under ${prefix} were left alone: their session ids could not name a Kubernetes resource, so they cannot be judged`);

  const scanned = new Set(scan.keys);
  const withResources = sessionsWithResources(findings);
  const stale = findStaleKeys(scanned, prefix, withResources);
  const sightings = stale.length > 0 ? await staleKeySightings(store, stale, scanned, settings, now, notes) : new Map<string, number>();
  // A key gone since the scan is neither stale nor a leaked Deployment's missing key.
  return { mode, prefix, scanned, withResources, stale: stale.filter((k) => scanned.has(k.key)), sightings };
}

/** The first sightings of the stale keys; drops from `scanned` the keys gone since the scan. */
async function staleKeySightings(
  store: SessionStore,
  stale: readonly StaleKey[],
  scanned: Set<string>,
  settings: RunSettings,
  now: number,
  notes: RunNotes,
): Promise<Map<string, number>> {
  const sightings = new Map<string, number>();
  try {
    const seen = await store.keySightings(
      stale.map((k) => k.sessionId),
      { now, ttlSeconds: keySightingTtlSeconds(settings), readOnly: settings.dryRun },
    );
    for (const { key, sessionId } of stale) {
      if (!seen.has(sessionId)) scanned.delete(key);
      const at = seen.get(sessionId);
      if (at !== undefined) sightings.set(sessionId, at);
    }
  } catch (error) {
    // Without sightings no key is confirmed: each waits for a later run.
    notes.problem(`Could not read or record the stale session keys' sightings; no stale key was confirmed: ${messageOf(error)}`);
  }
  return sightings;
}
