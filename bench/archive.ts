/**
 * The archive's cost (`npm run bench -- --only archive`): what archiving each session before
 * its first delete adds to a run that cleans N sessions. Per row, the same cluster (4 lab
 * namespaces of production-shaped live sessions, N orphans, min-age 0, confirm 0) and the
 * same store (every session's key, a JSON value of a few KB) are cleaned by the product three
 * ways, each run in a child process (bench/archive-child.ts) with its real session store:
 *
 * - `off`: no archive;
 * - `dir`: the command line's DirectoryArchive (`ARCHIVE_DIR`, a temporary directory);
 * - `s3`: the Lambda's S3Archive (`ARCHIVE_BUCKET`), its client made by createS3Client, pointed
 *   by `AWS_ENDPOINT_URL_S3` at a moto server (test/support/moto.ts) through a proxy that adds
 *   the same latency as the API server's and the store's and counts the requests.
 *
 * The API server's log counts the Kubernetes requests by verb, the Upstash bridge's the store's
 * requests and commands, the proxy the S3 requests. The bench checks that each archiving run
 * adds, per cleaned session, exactly three GETs, one key read (EVAL_RO) and one write, and
 * nothing else; that the records are where the archive says (files, objects) with the bytes
 * written; and that every run cleaned exactly the orphans.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { KubeApiServer } from '../test/support/kube-api-server.js';
import { startKubeApiServer } from '../test/support/kube-api-server.js';
import type { MotoServer } from '../test/support/moto.js';
import { startMoto } from '../test/support/moto.js';
import { startRedisServer } from '../test/support/redis-server.js';
import { RespClient } from '../test/support/resp-client.js';
import { UpstashBridge } from '../test/support/upstash-bridge.js';
import type { ArchiveJob, ArchiveReport, ArchiveVariant } from './archive-child.js';
import { seedArchiveCluster, seedArchiveKeys, seedArchiveOrphanKeys, seedArchiveOrphans, sessionsOf } from './archive-seed.js';
import { spawnEntry } from './fork.js';
import type { StoreRequests } from './keys.js';
import { countRequests, requestLabel } from './keys.js';
import type { Limit } from './limit.js';
import { limitOf } from './limit.js';
import { S3Proxy } from '../test/support/s3-proxy.js';
import type { Scenario } from './scenarios.js';
import { LAB_NAMESPACES } from './scenarios.js';
import { checkDeletes } from './seed.js';

/** The name `--only` knows this bench by. */
export const ARCHIVE_SCENARIO = 'archive';

export const VARIANTS: readonly ArchiveVariant[] = ['off', 'dir', 's3'];
export const VARIANT_LABEL: Readonly<Record<ArchiveVariant, string>> = { off: 'archive off', dir: 'directory', s3: 'S3 (moto)' };

/** The contract's default RECONCILIATION_MAX_DELETIONS, raised for a row that cleans more. */
const DEFAULT_CAP = 50;
const BUCKET = 'lab-reconciler-bench-archive';
const REGION = 'us-east-1';
/** What the moto server accepts: any credentials, none checked. */
const AWS_ENV = {
  AWS_REGION: REGION,
  AWS_ACCESS_KEY_ID: 'AKIABENCHARCHIVE0001',
  AWS_SECRET_ACCESS_KEY: 'bench/archive/secret',
  AWS_EC2_METADATA_DISABLED: 'true',
  // Node 20 here; the Lambda runs Node 24. The SDK's notice would be printed by every child.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

const count = (n: number) => n.toLocaleString('en-US');

/** The rows: N sessions to clean each, among `livePerNamespace` live sessions in each of the namespaces. */
export function archiveCases(sessions: readonly number[], livePerNamespace: number, namespaces: readonly string[] = LAB_NAMESPACES): Scenario[] {
  return sessions.map((orphans) => {
    const maxDeletions = Math.max(DEFAULT_CAP, orphans);
    return {
      name: `archive-${orphans}`,
      label: `${count(orphans)} cleaned (cap ${count(maxDeletions)}), ${namespaces.length} ns x ${count(livePerNamespace)} live`,
      namespaces: [...namespaces],
      livePerNamespace,
      orphans,
      maxDeletions,
    };
  });
}

/** One run's figures, from the logs and the child's report. */
export interface ArchiveRun {
  byVerb: { list: number; get: number; delete: number };
  kubeRequests: number;
  store: StoreRequests;
  /** The store's commands by what they are (`EVAL_RO`, `DEL keys`, ...), a pipeline's each. */
  storeCommands: Record<string, number>;
  /** HTTP requests to S3 (through the proxy), and of them PUTs, with their body bytes. */
  s3: { requests: number; puts: number; putBodyBytes: number };
  /** The records found after the run: files in the directory, or new objects in the bucket. */
  records: { count: number; bytes: number };
  /** The page size the product listed with (the limit's). */
  pageSize: number;
  report: Extract<ArchiveReport, { ok: true }>;
}

/** What an archiving variant adds per cleaned session to the `off` run, and whether it is the contract's. */
export interface ArchiveCheck {
  holds: boolean;
  /** Added per cleaned session: GETs, key reads (EVAL_RO commands), archive writes, and the store's other commands. */
  perSession: { get: number; keyReads: number; writes: number; otherStoreCommands: number };
  /** What was added besides (lists, deletes, other store commands, S3 requests other than the PUTs); empty when it holds. */
  otherChanges: string[];
  /**
   * Store commands of one kind exchanged for as many of another (e.g. the key's DEL for a
   * delete conditional on the archived value): not an added request, said beside the check.
   */
  replaced: string[];
}
export interface ArchiveVariantFigures {
  variant: ArchiveVariant;
  /** The run with the median wall time (requests are checked equal across runs where they must be). */
  median: ArchiveRun;
  runs: ArchiveRun[];
  wallMs: number;
  applyMs: number;
  sessionsMs: number;
  /** Requests of every kind: Kubernetes, the store's HTTP requests, and the archive's (S3 requests, or files written). */
  totalRequests: number;
  /** Against the `off` run; undefined for `off`. */
  check: ArchiveCheck | undefined;
}

export interface ArchiveRow {
  scenario: Scenario;
  /** Mean bytes of an orphan's session key value. */
  keyValueBytes: number;
  variants: ArchiveVariantFigures[];
  /** The limit (bench/limit.ts: the lists' pages and three deletes per session) without the archive, and with it. */
  limit: { off: Limit; onRequests: number };
}

export interface ArchiveOptions {
  latencyMs: number;
  concurrency: number;
  pageSize: number | undefined;
  /** Runs of each variant, interleaved (off, dir, s3, off, ...) after one `off` run whose figures are dropped; the median wall time is reported. */
  repeat: number;
  progress: (line: string) => void;
}

interface Hosts {
  server: KubeApiServer;
  bridge: UpstashBridge;
  direct: RespClient;
  moto: MotoServer;
  proxy: S3Proxy;
  s3: S3Client;
}

/** The bucket's objects now: how many, and their bytes. */
async function bucketContents(s3: S3Client): Promise<{ count: number; bytes: number }> {
  let token: string | undefined;
  const found = { count: 0, bytes: 0 };
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, ContinuationToken: token }));
    for (const object of page.Contents ?? []) {
      found.count += 1;
      found.bytes += object.Size ?? 0;
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return found;
}

/** The `.json` files below a directory: how many, and their bytes. */
function directoryContents(dir: string): { count: number; bytes: number } {
  const found = { count: 0, bytes: 0 };
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    if (!entry.name.endsWith('.json')) throw new Error(`The archive directory holds ${entry.name}, not a record (a temporary file left behind?)`);
    found.count += 1;
    found.bytes += statSync(join(entry.parentPath, entry.name)).size;
  }
  return found;
}

/** One run of one variant: the orphans (and their keys) seeded again, the child, the logs read and checked. */
async function runVariant(hosts: Hosts, scenario: Scenario, variant: ArchiveVariant, options: ArchiveOptions, expected: Set<string>): Promise<ArchiveRun> {
  const { server, bridge, direct, proxy, s3 } = hosts;
  const { live, orphans } = sessionsOf(scenario);
  const keys = Number(await direct.call('DBSIZE'));
  if (keys !== live.length + orphans.length) throw new Error(`${scenario.name}: the store holds ${keys} keys before the ${variant} run, not ${live.length + orphans.length}`);
  const dir = variant === 'dir' ? mkdtempSync(join(tmpdir(), 'lab-reconciler-bench-archive-')) : undefined;
  const objectsBefore = variant === 's3' ? await bucketContents(s3) : undefined;
  const env: Record<string, string> = dir ? { ARCHIVE_DIR: dir } : variant === 's3' ? { ARCHIVE_BUCKET: BUCKET, AWS_ENDPOINT_URL_S3: proxy.url, ...AWS_ENV } : {};
  bridge.reset();
  // The same latency before every answer: the API server's, the store's, S3's.
  if (options.latencyMs > 0) bridge.fail({ latencyMs: options.latencyMs, times: Infinity });
  server.latencyMs = options.latencyMs;
  proxy.latencyMs = options.latencyMs;
  server.clearRequests();
  proxy.requests.length = 0;
  const job: ArchiveJob = {
    variant,
    kubeconfig: server.kubeconfig(),
    namespaces: scenario.namespaces,
    maxDeletions: scenario.maxDeletions,
    concurrency: options.concurrency,
    pageSize: options.pageSize,
    storeUrl: bridge.url,
    storeToken: bridge.token,
    env,
  };
  try {
    const { report, code, signal } = await spawnEntry<ArchiveReport>('archive-child', job);
    if (!report) throw new Error(`The archive child (${variant}) exited without a report (code ${code}, signal ${signal})`);
    if (!report.ok) throw new Error(`The archive child (${variant}) failed:\n${report.error}`);
    const where = `${scenario.name}, ${variant}`;
    checkDeletes(server, expected);
    const { outcome } = report;
    const archived = variant === 'off' ? 0 : scenario.orphans;
    if (outcome.cleanedUp !== scenario.orphans || outcome.errors > 0 || outcome.archived !== archived) {
      throw new Error(`${where}: cleaned ${outcome.cleanedUp} of ${scenario.orphans}, ${outcome.archived} archived, ${outcome.errors} errors (${outcome.status}): ${outcome.warnings.join('; ')}`);
    }
    const left = Number(await direct.call('DBSIZE'));
    if (left !== live.length) throw new Error(`${where}: the store holds ${left} keys after the run, not the ${live.length} live sessions' (the orphans' keys should be gone)`);
    const log = server.requests;
    const byVerb = { list: 0, get: 0, delete: 0 };
    for (const r of log) if (r.verb === 'list' || r.verb === 'get' || r.verb === 'delete') byVerb[r.verb] += 1;
    if (byVerb.list + byVerb.get + byVerb.delete !== log.length) throw new Error(`${where}: requests other than list, get and delete: ${log.length - byVerb.list - byVerb.get - byVerb.delete}`);
    const pageSizes = new Set(log.filter((r) => r.verb === 'list').map((r) => r.query.limit));
    const pageSize = [...pageSizes][0];
    if (pageSizes.size !== 1 || pageSize === undefined) throw new Error(`${where}: list requests had page sizes ${[...pageSizes].join(', ')}`);
    const storeCommands: Record<string, number> = {};
    for (const command of bridge.commands) {
      const label = requestLabel({ commands: [command] });
      storeCommands[label] = (storeCommands[label] ?? 0) + 1;
    }
    const puts = proxy.requests.filter((r) => r.method === 'PUT');
    const failedS3 = proxy.requests.filter((r) => r.status === undefined || r.status >= 300);
    if (failedS3.length > 0) throw new Error(`${where}: S3 answered ${failedS3.map((r) => `${r.method} ${r.path} ${r.status}`).slice(0, 3).join(', ')}`);
    let records = { count: 0, bytes: 0 };
    if (dir) records = directoryContents(dir);
    if (objectsBefore) {
      const after = await bucketContents(s3);
      records = { count: after.count - objectsBefore.count, bytes: after.bytes - objectsBefore.bytes };
    }
    if (records.count !== report.writes.calls || records.bytes !== report.writes.bytes) {
      throw new Error(`${where}: ${report.writes.calls} records of ${report.writes.bytes} bytes written, ${records.count} of ${records.bytes} bytes found`);
    }
    return {
      byVerb,
      kubeRequests: log.length,
      store: countRequests(bridge.requests),
      storeCommands,
      s3: { requests: proxy.requests.length, puts: puts.length, putBodyBytes: puts.reduce((sum, r) => sum + r.bodyBytes, 0) },
      records,
      pageSize,
      report,
    };
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
    bridge.reset();
    server.clearRequests();
    proxy.requests.length = 0;
  }
}

/** The archive's writes as requests: S3's on the wire, or the files written. */
const archiveRequests = (run: ArchiveRun) => (run.s3.requests > 0 ? run.s3.requests : run.report.writes.calls);
const totalOf = (run: ArchiveRun) => run.kubeRequests + run.store.total + archiveRequests(run);

/**
 * What `on` adds to `off` per cleaned session; holds when it is 3 GETs, 1 key read and 1 write,
 * and nothing else was added: the same lists and deletes, as many other store commands (of
 * whatever kind), no S3 request but the records' PUTs.
 */
export function checkAdded(off: ArchiveRun, on: ArchiveRun, sessions: number): ArchiveCheck {
  const others = (run: ArchiveRun) => Object.entries(run.storeCommands).reduce((sum, [label, n]) => sum + (label === 'EVAL_RO' ? 0 : n), 0);
  const perSession = {
    get: (on.byVerb.get - off.byVerb.get) / sessions,
    keyReads: ((on.storeCommands.EVAL_RO ?? 0) - (off.storeCommands.EVAL_RO ?? 0)) / sessions,
    writes: (on.report.writes.calls - off.report.writes.calls) / sessions,
    otherStoreCommands: (others(on) - others(off)) / sessions,
  };
  const otherChanges: string[] = [];
  const differs = (what: string, a: number, b: number) => a !== b && otherChanges.push(`${what} ${a} -> ${b}`);
  differs('list', off.byVerb.list, on.byVerb.list);
  differs('delete', off.byVerb.delete, on.byVerb.delete);
  differs('store commands other than EVAL_RO', others(off), others(on));
  // The S3 requests are the PUTs of the records, nothing else (no retry, no other call).
  differs('S3 requests other than PUT', off.s3.requests - off.s3.puts, on.s3.requests - on.s3.puts);
  if (on.s3.requests > 0) differs('S3 PUTs vs writes', on.report.writes.calls, on.s3.puts);
  const replaced: string[] = [];
  for (const label of new Set([...Object.keys(off.storeCommands), ...Object.keys(on.storeCommands)])) {
    const [a, b] = [off.storeCommands[label] ?? 0, on.storeCommands[label] ?? 0];
    if (label !== 'EVAL_RO' && a !== b) replaced.push(`${label} ${a} -> ${b}`);
  }
  const holds = perSession.get === 3 && perSession.keyReads === 1 && perSession.writes === 1 && otherChanges.length === 0;
  return { holds, perSession, otherChanges, replaced };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;

/** What must be the same in every run of a variant: the Kubernetes requests, the store's commands, the records. */
function sameEveryRun(scenario: Scenario, variant: ArchiveVariant, runs: ArchiveRun[]): void {
  const fixed = (r: ArchiveRun) => JSON.stringify([r.byVerb, Object.entries(r.storeCommands).sort(), r.report.writes.calls, r.s3.requests]);
  const seen = new Set(runs.map(fixed));
  if (seen.size !== 1) throw new Error(`${scenario.name}, ${variant}: the runs differ in requests: ${[...seen].join(' / ')}`);
}

/** Seeds one row, runs the variants `repeat` times each, interleaved, and checks them. */
async function measureCase(hosts: Hosts, scenario: Scenario, options: ArchiveOptions): Promise<ArchiveRow> {
  options.progress(`archive: ${scenario.label}: seeding...`);
  let expected = seedArchiveCluster(hosts.server, scenario);
  const keyValueBytes = await seedArchiveKeys(hosts.direct, scenario);
  const runs: Record<ArchiveVariant, ArchiveRun[]> = { off: [], dir: [], s3: [] };
  const again = async () => {
    expected = seedArchiveOrphans(hosts.server, scenario);
    await seedArchiveOrphanKeys(hosts.direct, scenario);
  };
  // One run first whose figures are dropped (still checked): the API server and the bridge,
  // fresh from the seeding, answer the first run's lists more slowly than the next ones'.
  await runVariant(hosts, scenario, 'off', options, expected);
  for (let i = 0; i < Math.max(1, options.repeat); i++) {
    for (const variant of VARIANTS) {
      await again();
      runs[variant].push(await runVariant(hosts, scenario, variant, options, expected));
    }
    options.progress(`archive: ${scenario.label}: round ${i + 1}: ${VARIANTS.map((v) => `${v} ${(runs[v].at(-1)!.report.wallMs / 1000).toFixed(2)} s`).join(', ')}`);
  }
  const variants = VARIANTS.map((variant): ArchiveVariantFigures => {
    const all = runs[variant];
    sameEveryRun(scenario, variant, all);
    const medianRun = [...all].sort((a, b) => a.report.wallMs - b.report.wallMs)[Math.floor((all.length - 1) / 2)]!;
    // Each `on` run against the `off` run of its round: every one must hold.
    const checks = variant === 'off' ? [] : all.map((run, i) => checkAdded(runs.off[i]!, run, scenario.orphans));
    const check = checks.find((c) => !c.holds) ?? checks[0];
    return {
      variant,
      median: medianRun,
      runs: all,
      wallMs: median(all.map((r) => r.report.wallMs)),
      applyMs: median(all.map((r) => r.report.applyMs)),
      sessionsMs: median(all.map((r) => r.report.sessionsMs)),
      totalRequests: totalOf(medianRun),
      check,
    };
  });
  const off = limitOf(scenario, { pageSize: variants[0]!.median.pageSize, concurrency: options.concurrency, latencyMs: options.latencyMs });
  hosts.server.clear();
  await hosts.direct.call('FLUSHALL');
  return { scenario, keyValueBytes, variants, limit: { off, onRequests: off.requests + 4 * scenario.orphans } };
}

/** Runs the rows on one API server, one redis-server and bridge, one moto and its proxy, all closed afterwards. */
export async function runArchiveBench(cases: readonly Scenario[], options: ArchiveOptions): Promise<ArchiveRow[]> {
  const closers: Array<() => Promise<void>> = [];
  try {
    const server = await startKubeApiServer();
    closers.unshift(() => server.close());
    const redis = await startRedisServer();
    closers.unshift(() => redis.stop());
    const moto = await startMoto();
    closers.unshift(() => moto.stop());
    const bridge = await UpstashBridge.start({ redisPort: redis.port });
    closers.unshift(() => bridge.close());
    const direct = await RespClient.connect(redis.port);
    closers.unshift(() => direct.close());
    const proxy = await S3Proxy.start({ target: moto.url, latencyMs: options.latencyMs });
    closers.unshift(() => proxy.close());
    // The bucket, made directly at moto (not through the proxy: its log is the runs').
    const s3 = new S3Client({ endpoint: moto.url, region: REGION, forcePathStyle: true, credentials: { accessKeyId: AWS_ENV.AWS_ACCESS_KEY_ID, secretAccessKey: AWS_ENV.AWS_SECRET_ACCESS_KEY } });
    closers.unshift(async () => s3.destroy());
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const rows: ArchiveRow[] = [];
    for (const scenario of cases) rows.push(await measureCase({ server, bridge, direct, moto, proxy, s3 }, scenario, options));
    return rows;
  } finally {
    for (const close of closers) await close();
  }
}

export { archiveRequests };
