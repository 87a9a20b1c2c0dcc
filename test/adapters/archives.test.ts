/**
 * The archive's adapters over real protocols: the S3 archive through the AWS SDK to moto
 * (`python3 -m moto.server`), a directory archive on disk, and a session key's whole value
 * read and written back through the real @upstash/redis client and the Upstash bridge to
 * redis-server, for each of Redis's six core types. Then a restore from `s3://bucket/prefix`,
 * as an operator runs it.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DirectoryArchive, DirectoryRecords } from '../../src/adapters/dir-archive.js';
import { S3Archive, S3Records, createS3Client, parseS3Uri } from '../../src/adapters/s3-archive.js';
import { createUpstashClient } from '../../src/adapters/upstash.js';
import { deleteArchivedKey, readKeyValue, restoreKeyValue } from '../../src/adapters/upstash-values.js';
import type { RestoreSummary } from '../../src/restore.js';
import type { MotoServer } from '../support/moto.js';
import { startMoto } from '../support/moto.js';
import type { LocalServers } from '../support/servers.js';
import { startLocalServers } from '../support/servers.js';
import { runCli } from '../support/cli.js';
import { names, seedSession, tempFile } from '../support/lab.js';

const BUCKET = 'lab-reconciler-archive-test';
let moto: MotoServer;
let servers: LocalServers;
let env: Record<string, string>;
let admin: S3Client;

beforeAll(async () => {
  [moto, servers] = await Promise.all([startMoto(), startLocalServers()]);
  // The SDK reads credentials from the process's environment (the operator's, for a restore).
  process.env.AWS_ACCESS_KEY_ID = 'AKIAARCHIVETEST00001';
  process.env.AWS_SECRET_ACCESS_KEY = 'archive/test+secret';
  env = { AWS_ENDPOINT_URL_S3: moto.url, AWS_REGION: 'us-east-1' };
  admin = createS3Client({ env });
  await admin.send(new CreateBucketCommand({ Bucket: BUCKET }));
}, 60_000);
afterAll(async () => {
  await servers?.close();
  await moto?.stop();
});
beforeEach(() => servers.reset());

describe('the S3 archive (moto)', () => {
  it('writes a record under its name and lists and reads it back from a prefix, in name order', async () => {
    const archive = new S3Archive(createS3Client({ env }), BUCKET);
    const uris = [];
    for (const name of ['ns-a/s2/2026-11-26T12:00:00.000Z-jupyter.json', 'ns-a/s1/2026-11-26T12:00:00.000Z-jupyter.json', 'ns-b/s1/2026-11-26T12:05:00.000Z-ubuntu.json']) {
      uris.push(await archive.write(name, JSON.stringify({ name })));
    }
    expect(uris[0]).toBe(`s3://${BUCKET}/ns-a/s2/2026-11-26T12:00:00.000Z-jupyter.json`);
    const records = new S3Records(createS3Client({ env }), `s3://${BUCKET}/ns-a/`);
    const listed = await records.list();
    expect(listed).toEqual([`s3://${BUCKET}/ns-a/s1/2026-11-26T12:00:00.000Z-jupyter.json`, `s3://${BUCKET}/ns-a/s2/2026-11-26T12:00:00.000Z-jupyter.json`]);
    expect(JSON.parse(await records.read(listed[1]!))).toEqual({ name: 'ns-a/s2/2026-11-26T12:00:00.000Z-jupyter.json' });
  });

  it('names the S3 error and its status when a write is refused', async () => {
    const archive = new S3Archive(createS3Client({ env }), 'lab-reconciler-no-such-bucket');
    await expect(archive.write('a/b/c.json', '{}')).rejects.toThrow(/^NoSuchBucket \(HTTP 404\)/);
  });

  it('gives up on an endpoint that takes the request and never answers, in bounded time', async () => {
    // A server that accepts the connection and the request, then says nothing
    const { createServer } = await import('node:http');
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const archive = new S3Archive(createS3Client({ env: { ...env, AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${port}` }, requestTimeoutMs: 300 }), BUCKET);
      // Three attempts of 300 ms and the SDK's backoff; without the bound it hangs past the test's timeout
      await expect(archive.write('a/b/c.json', '{}')).rejects.toThrow(/timed? ?out|timeout/i);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });

  it('gives up on an endpoint that does not answer, in bounded time, naming the failure', async () => {
    const archive = new S3Archive(createS3Client({ env: { ...env, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' }, requestTimeoutMs: 500 }), BUCKET);
    await expect(archive.write('a/b/c.json', '{}')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('parses s3://bucket/prefix and nothing else', () => {
    expect(parseS3Uri('s3://b/p/q')).toEqual({ bucket: 'b', prefix: 'p/q' });
    expect(parseS3Uri('s3://b')).toEqual({ bucket: 'b', prefix: '' });
    expect(parseS3Uri('/tmp/x')).toBeUndefined();
  });
});

describe('the directory archive', () => {
  it('writes each record whole under its name (no temporary file left), and lists a tree in name order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lab-reconciler-dir-'));
    const archive = new DirectoryArchive(dir);
    const path = await archive.write('jupyter-lab/abc/2026-11-26T12:00:00.000Z-jupyter.json', '{"version":1}\n');
    await archive.write('jupyter-lab/abb/2026-11-26T12:00:00.000Z-jupyter.json', '{}');
    expect(path).toBe(join(dir, 'jupyter-lab/abc/2026-11-26T12:00:00.000Z-jupyter.json'));
    expect(readFileSync(path, 'utf8')).toBe('{"version":1}\n');
    expect(readdirSync(join(dir, 'jupyter-lab/abc'))).toEqual(['2026-11-26T12:00:00.000Z-jupyter.json']);
    expect(await new DirectoryRecords(dir).list()).toEqual([
      join(dir, 'jupyter-lab/abb/2026-11-26T12:00:00.000Z-jupyter.json'),
      join(dir, 'jupyter-lab/abc/2026-11-26T12:00:00.000Z-jupyter.json'),
    ]);
    expect(await new DirectoryRecords(path).list()).toEqual([path]);
  });

  it('never replaces a record: a second write under the same name fails, and the first stays', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lab-reconciler-dir-'));
    const archive = new DirectoryArchive(dir);
    const path = await archive.write('ns/s/t-jupyter.json', 'first');
    await expect(archive.write('ns/s/t-jupyter.json', 'second')).rejects.toThrow(/exists already: a record is never replaced/);
    expect(readFileSync(path, 'utf8')).toBe('first');
    expect(readdirSync(join(dir, 'ns/s'))).toEqual(['t-jupyter.json']);
  });

  it('refuses a name that would leave its directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lab-reconciler-dir-'));
    await expect(new DirectoryArchive(join(dir, 'a')).write('../escape.json', '{}')).rejects.toThrow(/leaves/);
    expect(existsSync(join(dir, 'escape.json'))).toBe(false);
  });

  it('fails a write to a directory it cannot create, naming the path', async () => {
    const file = tempFile('not-a-dir', 'x');
    await expect(new DirectoryArchive(file).write('a/b.json', '{}')).rejects.toThrow(/not-a-dir/);
  });
});

describe('a session key whole, through the Upstash bridge', () => {
  const redis = () => createUpstashClient({ url: servers.bridge.url, token: servers.bridge.token, timeoutMs: 5_000 });

  it.each([
    ['string', ['SET', 'k', '{"user":"ada","note":"\u00e9\u00e8 \ud83d\ude00"}']],
    ['hash', ['HSET', 'k', 'user', 'ada', '__proto__', 'x', 'empty', '']],
    ['list', ['RPUSH', 'k', 'b', 'a', 'b']],
    ['set', ['SADD', 'k', 'x', 'y', 'z']],
    ['zset', ['ZADD', 'k', '1.5', 'a', '-inf', 'b', '3', 'c']],
    ['stream', ['XADD', 'k', '1700000000000-0', 'event', 'start', 'user', 'ada']],
  ])('reads a %s key with its TTL, and writes it back the same', async (type, command) => {
    // Prepare
    await servers.direct.call(...command);
    if (type === 'stream') await servers.direct.call('XADD', 'k', '1700000000001-0', 'event', 'stop');
    await servers.direct.call('PEXPIRE', 'k', '60000');
    // A set's serialization follows its hash table's order: its members, sorted, are its value.
    const dump = async () => (type === 'set' ? (await servers.strings('SMEMBERS', 'k')).sort().join('\n') : String(await servers.direct.call('DUMP', 'k')));
    const original = await dump();
    // Act
    const { snapshot } = (await readKeyValue(redis(), 'k'))!;
    await servers.direct.call('DEL', 'k');
    const answer = await restoreKeyValue(redis(), JSON.parse(JSON.stringify(snapshot)), { dryRun: false });
    // Assess: the same value, byte for byte as Redis serializes it (a set: its members), and the TTL
    expect(snapshot).toMatchObject({ key: 'k', type });
    expect(snapshot.pttlMs).toBeGreaterThan(59_000);
    expect(answer).toBe('restored');
    expect(await dump()).toBe(original);
    const ttl = Number(await servers.direct.call('PTTL', 'k'));
    expect(ttl).toBeGreaterThan(58_000);
    expect(ttl).toBeLessThanOrEqual(snapshot.pttlMs);
  });

  it('reads a key without TTL as pttlMs -1 and writes it back without one; an absent key reads as null', async () => {
    await servers.direct.call('SET', 'k', 'v');
    const { snapshot } = (await readKeyValue(redis(), 'k'))!;
    expect(snapshot.pttlMs).toBe(-1);
    await servers.direct.call('DEL', 'k');
    await restoreKeyValue(redis(), snapshot, { dryRun: false });
    expect(Number(await servers.direct.call('PTTL', 'k'))).toBe(-1);
    expect(await readKeyValue(redis(), 'absent')).toBeNull();
  });

  it('writes over nothing: a key there now is reported as exists and left as it is; a dry run writes nothing', async () => {
    await servers.direct.call('SET', 'k', 'now');
    expect(await restoreKeyValue(redis(), { key: 'k', type: 'string', value: 'then', pttlMs: -1 }, { dryRun: false })).toBe('exists');
    expect(await servers.get('k')).toBe('now');
    expect(await restoreKeyValue(redis(), { key: 'other', type: 'string', value: 'then', pttlMs: -1 }, { dryRun: true })).toBe('restored');
    expect(await servers.direct.call('EXISTS', 'other')).toBe(0);
  });

  it('reads a large hash and writes it back in slices, under Lua\'s stack limit', async () => {
    const fields = Array.from({ length: 5000 }, (_, i) => [`f${i}`, `v${i}`]).flat();
    for (let i = 0; i < fields.length; i += 1000) await servers.direct.call('HSET', 'k', ...fields.slice(i, i + 1000));
    const { snapshot } = (await readKeyValue(redis(), 'k'))!;
    await servers.direct.call('DEL', 'k');
    await restoreKeyValue(redis(), snapshot, { dryRun: false });
    expect(Number(await servers.direct.call('HLEN', 'k'))).toBe(5000);
  });

  it('deletes a key only while it holds the value archived, in one step', async () => {
    await servers.direct.call('HSET', 'k', 'user', 'ada');
    const { fingerprint } = (await readKeyValue(redis(), 'k'))!;
    expect(fingerprint).toMatch(/^[0-9a-f]{40}$/);
    // Rewritten since its archive: left as it is
    await servers.direct.call('HSET', 'k', 'user', 'bob');
    expect(await deleteArchivedKey(redis(), 'k', fingerprint)).toBe('changed');
    expect(await servers.direct.call('EXISTS', 'k')).toBe(1);
    // Back to the archived value: deleted; then gone
    await servers.direct.call('HSET', 'k', 'user', 'ada');
    expect(await deleteArchivedKey(redis(), 'k', fingerprint)).toBe('deleted');
    expect(await servers.direct.call('EXISTS', 'k')).toBe(0);
    expect(await deleteArchivedKey(redis(), 'k', fingerprint)).toBe('absent');
  });

  it('leaves no half key when a write fails half-way (a score a hand-edited record got wrong): nothing is there, and it says why', async () => {
    const scores = Array.from({ length: 1500 }, (_, i) => [`m${i}`, String(i)] as [string, string]);
    scores[1200] = ['m1200', 'not-a-number'];
    await expect(restoreKeyValue(redis(), { key: 'k', type: 'zset', value: scores, pttlMs: 60_000 }, { dryRun: false })).rejects.toThrow(/not a valid float/);
    expect(await servers.direct.call('EXISTS', 'k')).toBe(0);
  });

  it('keeps a millisecond of a TTL that was 0 when read, rather than none', async () => {
    await restoreKeyValue(redis(), { key: 'k', type: 'string', value: 'v', pttlMs: 0 }, { dryRun: false });
    // -1 would be a key kept for ever; -2 (gone already) or 1 is what was left
    expect([-2, 0, 1]).toContain(Number(await servers.direct.call('PTTL', 'k')));
  });

  it('refuses a value that does not fit its type, before writing anything', async () => {
    await expect(restoreKeyValue(redis(), { key: 'k', type: 'hash', value: ['a'], pttlMs: -1 }, { dryRun: false })).rejects.toThrow(/a hash key's value is not an object of strings/);
    expect(await servers.direct.call('EXISTS', 'k')).toBe(0);
  });
});

describe('restore from s3://bucket/prefix, as an operator runs it', () => {
  it('restores the records under the prefix through the kubeconfig and the bridge', async () => {
    // Prepare: a cluster, a session cleaned into the bucket by the Lambda's code path
    seedSession(servers.server, 'jupyter-lab', 'jupyter', 's3s', { shape: 'production' });
    await servers.direct.call('SET', 'lab_session:s3s', '{"user":"ada"}');
    const cliEnv = {
      ...env,
      KUBECONFIG: tempFile('kubeconfig', servers.server.kubeconfig()),
      UPSTASH_REDIS_REST_URL: servers.bridge.url,
      UPSTASH_REDIS_REST_TOKEN: servers.bridge.token,
      RECONCILIATION_NAMESPACES: 'jupyter-lab',
      RECONCILIATION_MIN_AGE_SECONDS: '0',
      RECONCILIATION_CONFIRM_SECONDS: '0',
    };
    const cleaned = await runCli(['apply', '--output', 'json'], { ...cliEnv, ARCHIVE_BUCKET: BUCKET });
    expect(cleaned.status, cleaned.stderr).toBe(0);
    expect(names(servers.server, 'Service', 'jupyter-lab')).toEqual([]);
    // A stray object under the prefix that is not a record
    await admin.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'jupyter-lab/s3s/notes.json', Body: 'not json' }));
    // Act
    const result = await runCli(['restore', `s3://${BUCKET}/jupyter-lab/s3s/`, '--session', 'jupyter-lab/s3s', '--output', 'json'], cliEnv);
    // Assess
    expect(result.status, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as RestoreSummary;
    expect(summary.totals).toEqual({ records: 1, restored: 4, exists: 0, failed: 0 });
    expect(summary.warnings).toEqual([expect.stringMatching(/^Passed over s3:\/\/lab-reconciler-archive-test\/jupyter-lab\/s3s\/notes\.json: .* is not JSON/)]);
    expect(names(servers.server, 'Service', 'jupyter-lab')).toEqual(['jupyter-service-s3s']);
    expect(await servers.get('lab_session:s3s')).toBe('{"user":"ada"}');
  });

  it('fails with the bucket named when the prefix cannot be listed', async () => {
    const result = await runCli(['restore', 's3://lab-reconciler-no-such-bucket/x/'], { ...env, KUBECONFIG: tempFile('kubeconfig', servers.server.kubeconfig()) });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/could not list s3:\/\/lab-reconciler-no-such-bucket\/x\/: NoSuchBucket \(HTTP 404\)/);
  });
});
