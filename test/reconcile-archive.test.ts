/**
 * The archive step of whole runs, over the in-memory fakes: the order of the reads, the record
 * and the deletes; what each failure leaves (nothing deleted, `archive-failed`, a later run
 * cleaning it); a uid changed since the list; a dry run; a run without an archive. The same
 * over the real client, the local API server, redis-server and moto:
 * test/cli/archive-restore.test.ts and test/adapters/archives.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { RunSettings } from '../src/reconcile.js';
import { reconcile } from '../src/reconcile.js';
import { addSession, fakeWorld } from './support/fakes.js';
import { settings } from './support/lab.js';

const NS = 'jupyter-lab';
const SETTINGS: RunSettings = settings({ namespaces: [NS], concurrency: 2 });

function world() {
  const fakes = fakeWorld();
  const { clock, cluster, store, logger, archive } = fakes;
  const run = (changes: Partial<RunSettings> = {}, withArchive = true) =>
    reconcile({ ...SETTINGS, ...changes }, { cluster, store, logger, clock, clusterName: 'labs-prod', ...(withArchive ? { archive } : {}) });
  const orphan = (sessionId: string) => {
    const added = addSession(cluster, { sessionId, now: clock.now() });
    store.setKey(store.sessionKey(sessionId), JSON.stringify({ sessionId, user: 'ada' }), 3_600_000);
    return added;
  };
  /** A key without any resource (beside a live session, so that the namespace is not empty), seen stale by a first run, and old enough now. */
  const seenStale = async (sessionId: string, value: string) => {
    addSession(cluster, { sessionId: 'anchor', deployment: true, now: clock.now() });
    store.setKey('lab_session:anchor', '{}');
    store.setKey(store.sessionKey(sessionId), value);
    await run({ staleKeys: 'delete' });
    clock.advanceSeconds(600);
  };
  return { ...fakes, run, orphan, seenStale };
}

/** The calls of the run that are reads, writes and deletes of a session, in order. */
function steps(log: ReturnType<typeof fakeWorld>['log']): string[] {
  return log
    .filter((c) => ['read', 'readSessionKey', 'write', 'delete', 'deleteSessionKey', 'deleteArchivedKey', 'deleteStaleKey'].includes(c.operation))
    .map((c) => `${c.operation} ${c.subject}`);
}

describe('the archive of a cleaned session', () => {
  it('reads every resource and the key, writes the record, and only then deletes, key last', async () => {
    // Prepare
    const w = world();
    const added = w.orphan('abc');
    // Act
    const summary = await w.run();
    // Assess: the order of the calls
    expect(steps(w.log)).toEqual([
      'read Ingress/jupyter-lab/jupyter-ingress-abc',
      'read Service/jupyter-lab/jupyter-service-abc',
      'read ConfigMap/jupyter-lab/jupyter-config-abc',
      'readSessionKey lab_session:abc',
      `write jupyter-lab/abc/${summary.startedAt}-jupyter.json`,
      'delete Ingress/jupyter-lab/jupyter-ingress-abc',
      'delete Service/jupyter-lab/jupyter-service-abc',
      'delete ConfigMap/jupyter-lab/jupyter-config-abc',
      // Only while it holds the value archived
      'deleteArchivedKey lab_session:abc',
    ]);
    // Assess: the record, field by field
    const [record] = w.archive.parsed();
    expect(record).toMatchObject({ version: 1, runStartedAt: summary.startedAt, cluster: 'labs-prod', namespace: NS, labType: 'jupyter', sessionId: 'abc', reason: 'no-deployment' });
    expect(record!.resources.map((o) => [o.kind, o.metadata?.name, o.metadata?.uid])).toEqual([
      ['Ingress', 'jupyter-ingress-abc', added.Ingress!.uid],
      ['Service', 'jupyter-service-abc', added.Service!.uid],
      ['ConfigMap', 'jupyter-config-abc', added.ConfigMap!.uid],
    ]);
    expect(record!.sessionKey).toEqual({ key: 'lab_session:abc', type: 'string', value: '{"sessionId":"abc","user":"ada"}', pttlMs: 3_600_000 });
    // Assess: the summary names it
    expect(summary.sessions[0]).toMatchObject({ action: 'cleaned', sessionKey: 'deleted', archive: `fake://jupyter-lab/abc/${summary.startedAt}-jupyter.json` });
    expect(summary.warnings).toEqual([]);
  });

  it.each([
    ['the GET of a resource', 'read', /could not read Ingress\/jupyter-ingress-abc for the archive, so nothing was deleted: HTTP 500/],
    ['the read of the session key', 'readSessionKey', /could not read session key lab_session:abc for the archive, so nothing was deleted: ECONNRESET/],
    ['the write of the record', 'write', /could not write the archive record jupyter-lab\/abc\/.*-jupyter\.json to fake archive, so nothing was deleted: AccessDenied/],
  ])('deletes nothing of a session when %s fails, says archive-failed, and the next run cleans it', async (_what, step, error) => {
    // Prepare
    const w = world();
    w.orphan('abc');
    if (step === 'read') w.cluster.fail('read', { kind: 'Ingress' }, new Error('HTTP 500 InternalError'), 1);
    else if (step === 'readSessionKey') w.store.fail('readSessionKey', new Error('ECONNRESET'), 1);
    else w.archive.fail(new Error('AccessDenied (HTTP 403)'), 1);
    const before = w.cluster.snapshot();
    // Act
    const first = await w.run();
    // Assess: nothing of it was touched, and the summary says why
    expect(first.status).toBe('partial');
    expect(first.sessions[0]).toMatchObject({ action: 'failed', reason: 'archive-failed', sessionKey: 'pending' });
    expect(first.sessions[0]!.error).toMatch(error);
    expect(first.sessions[0]!.archive).toBeUndefined();
    expect(w.cluster.deletes()).toEqual([]);
    expect(w.cluster.snapshot()).toEqual(before);
    expect(w.store.has('lab_session:abc')).toBe(true);
    expect(w.logger.entries.some((e) => e.level === 'error' && e.message.startsWith('Left session jupyter-lab/jupyter/abc alone:'))).toBe(true);
    // Act: the next run, with the fault gone
    w.clock.advanceSeconds(300);
    const second = await w.run();
    // Assess
    expect(second.sessions[0]).toMatchObject({ action: 'cleaned', sessionKey: 'deleted' });
    expect(w.archive.parsed()).toHaveLength(1);
    expect(w.cluster.has('Service', NS, 'jupyter-service-abc')).toBe(false);
  });

  it('leaves alone a resource whose uid changed since the list (no DELETE), and deletes the archived rest', async () => {
    // Prepare: the lists see the old ConfigMap; it is recreated just before the GET
    const w = world();
    w.orphan('abc');
    const original = w.cluster.read.bind(w.cluster);
    w.cluster.read = async (resource) => {
      if (resource.kind === 'ConfigMap') w.cluster.add({ kind: 'ConfigMap', namespace: NS, name: 'jupyter-config-abc', createdAt: w.clock.now() });
      return original(resource);
    };
    // Act
    const summary = await w.run();
    // Assess
    expect(summary.sessions[0]).toMatchObject({ action: 'failed', reason: 'conflict', sessionKey: 'pending' });
    expect(summary.sessions[0]!.error).toBe('ConfigMap/jupyter-config-abc was recreated with another uid and was left alone');
    expect(w.cluster.deletes().map((c) => c.subject)).toEqual(['Ingress/jupyter-lab/jupyter-ingress-abc', 'Service/jupyter-lab/jupyter-service-abc']);
    expect(w.cluster.has('ConfigMap', NS, 'jupyter-config-abc')).toBe(true);
    expect(w.archive.parsed()[0]!.resources.map((o) => o.kind)).toEqual(['Ingress', 'Service']);
  });

  it('counts a resource gone before its GET as gone, and archives the rest', async () => {
    const w = world();
    w.orphan('abc');
    const original = w.cluster.read.bind(w.cluster);
    w.cluster.read = async (resource) => {
      if (resource.kind === 'Ingress') w.cluster.remove('Ingress', NS, 'jupyter-ingress-abc');
      return original(resource);
    };
    const summary = await w.run();
    expect(summary.sessions[0]).toMatchObject({ action: 'cleaned', sessionKey: 'deleted' });
    expect(w.cluster.deletes().map((c) => c.subject)).toEqual(['Service/jupyter-lab/jupyter-service-abc', 'ConfigMap/jupyter-lab/jupyter-config-abc']);
    expect(w.archive.parsed()[0]!.resources.map((o) => o.kind)).toEqual(['Service', 'ConfigMap']);
  });

  it('archives no key of a session id alive elsewhere (that key is not deleted)', async () => {
    const w = world();
    w.orphan('abc');
    addSession(w.cluster, { sessionId: 'abc', labType: 'vscode', deployment: true, now: w.clock.now() });
    const summary = await w.run();
    expect(summary.sessions[0]).toMatchObject({ action: 'cleaned', sessionKey: 'kept' });
    expect(w.archive.parsed()[0]!.sessionKey).toBeNull();
    expect(w.store.callsOf('readSessionKey')).toEqual([]);
  });

  it('reads but writes no record in a dry run', async () => {
    const w = world();
    w.orphan('abc');
    const summary = await w.run({ dryRun: true });
    expect(summary.sessions[0]).toMatchObject({ action: 'would-clean' });
    expect(summary.sessions[0]!.archive).toBeUndefined();
    expect(w.archive.records.size).toBe(0);
    expect(w.cluster.calls.filter((c) => c.operation === 'read')).toHaveLength(3);
  });

  it('without an archive, reads nothing whole, deletes as before and warns that nothing can be restored', async () => {
    const w = world();
    w.orphan('abc');
    const summary = await w.run({}, false);
    expect(summary.sessions[0]).toMatchObject({ action: 'cleaned', sessionKey: 'deleted' });
    expect(w.cluster.calls.filter((c) => c.operation === 'read')).toEqual([]);
    expect(summary.warnings).toEqual(['No archive is configured (ARCHIVE_BUCKET, or ARCHIVE_DIR / --archive-dir): what this run deletes cannot be restored']);
  });

  it('leaves a key rewritten since its archive for a later run, which archives it again and deletes it', async () => {
    // Prepare: the platform writes to the key while the session's resources are deleted
    const w = world();
    w.orphan('abc');
    const original = w.cluster.delete.bind(w.cluster);
    w.cluster.delete = async (resource, options) => {
      if (resource.kind === 'ConfigMap') w.store.setKey('lab_session:abc', '{"sessionId":"abc","user":"ada","closed":true}', 3_600_000);
      return original(resource, options);
    };
    // Act
    const first = await w.run();
    // Assess: resources gone, key left, pending
    expect(first.sessions[0]).toMatchObject({ action: 'cleaned', sessionKey: 'pending' });
    expect(w.store.has('lab_session:abc')).toBe(true);
    expect(w.logger.entries.some((e) => e.message === 'Left session key lab_session:abc for a later run: it changed since it was archived')).toBe(true);
    // Act: the next run's settling archives the key alone, then deletes it
    w.cluster.delete = original;
    w.clock.advanceSeconds(300);
    const second = await w.run();
    // Assess
    expect(second.totals.sessionKeysDeleted).toBe(1);
    expect(w.store.has('lab_session:abc')).toBe(false);
    const keyRecord = w.archive.parsed().find((r) => r.namespace === null)!;
    expect(keyRecord).toMatchObject({ version: 1, namespace: null, labType: null, sessionId: 'abc', reason: 'no-resources', resources: [] });
    expect(keyRecord.sessionKey!.value).toBe('{"sessionId":"abc","user":"ada","closed":true}');
    expect([...w.archive.records.keys()]).toContain(`_keys/abc/${second.startedAt}.json`);
  });

  it('archives a stale key alone before deleting it, and deletes it only while it holds the value archived', async () => {
    // Prepare: a key without any resource, seen stale by a first run
    const w = world();
    await w.seenStale('ghost', '{"user":"bob"}');
    // Act
    const summary = await w.run({ staleKeys: 'delete' });
    // Assess
    const name = `_keys/ghost/${summary.startedAt}.json`;
    expect(summary.staleSessionKeys).toMatchObject([{ key: 'lab_session:ghost', action: 'deleted', archive: `fake://${name}` }]);
    expect(JSON.parse(w.archive.records.get(name)!)).toMatchObject({ namespace: null, sessionId: 'ghost', sessionKey: { key: 'lab_session:ghost', value: '{"user":"bob"}' } });
    const order = steps(w.log).filter((s) => s.includes('ghost'));
    expect(order).toEqual(['readSessionKey lab_session:ghost', `write ${name}`, 'deleteStaleKey lab_session:ghost']);
    expect(w.store.has('lab_session:ghost')).toBe(false);
  });

  it('deletes no stale key whose record cannot be written: failed (delete-failed, the error says why), the key kept', async () => {
    const w = world();
    await w.seenStale('ghost', '{"user":"bob"}');
    w.archive.fail(new Error('AccessDenied (HTTP 403)'));
    const summary = await w.run({ staleKeys: 'delete' });
    expect(summary.staleSessionKeys).toMatchObject([{ key: 'lab_session:ghost', action: 'failed', reason: 'delete-failed' }]);
    expect(summary.staleSessionKeys[0]!.error).toMatch(/could not write the archive record _keys\/ghost\/.+\.json to fake archive, so it was not deleted: AccessDenied/);
    expect(summary.status).toBe('partial');
    expect(w.store.has('lab_session:ghost')).toBe(true);
    expect(w.store.callsOf('deleteStaleKey')).toEqual([]);
  });

  it('spares a session whose Deployment comes back while its record is written: the last look is just before the first delete', async () => {
    // Prepare: the lab-controller recreates the Deployment during a slow archive write
    const w = world();
    w.orphan('abc');
    const write = w.archive.write.bind(w.archive);
    w.archive.write = async (name, body) => {
      w.cluster.add({ kind: 'Deployment', namespace: NS, name: 'jupyter-lab-abc', createdAt: w.clock.now() });
      return write(name, body);
    };
    // Act
    const summary = await w.run();
    // Assess
    expect(summary.sessions[0]).toMatchObject({ action: 'spared', reason: 'deployment-reappeared', sessionKey: 'kept' });
    expect(summary.sessions[0]!.archive).toBeUndefined();
    expect(w.cluster.deletes()).toEqual([]);
    expect(w.store.has('lab_session:abc')).toBe(true);
    const order = steps(w.log).concat(w.log.filter((c) => c.operation === 'deploymentExists').map((c) => `check ${c.subject}`));
    expect(order).toContain('check Deployment/jupyter-lab/jupyter-lab-abc');
    expect(w.log.findIndex((c) => c.operation === 'deploymentExists')).toBeGreaterThan(w.log.findIndex((c) => c.operation === 'write'));
  });

  it('deletes no key that appeared after its session was archived without one (a session starting again, key first)', async () => {
    // Prepare: a session without a key; its key is written while its resources are deleted
    const w = world();
    addSession(w.cluster, { sessionId: 'abc', now: w.clock.now() });
    const original = w.cluster.delete.bind(w.cluster);
    w.cluster.delete = async (resource, options) => {
      if (resource.kind === 'ConfigMap') w.store.setKey('lab_session:abc', '{"sessionId":"abc","new":true}');
      return original(resource, options);
    };
    // Act
    const summary = await w.run();
    // Assess
    expect(summary.sessions[0]).toMatchObject({ action: 'cleaned', sessionKey: 'absent' });
    expect(w.archive.parsed()[0]!.sessionKey).toBeNull();
    expect(w.store.get('lab_session:abc')).toBe('{"sessionId":"abc","new":true}');
    expect(w.store.callsOf('deleteArchivedKey')).toEqual([]);
    expect(w.logger.entries.some((e) => e.message.startsWith('Deleted no session key lab_session:abc: its session had no key when it was archived'))).toBe(true);
  });

  it('writes one record of a pending key that the stale-key step deletes in the same run', async () => {
    // Prepare: a key left pending by an earlier clean, confirmed stale by now
    const w = world();
    await w.seenStale('ghost', '{"user":"bob"}');
    await w.store.markPendingKeys(['ghost']);
    w.store.fail('deleteArchivedKey', new Error('the pending path must not run for ghost'));
    // Act: the stale delete fails after its record was written
    w.store.fail('deleteStaleKey', new Error('ECONNRESET'), 1);
    const summary = await w.run({ staleKeys: 'delete' });
    // Assess
    expect(summary.staleSessionKeys).toMatchObject([{ key: 'lab_session:ghost', action: 'failed', reason: 'delete-failed' }]);
    expect(summary.staleSessionKeys[0]!.archive).toBe(`fake://_keys/ghost/${summary.startedAt}.json`);
    expect([...w.archive.records.keys()].filter((k) => k.startsWith('_keys/ghost/'))).toEqual([`_keys/ghost/${summary.startedAt}.json`]);
    expect(w.store.has('lab_session:ghost')).toBe(true);
  });
});
