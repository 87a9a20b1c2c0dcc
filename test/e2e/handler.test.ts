/**
 * End to end, the built bundle: dist/handler.mjs imported in a fresh Node process (a cold
 * start), pointed with the SDK's standard endpoint variables at a local EKS endpoint (which
 * returns the test API server's HTTPS URL and CA) and at moto for SSM. The API server
 * verifies every EKS token's signature; orphans are cleaned, keys deleted through the Upstash
 * bridge, and the summary, the EMF documents and the logs are checked against the contract.
 *
 * The Node that runs the bundle is LAB_RECONCILER_NODE when set (CI sets it to Node 24, the
 * Lambda runtime), else this one.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Summary } from '../../src/core/report.js';
import type { EksEndpoint } from '../support/eks.js';
import { checkEksToken, startEksEndpoint } from '../support/eks.js';
import type { KubeApiServer } from '../support/kube-api-server.js';
import { startKubeApiServer } from '../support/kube-api-server.js';
import type { MotoServer } from '../support/moto.js';
import { startMoto } from '../support/moto.js';
import type { RedisServer } from '../support/redis-server.js';
import { startRedisServer } from '../support/redis-server.js';
import { RespClient } from '../support/resp-client.js';
import { UpstashBridge } from '../support/upstash-bridge.js';
import { names, seedSession, tempFile } from '../support/lab.js';

const exec = promisify(execFile);
const NODE = process.env.LAB_RECONCILER_NODE || process.execPath;
const CLUSTER = 'lab-e2e';
const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'AKIAE2ETESTKEY00001', secretAccessKey: 'e2e/secret+key' };
const TOKEN_PARAMETER = '/lab-reconciler/e2e/upstash-token';
const BUCKET = 'lab-reconciler-e2e-archive';

let server: KubeApiServer;
let eks: EksEndpoint;
let moto: MotoServer;
let redis: RedisServer;
let bridge: UpstashBridge;
let direct: RespClient;
let rejectedTokens: string[];
let s3: S3Client;

/** The archive records in the bucket, by key. */
async function archived(): Promise<Map<string, Record<string, unknown>>> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
  const records = new Map<string, Record<string, unknown>>();
  for (const { Key } of listed.Contents ?? []) {
    const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key }));
    records.set(Key!, JSON.parse(await object.Body!.transformToString()) as Record<string, unknown>);
  }
  return records;
}

beforeAll(async () => {
  expect(existsSync('dist/handler.mjs'), 'dist/handler.mjs is missing: npm test builds it first (npm run build)').toBe(true);
  rejectedTokens = [];
  server = await startKubeApiServer({
    authenticate: (token) => {
      const problem = checkEksToken(token, { cluster: CLUSTER, region: REGION, ...CREDENTIALS });
      if (problem) rejectedTokens.push(problem);
      return problem === undefined;
    },
  });
  eks = await startEksEndpoint({ name: CLUSTER, endpoint: server.url, caData: server.caData });
  [moto, redis] = await Promise.all([startMoto(), startRedisServer()]);
  bridge = await UpstashBridge.start({ redisPort: redis.port });
  direct = await RespClient.connect(redis.port);
  const ssm = new SSMClient({ region: REGION, endpoint: moto.url, credentials: CREDENTIALS });
  await ssm.send(new PutParameterCommand({ Name: TOKEN_PARAMETER, Type: 'SecureString', Value: bridge.token, Overwrite: true }));
  s3 = new S3Client({ region: REGION, endpoint: moto.url, forcePathStyle: true, credentials: CREDENTIALS });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
}, 60_000);

afterAll(async () => {
  await direct?.close();
  await bridge?.close();
  await redis?.stop();
  await moto?.stop();
  await eks?.close();
  await server?.close();
});

beforeEach(async () => {
  server.reset();
  eks.requests.length = 0;
  eks.failWith = undefined;
  rejectedTokens.length = 0;
  bridge.reset();
  await direct.call('FLUSHALL');
  seedSession(server, 'jupyter-lab', 'jupyter', 'live', { deployment: true });
  seedSession(server, 'jupyter-lab', 'jupyter', 'dead1');
  seedSession(server, 'ubuntu-lab', 'ubuntu', 'dead2');
  for (const id of ['live', 'dead1', 'dead2']) await direct.call('SET', `lab_session:${id}`, '{"user":"ada"}');
  // The other direction: a key whose session has no resource, and a Deployment without its key.
  await direct.call('SET', 'lab_session:ghost', '{"user":"bob"}');
  seedSession(server, 'ubuntu-lab', 'ubuntu', 'leak', { deployment: true, service: false, ingress: false, configMap: false });
});

interface Invocation {
  result?: Summary;
  error?: { name: string; message: string };
  node: string;
  stdout: string;
  /** Every JSON line the function wrote. */
  lines: Record<string, unknown>[];
  emf: EmfDocument[];
}

interface EmfDocument {
  _aws: { Timestamp: number; CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  [key: string]: unknown;
}

/** Runs the bundle once in a fresh process with the Lambda's environment. */
async function invoke(event: unknown, env: Record<string, string> = {}): Promise<Invocation> {
  const resultFile = tempFile('result.json', '');
  const { stdout } = await exec(NODE, ['test/e2e/invoke-bundle.mjs', JSON.stringify(event)], {
    env: {
      PATH: process.env.PATH ?? '',
      E2E_RESULT_FILE: resultFile,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_EKS: eks.url,
      AWS_ENDPOINT_URL_SSM: moto.url,
      AWS_EC2_METADATA_DISABLED: 'true',
      EKS_CLUSTER_NAME: CLUSTER,
      RECONCILIATION_NAMESPACES: 'jupyter-lab,ubuntu-lab',
      RECONCILIATION_CONFIRM_SECONDS: '0',
      UPSTASH_REDIS_REST_URL: bridge.url,
      UPSTASH_REDIS_REST_TOKEN_PARAMETER: TOKEN_PARAMETER,
      ...env,
    },
    maxBuffer: 64 * 1024 * 1024,
  });
  const outcome = JSON.parse(readFileSync(resultFile, 'utf8')) as Omit<Invocation, 'stdout' | 'lines' | 'emf'>;
  const lines = stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { ...outcome, stdout, lines, emf: lines.filter((l): l is EmfDocument => '_aws' in l) };
}

const RUN_METRICS = [
  'RunsCompleted', 'NamespacesChecked', 'ServicesChecked', 'OrphanedFound', 'SessionsCleaned', 'SessionsSpared',
  'ResourcesDeleted', 'SessionKeysDeleted', 'Errors', 'CircuitBreakerOpen', 'StaleSessionKeys', 'StaleSessionKeysDeleted',
  'LeakedDeployments', 'DurationMs',
];

/** The run-level EMF document (dimension set exactly [Cluster]). */
function runMetrics(invocation: Invocation): Record<string, unknown> {
  const documents = invocation.emf.filter((d) => JSON.stringify(d._aws.CloudWatchMetrics[0]!.Dimensions) === '[["Cluster"]]');
  expect(documents, 'exactly one run-level EMF document').toHaveLength(1);
  return documents[0]!;
}

describe(`dist/handler.mjs on ${NODE === process.execPath ? `this Node (${process.version})` : NODE}`, () => {
  it('authenticates with an IAM token, cleans the orphans, deletes their keys, and reports as the contract says', async () => {
    // Act
    const run = await invoke({ version: '0', id: 'e2e', 'detail-type': 'Scheduled Event', source: 'aws.events', time: new Date().toISOString(), detail: {} });

    // Assess: the Node that ran it (CI runs this file again under Node 24)
    if (process.env.LAB_RECONCILER_EXPECT_NODE) expect(run.node).toMatch(new RegExp(`^v${process.env.LAB_RECONCILER_EXPECT_NODE}\\.`));
    // Assess: the summary
    expect(run.error).toBeUndefined();
    const summary = run.result!;
    expect(Object.keys(summary).sort()).toEqual(['dryRun', 'durationMs', 'leakedDeployments', 'namespaces', 'sessions', 'staleSessionKeys', 'startedAt', 'status', 'totals', 'warnings']);
    expect(summary).toMatchObject({
      status: 'ok',
      dryRun: false,
      totals: {
        namespacesChecked: 2, servicesChecked: 3, orphanedFound: 2, cleanedUp: 2, spared: 0, resourcesDeleted: 6, sessionKeysDeleted: 2, errors: 0,
        staleSessionKeys: 1, staleSessionKeysDeleted: 0, leakedDeployments: 1,
      },
    });
    // The default RECONCILIATION_STALE_KEYS=report: found and reported, never deleted
    expect(summary.staleSessionKeys).toEqual([{ key: 'lab_session:ghost', sessionId: 'ghost', action: 'reported', reason: 'no-resources', firstSeenAt: expect.any(String) }]);
    // First seen by this run: its sighting is recorded now, for a later run to confirm
    expect(Date.parse(summary.staleSessionKeys[0]!.firstSeenAt!)).toBeGreaterThanOrEqual(Date.parse(summary.startedAt));
    expect(String(await direct.call('GET', 'lab-reconciler:sighting:key:ghost'))).toMatch(/^\d+:[0-9a-f]{40}$/);
    expect(String(await direct.call('GET', 'lab_session:ghost'))).toBe('{"user":"bob"}');
    expect(summary.leakedDeployments).toEqual([{ namespace: 'ubuntu-lab', labType: 'ubuntu', sessionId: 'leak', name: 'ubuntu-lab-leak', ageSeconds: expect.any(Number) }]);
    expect(names(server, 'Deployment', 'ubuntu-lab')).toEqual(['ubuntu-lab-leak']);
    expect(summary.sessions.map((s) => [s.namespace, s.labType, s.sessionId, s.action, s.reason, s.sessionKey])).toEqual([
      ['jupyter-lab', 'jupyter', 'dead1', 'cleaned', 'no-deployment', 'deleted'],
      ['ubuntu-lab', 'ubuntu', 'dead2', 'cleaned', 'no-deployment', 'deleted'],
    ]);
    // Assess: the cluster and the store, from their own state
    expect(names(server, 'Service', 'jupyter-lab')).toEqual(['jupyter-service-live']);
    expect(names(server, 'Ingress', 'ubuntu-lab')).toEqual([]);
    expect(String(await direct.call('GET', 'lab_session:live'))).toBe('{"user":"ada"}');
    expect(await direct.call('GET', 'lab_session:dead1')).toBeNull();
    // Assess: every request carried a valid IAM token for this cluster; DescribeCluster once
    expect(rejectedTokens).toEqual([]);
    expect(server.requests.length).toBeGreaterThan(0);
    expect(server.requests.every((r) => r.token?.startsWith('k8s-aws-v1.'))).toBe(true);
    expect(eks.requests).toEqual([`GET /clusters/${CLUSTER}`]);
    // Assess: the metrics, in EMF
    const metrics = runMetrics(run);
    const definition = (metrics as unknown as EmfDocument)._aws.CloudWatchMetrics[0]!;
    expect(definition.Namespace).toBe('LabReconciler');
    expect(definition.Metrics.map((m) => m.Name).sort()).toEqual([...RUN_METRICS].sort());
    expect(definition.Metrics.every((m) => m.Unit === (m.Name === 'DurationMs' ? 'Milliseconds' : 'Count'))).toBe(true);
    expect(metrics).toMatchObject({ Cluster: CLUSTER, RunsCompleted: 1, SessionsCleaned: 2, ResourcesDeleted: 6, SessionKeysDeleted: 2, Errors: 0, CircuitBreakerOpen: 0 });
    expect(metrics).toMatchObject({ StaleSessionKeys: 1, StaleSessionKeysDeleted: 0, LeakedDeployments: 1 });
    const perNamespace = run.emf.filter((d) => JSON.stringify(d._aws.CloudWatchMetrics[0]!.Dimensions) === '[["Cluster","Namespace"]]');
    expect(perNamespace.map((d) => [d.Namespace, d.SessionsCleaned, d.LeakedDeployments])).toEqual([['jupyter-lab', 1, 0], ['ubuntu-lab', 1, 1]]);
    // Assess: a JSON log line per action, with the request id
    const deleted = run.lines.find((l) => l.message === 'Deleted Service jupyter-lab/jupyter-service-dead1');
    expect(deleted).toMatchObject({ level: 'INFO', function_request_id: 'e2e-request-0001', namespace: 'jupyter-lab', sessionId: 'dead1' });
    expect(run.lines.some((l) => l.message === 'Deleted session key lab_session:dead2')).toBe(true);
  });

  it('archives each cleaned session to ARCHIVE_BUCKET (S3) before deleting it, and names the record in the summary', async () => {
    // Act: as the stack deploys it, with the bucket's name in ARCHIVE_BUCKET
    const run = await invoke({}, { ARCHIVE_BUCKET: BUCKET, AWS_ENDPOINT_URL_S3: moto.url });
    // Assess
    expect(run.error).toBeUndefined();
    const summary = run.result!;
    expect(summary.status).toBe('ok');
    expect(summary.warnings.filter((w) => w.includes('archive'))).toEqual([]);
    const records = await archived();
    const key = (ns: string, id: string, lab: string) => `${ns}/${id}/${summary.startedAt}-${lab}.json`;
    expect([...records.keys()].sort()).toEqual([key('jupyter-lab', 'dead1', 'jupyter'), key('ubuntu-lab', 'dead2', 'ubuntu')]);
    expect(summary.sessions.map((s) => s.archive)).toEqual([`s3://${BUCKET}/${key('jupyter-lab', 'dead1', 'jupyter')}`, `s3://${BUCKET}/${key('ubuntu-lab', 'dead2', 'ubuntu')}`]);
    const record = records.get(key('jupyter-lab', 'dead1', 'jupyter'))!;
    expect(record).toMatchObject({ version: 1, runStartedAt: summary.startedAt, cluster: CLUSTER, namespace: 'jupyter-lab', labType: 'jupyter', sessionId: 'dead1', reason: 'no-deployment' });
    expect((record.resources as { kind: string; metadata: { name: string } }[]).map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'ConfigMap/jupyter-config-dead1', 'Ingress/jupyter-ingress-dead1', 'Service/jupyter-service-dead1',
    ]);
    expect(record.sessionKey).toEqual({ key: 'lab_session:dead1', type: 'string', value: '{"user":"ada"}', pttlMs: -1 });
    expect(await direct.call('GET', 'lab_session:dead1')).toBeNull();
    expect(run.lines.some((l) => typeof l.message === 'string' && l.message.startsWith(`Archived session jupyter-lab/jupyter/dead1 to s3://${BUCKET}/`))).toBe(true);
  });

  it('deletes nothing of a session whose record the bucket refuses, and says archive-failed', async () => {
    // Act: a bucket that does not exist (deleted by hand, or a wrong name)
    const run = await invoke({}, { ARCHIVE_BUCKET: 'lab-reconciler-no-such-bucket', AWS_ENDPOINT_URL_S3: moto.url });
    // Assess
    const summary = run.result!;
    expect(summary.status).toBe('partial');
    expect(summary.sessions.map((s) => [s.sessionId, s.action, s.reason, s.sessionKey])).toEqual([
      ['dead1', 'failed', 'archive-failed', 'pending'],
      ['dead2', 'failed', 'archive-failed', 'pending'],
    ]);
    expect(summary.sessions[0]!.error).toMatch(/could not write the archive record jupyter-lab\/dead1\/.+-jupyter\.json to s3:\/\/lab-reconciler-no-such-bucket, so nothing was deleted: NoSuchBucket \(HTTP 404\)/);
    expect(summary.totals).toMatchObject({ cleanedUp: 0, resourcesDeleted: 0, sessionKeysDeleted: 0, errors: 2 });
    expect(names(server, 'Service', 'jupyter-lab')).toEqual(['jupyter-service-dead1', 'jupyter-service-live']);
    expect(String(await direct.call('GET', 'lab_session:dead1'))).toBe('{"user":"ada"}');
    expect(runMetrics(run)).toMatchObject({ Errors: 2, SessionsCleaned: 0 });
  });

  it('narrows a run with an ad hoc event: a dry run of one namespace', async () => {
    // Act
    const run = await invoke({ dryRun: true, namespaces: ['ubuntu-lab'], maxDeletions: 10 });

    // Assess
    expect(run.result).toMatchObject({ status: 'ok', dryRun: true, totals: { namespacesChecked: 1, orphanedFound: 1, resourcesDeleted: 0 } });
    expect(run.result!.sessions[0]).toMatchObject({ sessionId: 'dead2', action: 'would-clean' });
    expect(server.requests.filter((r) => r.verb === 'delete').every((r) => r.query.dryRun === 'All')).toBe(true);
    expect(server.requests.some((r) => r.namespace === 'jupyter-lab')).toBe(false);
    expect(names(server, 'Service', 'ubuntu-lab')).toEqual(['ubuntu-service-dead2']);
    // A narrowed run judges no key: it cannot know the other namespaces' sessions
    expect(run.result).toMatchObject({ staleSessionKeys: [], leakedDeployments: [] });
    expect(run.result!.warnings.join('\n')).toMatch(/The run was narrowed to ubuntu-lab: session keys are judged only by a run over the whole allowlist/);
  });

  const badEvents: [string, unknown, RegExp][] = [
    ['an unknown field', { dryRun: true, force: true }, /Unknown event field "force"/],
    ['a wrong type', { dryRun: 'yes' }, /dryRun must be true or false, got the string "yes"/],
    ['a namespace outside the allowlist', { namespaces: ['kube-system'] }, /namespaces\[0\] the string "kube-system" is not in the allowlist/],
    ['an empty namespace list', { namespaces: [] }, /namespaces must name at least one namespace/],
    ['a huge array', { namespaces: Array.from({ length: 5000 }, () => 'jupyter-lab') }, /namespaces has 5000 entries/],
    ['a bad cap', { maxDeletions: 0 }, /maxDeletions must be a whole number from 1 to 100000, got number 0/],
    ['a prototype-pollution key', JSON.parse('{"__proto__": {"dryRun": false}}'), /Unknown event field "__proto__"/],
    ['a string', 'run please', /must be a JSON object/],
    ['an array', [{ dryRun: true }], /must be a JSON object.*an array/],
  ];
  it.each(badEvents)('rejects %s, naming it, before any request', async (_name, event, message) => {
    // Act
    const run = await invoke(event);

    // Assess
    expect(run.result).toBeUndefined();
    expect(run.error).toMatchObject({ name: 'EventError' });
    expect(run.error!.message).toMatch(message);
    expect(server.requests).toHaveLength(0);
    expect(eks.requests).toHaveLength(0);
    expect(bridge.commands).toHaveLength(0);
  });

  it.each([
    [{ RECONCILIATION_MAX_DELETIONS: '-3' }, /RECONCILIATION_MAX_DELETIONS: must be a whole number from 1 to 100000, got "-3"/],
    [{ ARCHIVE_BUCKET: 's3://lab-archive' }, /ARCHIVE_BUCKET: must be an S3 bucket name .*, got "s3:\/\/lab-archive"/],
    // A directory in a Lambda would vanish with its execution environment, and the records with it
    [{ ARCHIVE_DIR: '/tmp/archive' }, /ARCHIVE_DIR: is for the command line; the Lambda archives to ARCHIVE_BUCKET/],
  ])('fails with the variable named, and metrics still emitted, on bad configuration (%j)', async (env, message) => {
    // Act
    const run = await invoke({}, env);

    // Assess
    expect(run.error!.message).toMatch(message);
    expect(runMetrics(run)).toMatchObject({ Errors: 1, RunsCompleted: 1 });
    expect(server.requests).toHaveLength(0);
  });

  const failures: [string, () => void, Record<string, string>, RegExp][] = [
    ['DescribeCluster failing', () => (eks.failWith = { status: 500, type: 'ServerException', message: 'EKS is having a bad day' }), {}, /DescribeCluster lab-e2e failed/],
    // Signed with another secret key, the token fails the API server's signature check.
    ['the token rejected (401)', () => {}, { AWS_SECRET_ACCESS_KEY: 'not-the-key' }, /HTTP 401/],
    ['SSM failing', () => {}, { UPSTASH_REDIS_REST_TOKEN_PARAMETER: '/lab-reconciler/e2e/missing' }, /SSM parameter \/lab-reconciler\/e2e\/missing/],
  ];
  it.each(failures)('reports %s as status failed, with a clear message and metrics, deleting nothing', async (_name, arrange, env, message) => {
    // Prepare
    arrange();

    // Act
    const run = await invoke({}, env);

    // Assess
    expect(run.error).toBeUndefined();
    expect(run.result!.status).toBe('failed');
    expect(JSON.stringify(run.result)).toMatch(message);
    expect(runMetrics(run)).toMatchObject({ RunsCompleted: 1, SessionsCleaned: 0, ResourcesDeleted: 0 });
    expect(runMetrics(run).Errors).toBe(run.result!.totals.errors);
    expect(run.result!.totals.errors).toBeGreaterThan(0);
    expect(server.countRequests({ verb: 'delete' })).toBe(0);
    expect(names(server, 'Service', 'ubuntu-lab')).toEqual(['ubuntu-service-dead2']);
    expect(String(await direct.call('GET', 'lab_session:dead1'))).toBe('{"user":"ada"}');
  });

  it('starts no deletion when too little time is left before the deadline, and says what it did not reach', async () => {
    // Act: 20 s left, less than the margin kept back.
    const run = await invoke({}, { E2E_REMAINING_MS: '20000' });

    // Assess
    expect(run.result!.status).toBe('partial');
    expect(run.result!.sessions.map((s) => [s.sessionId, s.action, s.reason])).toEqual([
      ['dead1', 'failed', 'deadline'],
      ['dead2', 'failed', 'deadline'],
    ]);
    expect(server.countRequests({ verb: 'delete' })).toBe(0);
  });
});
