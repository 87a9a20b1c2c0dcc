/**
 * The restore's flow over in-memory ports (records, creates and keys kept in maps): which
 * record wins when a session was archived more than once, and what a record may not write.
 * The same over the real client, the local API server, the Upstash bridge and moto:
 * test/cli/archive-restore.test.ts and test/adapters/archives.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { ArchiveRecord } from '../src/core/archive.js';
import type { ArchiveReader, DeletableKind, KeyRestorer, KubeObject, ResourceCreator, SessionKeySnapshot } from '../src/ports.js';
import { silentLogger } from '../src/ports.js';
import { restore } from '../src/restore.js';

function world(records: Record<string, ArchiveRecord>) {
  const objects = new Map<string, KubeObject>();
  const keys = new Map<string, SessionKeySnapshot>();
  const reader: ArchiveReader = { list: async () => Object.keys(records).sort(), read: async (uri) => JSON.stringify(records[uri]) };
  const cluster: ResourceCreator = {
    description: 'memory',
    async create(kind: DeletableKind, namespace: string, object: KubeObject) {
      const id = `${kind}/${namespace}/${object.metadata!.name}`;
      if (objects.has(id)) return 'exists';
      objects.set(id, object);
      return 'created';
    },
  };
  const store: KeyRestorer = {
    keyPrefix: 'lab_session:',
    async restoreSessionKey(snapshot) {
      if (keys.has(snapshot.key)) return 'exists';
      keys.set(snapshot.key, snapshot);
      return 'restored';
    },
  };
  const run = (session?: { namespace: string; sessionId: string }) =>
    restore({ source: 'memory', dryRun: false, keep: true, allowlist: ['jupyter-lab'], ...(session ? { session } : {}) }, { reader, cluster, store, logger: silentLogger });
  return { run, objects, keys };
}

function record(runStartedAt: string, value: string, overrides: Partial<ArchiveRecord> = {}): ArchiveRecord {
  return {
    version: 1,
    runStartedAt,
    cluster: 'labs',
    namespace: 'jupyter-lab',
    labType: 'jupyter',
    sessionId: 'abc',
    reason: 'no-deployment',
    resources: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'jupyter-config-abc', namespace: 'jupyter-lab' }, data: { v: value } }],
    sessionKey: { key: 'lab_session:abc', type: 'string', value, pttlMs: -1 },
    ...overrides,
  };
}

describe('restore', () => {
  it('puts a session back from its newest record, by run time, whatever the names sort as', async () => {
    // Prepare: the session's record of run 1, then its key archived alone by run 2 (`_keys/`
    // sorts before every namespace, so name order would pick run 1's key)
    const w = world({
      'jupyter-lab/abc/2026-11-26T12:00:00.000Z-jupyter.json': record('2026-11-26T12:00:00.000Z', 'v1'),
      '_keys/abc/2026-11-26T12:05:00.000Z.json': record('2026-11-26T12:05:00.000Z', 'v2', { namespace: null, labType: null, resources: [] }),
    });
    // Act
    const summary = await w.run({ namespace: 'jupyter-lab', sessionId: 'abc' });
    // Assess
    expect(summary.records.map((r) => r.runStartedAt)).toEqual(['2026-11-26T12:05:00.000Z', '2026-11-26T12:00:00.000Z']);
    expect(w.keys.get('lab_session:abc')!.value).toBe('v2');
    expect(summary.status).toBe('ok');
    expect(summary.totals).toEqual({ records: 2, restored: 2, exists: 1, failed: 0 });
  });

  it("writes no key but the record's own session's, under the prefix", async () => {
    const w = world({ 'a.json': record('2026-11-26T12:00:00.000Z', 'v', { sessionKey: { key: 'lab_session:other', type: 'string', value: 'v', pttlMs: -1 } }) });
    const summary = await w.run();
    expect(summary.status).toBe('partial');
    expect(summary.records[0]!.objects.at(-1)).toEqual({
      kind: 'SessionKey',
      name: 'lab_session:other',
      action: 'failed',
      error: "the key is not session abc's under SESSION_KEY_PREFIX (lab_session:abc), so it was not restored",
    });
    expect(w.keys.size).toBe(0);
  });

  it('says so, and fails, when the source holds no record', async () => {
    const summary = await world({}).run();
    expect(summary.status).toBe('failed');
    expect(summary.warnings).toEqual(['Found no archive record (*.json) in memory']);
  });
});
