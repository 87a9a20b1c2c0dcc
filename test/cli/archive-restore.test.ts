/**
 * The archive and restore round trip, as an operator runs it: `apply --archive-dir` cleans
 * production-shaped sessions from the local API server (through the product's request layer
 * and a kubeconfig) and their keys from redis-server (through the real @upstash/redis client
 * and the Upstash bridge); `restore` puts them back, and each object and key is compared field
 * by field with what was deleted. Then what a restore must refuse or leave alone: objects that
 * exist now, records that are not JSON or of an unknown version, a namespace outside the
 * allowlist. The same over S3 (moto): test/adapters/archives.test.ts.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ArchiveRecord } from '../../src/core/archive.js';
import type { Summary } from '../../src/core/report.js';
import type { RestoreSummary } from '../../src/restore.js';
import type { KubeApiServer, KubeObject } from '../support/kube-api-server.js';
import type { LocalServers } from '../support/servers.js';
import { startLocalServers } from '../support/servers.js';
import { runCli } from '../support/cli.js';
import { names, seedSession, tempFile } from '../support/lab.js';

let servers: LocalServers;
let server: KubeApiServer;
let env: Record<string, string>;
let dir: string;

const KINDS = ['Service', 'Ingress', 'ConfigMap'] as const;
const NAME = { Service: 'jupyter-service-abc', Ingress: 'jupyter-ingress-abc', ConfigMap: 'jupyter-config-abc' } as const;
const SESSION_VALUE = { user: 'ada', image: 'jupyter/scipy-notebook:2026-11', startedAt: '2026-11-26T09:00:00Z', notebook: 'x'.repeat(2048) };

beforeAll(async () => {
  servers = await startLocalServers();
  server = servers.server;
  env = {
    KUBECONFIG: tempFile('kubeconfig', server.kubeconfig({ context: 'kind-lab' })),
    UPSTASH_REDIS_REST_URL: servers.bridge.url,
    UPSTASH_REDIS_REST_TOKEN: servers.bridge.token,
    RECONCILIATION_NAMESPACES: 'jupyter-lab,ubuntu-lab',
    RECONCILIATION_MIN_AGE_SECONDS: '0',
    RECONCILIATION_CONFIRM_SECONDS: '0',
  };
});
afterAll(() => servers.close());
beforeEach(async () => {
  await servers.reset();
  dir = mkdtempSync(join(tmpdir(), 'lab-reconciler-archive-'));
  seedSession(server, 'jupyter-lab', 'jupyter', 'live', { deployment: true, shape: 'production' });
  seedSession(server, 'jupyter-lab', 'jupyter', 'abc', { shape: 'production' });
  await servers.direct.call('SET', 'lab_session:live', '{"user":"bob"}');
  // The session record as the platform keeps it: a hash, with a TTL
  await servers.direct.call('HSET', 'lab_session:abc', ...Object.entries(SESSION_VALUE).flat());
  await servers.direct.call('PEXPIRE', 'lab_session:abc', '7200000');
});

/** Each resource of session abc as the server holds it now. */
function held(): Record<(typeof KINDS)[number], KubeObject | undefined> {
  return Object.fromEntries(KINDS.map((kind) => [kind, server.get(kind, 'jupyter-lab', NAME[kind])])) as Record<(typeof KINDS)[number], KubeObject | undefined>;
}

/** What a create may not carry, and so what differs between a deleted object and its restored self. */
function withoutServerFields(object: KubeObject | undefined): unknown {
  const { status: _s, metadata, ...rest } = structuredClone(object) as KubeObject & { status?: unknown; spec?: Record<string, unknown> };
  const { uid: _u, resourceVersion: _r, creationTimestamp: _c, managedFields: _m, generation: _g, ...meta } = metadata as unknown as Record<string, unknown>;
  const spec = (rest as { spec?: Record<string, unknown> }).spec;
  if (object?.kind === 'Service' && spec) {
    delete spec.clusterIP;
    delete spec.clusterIPs;
  }
  return { ...rest, metadata: meta };
}

async function apply(): Promise<Summary> {
  const result = await runCli(['apply', '--archive-dir', dir, '--output', 'json'], env);
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Summary;
}

async function restore(...args: string[]): Promise<{ status: number; summary: RestoreSummary; stderr: string }> {
  const result = await runCli(['restore', ...args, '--output', 'json'], env);
  return { status: result.status, summary: JSON.parse(result.stdout) as RestoreSummary, stderr: result.stderr };
}

function recordFiles(): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.json')).sort();
}

describe('apply --archive-dir, then restore', () => {
  it('puts a cleaned session back as it was, field by field, key and TTL included, marked to be kept', async () => {
    // Prepare: what the cleaning will take
    const before = held();
    expect(JSON.stringify(before.ConfigMap).length).toBeGreaterThan(2000);
    // Act 1: clean
    const cleaned = await apply();
    // Assess 1: the record is where the summary says, and holds each object as it was
    const session = cleaned.sessions.find((s) => s.sessionId === 'abc')!;
    expect(session).toMatchObject({ action: 'cleaned', sessionKey: 'deleted' });
    expect(recordFiles()).toEqual([join('jupyter-lab', 'abc', `${cleaned.startedAt}-jupyter.json`)]);
    expect(session.archive).toBe(join(dir, 'jupyter-lab', 'abc', `${cleaned.startedAt}-jupyter.json`));
    const record = JSON.parse(readFileSync(session.archive!, 'utf8')) as ArchiveRecord;
    for (const kind of KINDS) expect(record.resources.find((o) => o.kind === kind)).toEqual(before[kind]);
    expect(record.sessionKey).toMatchObject({ key: 'lab_session:abc', type: 'hash', value: SESSION_VALUE });
    expect(record.sessionKey!.pttlMs).toBeGreaterThan(7_100_000);
    expect(Object.values(held())).toEqual([undefined, undefined, undefined]);
    expect(await servers.direct.call('EXISTS', 'lab_session:abc')).toBe(0);

    // Act 2: restore from the directory, as the README says
    const result = await runCli(['restore', dir], env);
    // Assess 2: the table, and the exit status
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/jupyter-lab\s+jupyter\s+abc\s+Service\/jupyter-service-abc\s+restored/);
    expect(result.stdout).toMatch(/jupyter-lab\s+jupyter\s+abc\s+SessionKey\/lab_session:abc\s+restored/);
    expect(result.stdout).toContain('Restored 4 objects from 1 records; 0 were there already (never replaced); 0 failed.');
    expect(result.stdout).toContain('kubectl annotate -n jupyter-lab configmap/jupyter-config-abc service/jupyter-service-abc ingress/jupyter-ingress-abc lab-reconciler/keep-');
    // Assess 2: each object as it was, but for what the server sets, and the keep annotation
    const after = held();
    for (const kind of KINDS) {
      const expected = withoutServerFields(before[kind]) as KubeObject;
      expected.metadata = { ...expected.metadata, annotations: { ...(expected.metadata?.annotations ?? {}), 'lab-reconciler/keep': 'true' } };
      expect(withoutServerFields(after[kind])).toEqual(expected);
      expect(after[kind]!.metadata.uid).not.toBe(before[kind]!.metadata.uid);
    }
    // A Service gets a new address from the allocator: the old one may be someone else's now
    expect((after.Service as unknown as { spec: { clusterIP: string } }).spec.clusterIP).toMatch(/^10\.101\./);
    // Assess 2: the key, with its value and what was left of its TTL
    const fields = (await servers.strings('HGETALL', 'lab_session:abc'));
    expect(Object.fromEntries(fields.flatMap((f, i) => (i % 2 === 0 ? [[f, fields[i + 1]]] : [])))).toEqual(SESSION_VALUE);
    const ttl = Number(await servers.direct.call('PTTL', 'lab_session:abc'));
    expect(ttl).toBeGreaterThan(7_000_000);
    expect(ttl).toBeLessThanOrEqual(record.sessionKey!.pttlMs);

    // Act 3: the next run finds the session orphaned still (no Deployment), and keeps it
    const next = await apply();
    // Assess 3
    expect(next.sessions.find((s) => s.sessionId === 'abc')).toMatchObject({ action: 'spared', reason: 'keep-annotation' });
    expect(names(server, 'Service', 'jupyter-lab')).toEqual(['jupyter-service-abc', 'jupyter-service-live']);
  });

  it('names each record in the table, and warns when apply has nowhere to archive', async () => {
    const table = await runCli(['apply', '--archive-dir', dir], env);
    expect(table.stdout).toMatch(/Archived before the deletes .*:\nNAMESPACE\s+LAB\s+SESSION\s+ARCHIVE RECORD\njupyter-lab\s+jupyter\s+abc\s+\S+\/jupyter-lab\/abc\/\S+-jupyter\.json\n/);
    expect(table.stdout).toContain(join(dir, 'jupyter-lab', 'abc'));
    seedSession(server, 'jupyter-lab', 'jupyter', 'def', { shape: 'production' });
    const none = await runCli(['apply'], env);
    expect(none.stdout).toContain('No archive is configured (ARCHIVE_BUCKET, or ARCHIVE_DIR / --archive-dir): what this run deletes cannot be restored');
  });

  it('with --no-keep, restores without the annotation, and says nothing of it', async () => {
    await apply();
    const result = await runCli(['restore', dir, '--no-keep'], env);
    expect(result.status).toBe(0);
    expect(server.get('Service', 'jupyter-lab', NAME.Service)!.metadata.annotations?.['lab-reconciler/keep']).toBeUndefined();
    expect(result.stdout).not.toContain('lab-reconciler/keep');
  });

  it('never replaces what exists now: an object or key created since is reported as exists and left as it is', async () => {
    // Prepare: cleaned, then the lab-controller started the session again (a new ConfigMap and key)
    await apply();
    server.create('ConfigMap', 'jupyter-lab', { metadata: { name: NAME.ConfigMap }, data: { fresh: 'true' } } as KubeObject);
    await servers.direct.call('SET', 'lab_session:abc', '{"new":true}');
    // Act
    const { status, summary } = await restore(dir);
    // Assess
    expect(status).toBe(0);
    expect(summary.records[0]!.objects.map((o) => [o.kind, o.action])).toEqual([
      ['ConfigMap', 'exists'],
      ['Service', 'restored'],
      ['Ingress', 'restored'],
      ['SessionKey', 'exists'],
    ]);
    expect((server.get('ConfigMap', 'jupyter-lab', NAME.ConfigMap) as unknown as { data: unknown }).data).toEqual({ fresh: 'true' });
    expect(await servers.get('lab_session:abc')).toBe('{"new":true}');
    // Again: everything is there now, so nothing is created, and that is a success
    const again = await restore(dir);
    expect(again.status).toBe(0);
    expect(again.summary.totals).toEqual({ records: 1, restored: 0, exists: 4, failed: 0 });
  });

  it('with --dry-run, sends each create with dryRun=All and creates nothing', async () => {
    await apply();
    const before = server.requests.length;
    const { status, summary } = await restore(dir, '--dry-run');
    expect(status).toBe(0);
    expect(summary.records[0]!.objects.map((o) => o.action)).toEqual(['would-restore', 'would-restore', 'would-restore', 'would-restore']);
    const creates = server.requests.slice(before).filter((r) => r.verb === 'create');
    expect(creates.map((r) => [r.kind, r.query.dryRun, r.status])).toEqual([['ConfigMap', 'All', 201], ['Service', 'All', 201], ['Ingress', 'All', 201]]);
    expect(names(server, 'Service', 'jupyter-lab')).toEqual(['jupyter-service-live']);
    expect(await servers.direct.call('EXISTS', 'lab_session:abc')).toBe(0);
  });

  it('with --session, restores only that session from a directory of many', async () => {
    seedSession(server, 'ubuntu-lab', 'ubuntu', 'other', { shape: 'production' });
    await apply();
    expect(recordFiles()).toHaveLength(2);
    const { status, summary } = await restore(dir, '--session', 'ubuntu-lab/other');
    expect(status).toBe(0);
    expect(summary.records.map((r) => `${r.namespace}/${r.sessionId}`)).toEqual(['ubuntu-lab/other']);
    expect(names(server, 'Service', 'ubuntu-lab')).toEqual(['ubuntu-service-other']);
    expect(names(server, 'Service', 'jupyter-lab')).toEqual(['jupyter-service-live']);
  });

  it('restores the newest record of a session first: an older one finds its objects there', async () => {
    // Prepare: cleaned, restored without the annotation, cleaned again (two records)
    await apply();
    await runCli(['restore', dir, '--no-keep'], env);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await servers.direct.call('HSET', 'lab_session:abc', 'user', 'ada-2');
    await apply();
    expect(recordFiles()).toHaveLength(2);
    // Act
    const { summary } = await restore(dir);
    // Assess
    expect(summary.records.map((r) => r.objects.filter((o) => o.action === 'restored').length)).toEqual([4, 0]);
    expect(await servers.strings('HMGET', 'lab_session:abc', 'user')).toEqual(['ada-2']);
  });
});

describe('a stale key deleted with --stale-keys delete', () => {
  it('is archived alone first, and restore puts it back, with no namespace to check', async () => {
    // Prepare: a key without any resource, seen stale once (and ubuntu-lab not empty: an empty
    // namespace holds every stale key delete back)
    seedSession(server, 'ubuntu-lab', 'ubuntu', 'u1', { deployment: true });
    await servers.direct.call('SET', 'lab_session:u1', '{}');
    await servers.direct.call('SET', 'lab_session:ghost', '{"user":"bob"}', 'PX', '600000');
    const flags = ['apply', '--stale-keys', 'delete', '--archive-dir', dir, '--output', 'json'];
    await runCli(flags, env);
    // Act 1
    const deleted = JSON.parse((await runCli(flags, env)).stdout) as Summary;
    // Assess 1
    const ghost = deleted.staleSessionKeys.find((k) => k.key === 'lab_session:ghost')!;
    expect(ghost).toMatchObject({ action: 'deleted', archive: join(dir, '_keys', 'ghost', `${deleted.startedAt}.json`) });
    expect(await servers.direct.call('EXISTS', 'lab_session:ghost')).toBe(0);
    // Act 2
    const { status, summary } = await restore(join(dir, '_keys'), '--session', 'jupyter-lab/ghost');
    // Assess 2
    expect(status).toBe(0);
    expect(summary.records).toMatchObject([{ sessionId: 'ghost', objects: [{ kind: 'SessionKey', name: 'lab_session:ghost', action: 'restored' }] }]);
    expect(summary.records[0]!.namespace).toBeUndefined();
    expect(await servers.get('lab_session:ghost')).toBe('{"user":"bob"}');
    expect(Number(await servers.direct.call('PTTL', 'lab_session:ghost'))).toBeGreaterThan(500_000);
  });
});

describe('restore refuses, and overwrites nothing', () => {
  it.each([
    ['a record that is not JSON', () => '{"version": 1, "namespace":', /is not JSON \(.+\): not an archive record/],
    ['a record of an unknown version', () => JSON.stringify({ version: 2, namespace: 'jupyter-lab' }), /its version is 2; this lab-reconciler reads version 1 only/],
  ])('%s: exit 1, the record named, nothing created', async (_what, text, message) => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, text());
    const { status, summary } = await restore(file);
    expect(status).toBe(1);
    expect(summary.status).toBe('failed');
    expect(summary.records[0]!.error).toMatch(message);
    expect(summary.records[0]!.error).toContain(file);
    expect(server.requests.filter((r) => r.verb === 'create')).toEqual([]);
    // The table names the record once, and claims nothing was created
    const table = await runCli(['restore', file], env);
    expect(table.stdout.split('\n')[0]).toBe(`lab-reconciler restore from ${file}`);
    expect(table.stdout.split(file).length - 1).toBe(2);
  });

  it('a record of a namespace outside the allowlist: exit 1, the namespace and allowlist named, nothing created', async () => {
    await apply();
    const { status, summary } = await restore(dir, '--namespaces', 'ubuntu-lab');
    expect(status).toBe(1);
    expect(summary.records[0]!.error).toBe('namespace jupyter-lab is not in the allowlist RECONCILIATION_NAMESPACES (ubuntu-lab): nothing of this record was restored');
    expect(server.requests.filter((r) => r.verb === 'create')).toEqual([]);
    expect(await servers.direct.call('EXISTS', 'lab_session:abc')).toBe(0);
  });

  it('a key without a session store configured: the resources come back, the key fails, naming why, exit 1', async () => {
    await apply();
    const noStore = { ...env, UPSTASH_REDIS_REST_URL: '', UPSTASH_REDIS_REST_TOKEN: '' };
    const result = await runCli(['restore', dir], noStore);
    expect(result.status).toBe(1);
    expect(result.stdout).toMatch(/SessionKey\/lab_session:abc\s+failed\s+no session store is configured/);
    expect(names(server, 'Service', 'jupyter-lab')).toEqual(['jupyter-service-abc', 'jupyter-service-live']);
  });

  it.each([
    [['restore'], /restore needs a SOURCE/],
    [['restore', 'a', 'b'], /unexpected argument "b"/],
    [['restore', 'x', '--session', 'no-slash'], /--session: must be NAMESPACE\/SESSION_ID/],
    [['restore', 'x', '--min-age', '3'], /--min-age does not work with restore/],
    [['apply', '--no-keep'], /--no-keep does not work with apply/],
  ])('bad usage %j: exit 2, naming it', async (argv, message) => {
    const result = await runCli(argv, env);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('a source that does not exist: exit 1, the path named', async () => {
    const result = await runCli(['restore', join(dir, 'missing')], env);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`${join(dir, 'missing')} does not exist`);
  });
});
