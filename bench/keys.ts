/**
 * The cost of reading the session keys (`npm run bench -- --only keys`): what the "both
 * directions" read adds to a run with a session store. A private redis-server
 * (test/support/redis-server.ts) behind the Upstash REST bridge (test/support/upstash-bridge.ts)
 * holds session keys for the cluster's sessions, some stale keys, and several times more keys
 * of other applications (`cache:*`, `user:*`, ...). The product runs twice per row, each in a
 * child process (bench/keys-child.ts) with its real `UpstashSessionStore`: with
 * `RECONCILIATION_STALE_KEYS=off` (no scan) and `report` (the default: SCAN, the stale keys'
 * sightings, the sightings forgotten). The bridge's log counts the HTTP requests of each run
 * by command; the difference is what the read adds. The scan is timed inside the run, and once
 * more alone.
 *
 * SCAN's COUNT is a hint of how much of the keyspace one call walks, not of how many keys it
 * returns: redis collects the keys of the hash table's buckets until it has about COUNT of
 * them, THEN drops those that do not match (redis.io: "the MATCH filter is applied after
 * elements are retrieved"). So the pages, and the requests, follow the keyspace, not the
 * session keys; the row without unrelated keys shows it.
 */
import { startKubeApiServer } from '../test/support/kube-api-server.js';
import type { KubeApiServer } from '../test/support/kube-api-server.js';
import { seedSession } from '../test/support/lab.js';
import { startRedisServer } from '../test/support/redis-server.js';
import { RespClient } from '../test/support/resp-client.js';
import type { RecordedRequest } from '../test/support/upstash-bridge.js';
import { UpstashBridge } from '../test/support/upstash-bridge.js';
import { SCAN_COUNT } from '../src/adapters/upstash.js';
import type { StaleKeysMode } from '../src/core/keys.js';
import { spawnEntry } from './fork.js';
import type { KeysJob, KeysReport } from './keys-child.js';
import { LAB_NAMESPACES } from './scenarios.js';
import { labTypeOf } from './seed.js';
import { line, ms } from './table.js';

/** The name `--only` knows this bench by. */
export const KEYS_SCENARIO = 'keys';

/** The product's default SESSION_KEY_PREFIX, which the child's configuration keeps. */
const PREFIX = 'lab_session:';

/** One row: how many keys of each sort the store holds. */
export interface KeysCase {
  name: string;
  label: string;
  /** Keys under the session prefix: the live sessions' and the stale ones. */
  sessionKeys: number;
  /** Of those, keys whose session has no resource in the cluster. */
  staleKeys: number;
  /** Keys of other applications, not under the prefix. */
  unrelatedKeys: number;
}

/** Stale keys: 1% of the session keys, at least one. */
const staleShare = (sessionKeys: number) => Math.max(1, Math.round(sessionKeys / 100));
const count = (n: number) => n.toLocaleString('en-US');

/**
 * The rows: each size with `unrelatedPerKey` unrelated keys per session key, then (unless that
 * is 0 already) the second size with none, to show what the pages follow.
 */
export function keysCases(sizes: readonly number[], unrelatedPerKey: number): KeysCase[] {
  const of = (sessionKeys: number, perKey: number): KeysCase => {
    const unrelatedKeys = sessionKeys * perKey;
    return {
      name: `keys-${sessionKeys}${perKey === unrelatedPerKey ? '' : `-x${perKey}`}`,
      label: `${count(sessionKeys)} session keys${unrelatedKeys > 0 ? ` + ${count(unrelatedKeys)} unrelated` : ', no other key'}`,
      sessionKeys,
      staleKeys: staleShare(sessionKeys),
      unrelatedKeys,
    };
  };
  const rows = sizes.map((n) => of(n, unrelatedPerKey));
  const control = sizes[Math.min(1, sizes.length - 1)];
  if (unrelatedPerKey > 0 && control !== undefined) rows.push(of(control, 0));
  return rows;
}

/** The HTTP requests of one run to the store, as the bridge received them. */
export interface StoreRequests {
  /** HTTP requests (a pipeline is one). */
  total: number;
  /** Requests that carried a SCAN: one per page. */
  scan: number;
  /** Commands in all (a pipeline carries several). */
  commands: number;
  /** Requests by what they carried (see {@link requestLabel}), e.g. `SCAN`, `EVAL key-sightings`. */
  byCommand: Record<string, number>;
}

export interface KeysRunFigures {
  requests: StoreRequests;
  /** The run's wall time, and the child's CPU time over it. */
  wallMs: number;
  cpuMs: number;
  /** `scanSessionKeys` inside the run; undefined when not called. */
  scanMs: number | undefined;
  /** DBSIZE just before the run. */
  keyspace: number;
}

export interface KeysRow {
  case: KeysCase;
  off: KeysRunFigures;
  report: KeysRunFigures;
  /** The scan alone, in a child of its own: no lists beside it. */
  scanAlone: KeysRunFigures;
  /** What `report` sent beyond `off`. */
  added: {
    total: number;
    scan: number;
    /** The rest: the stale keys' sightings (one EVAL per 100), the sightings' index read (SMEMBERS), and what is forgotten. */
    other: number;
    perThousandSessionKeys: number;
    /** SCAN pages per 1,000 keys of the keyspace: 1 when a page walks COUNT (1,000) keys. */
    scanPerThousandKeyspace: number;
  };
}

export interface KeysOptions {
  latencyMs: number;
  concurrency: number;
  pageSize: number | undefined;
  progress: (line: string) => void;
}

const SHORT: Readonly<Record<string, string>> = {
  'lab-reconciler:lock': 'lock',
  'lab-reconciler:key-sightings': 'key-sightings',
  'lab-reconciler:pending-session-keys': 'pending-keys',
};
/** A key as the counts name it: the product's own by their role, a stale key's sighting, an orphan's, or any other (`keys`). */
function short(key: string | undefined): string {
  if (key === undefined) return '';
  if (SHORT[key]) return SHORT[key];
  if (key.startsWith('lab-reconciler:sighting:key:')) return 'key-sighting';
  return key.startsWith('lab-reconciler:sighting:') ? 'sightings' : 'keys';
}

/** What a command is, for the counts: its name, and for scripts and sets the key they work on. */
function commandLabel(command: readonly string[]): string {
  const [name = '', ...args] = command;
  if (name === 'EVAL' || name === 'EVALSHA') return Number(args[1]) > 0 ? `${name} ${short(args[2])}` : name;
  if (name === 'SMEMBERS' || name === 'SADD' || name === 'SREM' || name === 'SET' || name === 'GET') return `${name} ${short(args[0])}`;
  if (name === 'DEL') return `DEL ${short(args[0])}`;
  return name;
}

/** What one request carried: its commands' labels, each once, in order. */
export function requestLabel(request: Pick<RecordedRequest, 'commands'>): string {
  return [...new Set(request.commands.map(commandLabel))].join(' + ');
}

/** Counts a run's requests from the bridge's log. */
export function countRequests(requests: readonly Pick<RecordedRequest, 'commands'>[]): StoreRequests {
  const byCommand: Record<string, number> = {};
  let scan = 0;
  let commands = 0;
  for (const request of requests) {
    const label = requestLabel(request);
    byCommand[label] = (byCommand[label] ?? 0) + 1;
    if (request.commands.some((c) => c[0] === 'SCAN')) scan += 1;
    commands += request.commands.length;
  }
  return { total: requests.length, scan, commands, byCommand };
}

/**
 * The cluster of a row: its live sessions (Deployment, Service with a ready EndpointSlice,
 * Ingress, ConfigMap, the tests' small objects: the lists are not what is measured here),
 * round-robin over the four lab namespaces, each with an id of its own.
 */
function seedCluster(server: KubeApiServer, row: KeysCase, now: number): void {
  server.clear();
  for (let n = 0; n < row.sessionKeys - row.staleKeys; n++) {
    const namespace = LAB_NAMESPACES[n % LAB_NAMESPACES.length]!;
    seedSession(server, namespace, labTypeOf(namespace), `s${n}`, { deployment: true, now, shape: 'small' });
  }
}

const UNRELATED = ['cache:page:/courses/', 'user:', 'rate:ip:10.0.', 'bull:mail:'] as const;

/** Every key of a row: the live sessions' keys, the stale ones, the other applications'. */
function* keysOf(row: KeysCase): Generator<[string, string]> {
  const live = row.sessionKeys - row.staleKeys;
  for (let n = 0; n < live; n++) {
    const namespace = LAB_NAMESPACES[n % LAB_NAMESPACES.length]!;
    yield [`${PREFIX}s${n}`, JSON.stringify({ user: `user${n}`, namespace, labType: labTypeOf(namespace), startedAt: '2026-11-26T10:00:00Z' })];
  }
  for (let n = 0; n < row.staleKeys; n++) yield [`${PREFIX}gone${n}`, JSON.stringify({ user: `user${n}`, namespace: 'jupyter-lab', labType: 'jupyter', startedAt: '2026-11-20T10:00:00Z' })];
  for (let n = 0; n < row.unrelatedKeys; n++) {
    const kind = UNRELATED[n % UNRELATED.length]!;
    yield [`${kind}${n}${kind === 'user:' ? ':profile' : ''}`, `{"v":${n},"at":"2026-11-26T10:00:00Z"}`];
  }
}

/** Empties redis and writes the row's keys, 1,000 a MSET, 20 MSETs a write. */
async function seedKeys(direct: RespClient, row: KeysCase): Promise<void> {
  await direct.call('FLUSHALL');
  let batch: string[][] = [];
  let mset: string[] = ['MSET'];
  const flush = async () => {
    const replies = await direct.batch(batch);
    const bad = replies.find((r) => String(r) !== 'OK');
    if (bad !== undefined) throw new Error(`MSET answered ${String(bad)}`);
    batch = [];
  };
  for (const [key, value] of keysOf(row)) {
    mset.push(key, value);
    if (mset.length > 2_000) {
      batch.push(mset);
      mset = ['MSET'];
      if (batch.length >= 20) await flush();
    }
  }
  if (mset.length > 1) batch.push(mset);
  if (batch.length > 0) await flush();
}

async function dbsize(direct: RespClient): Promise<number> {
  return Number(await direct.call('DBSIZE'));
}

interface Hosts {
  server: KubeApiServer;
  bridge: UpstashBridge;
  direct: RespClient;
}

/** One child: a run (or the scan alone) with `staleKeys`; its figures and the bridge's log of it. */
async function runChild(hosts: Hosts, row: KeysCase, mode: KeysJob['mode'], staleKeys: StaleKeysMode, options: KeysOptions): Promise<{ figures: KeysRunFigures; report: Extract<KeysReport, { ok: true }> }> {
  const { server, bridge, direct } = hosts;
  const keyspace = await dbsize(direct);
  bridge.reset();
  // The same latency as the API server's, before every answer of the store.
  if (options.latencyMs > 0) bridge.fail({ latencyMs: options.latencyMs, times: Infinity });
  server.latencyMs = options.latencyMs;
  server.clearRequests();
  const job: KeysJob = {
    mode,
    kubeconfig: server.kubeconfig(),
    namespaces: LAB_NAMESPACES,
    concurrency: options.concurrency,
    pageSize: options.pageSize,
    staleKeys,
    storeUrl: bridge.url,
    storeToken: bridge.token,
  };
  const { report, code, signal } = await spawnEntry<KeysReport>('keys-child', job);
  if (!report) throw new Error(`The keys child (${mode}, ${staleKeys}) exited without a report (code ${code}, signal ${signal})`);
  if (!report.ok) throw new Error(`The keys child (${mode}, ${staleKeys}) failed:\n${report.error}`);
  const requests = countRequests(bridge.requests);
  // Nothing is deleted: no orphans, and stale keys are reported, never deleted, in report mode.
  const deletes = server.requests.filter((r) => r.verb === 'delete').length;
  bridge.reset();
  server.clearRequests();
  if (deletes > 0) throw new Error(`The ${staleKeys} run deleted ${deletes} resources`);
  return { figures: { requests, wallMs: report.wallMs, cpuMs: report.cpuMs, scanMs: report.scanMs, keyspace }, report };
}

/** Checks what a run found against what was seeded; throws on a difference. */
function check(row: KeysCase, staleKeys: StaleKeysMode, report: Extract<KeysReport, { ok: true }>, requests: StoreRequests): void {
  const where = `${row.name}, ${staleKeys}`;
  if (staleKeys === 'off') {
    if (report.keysRead !== undefined || requests.scan > 0) throw new Error(`${where}: the keys were read (${requests.scan} SCAN requests)`);
  } else if (report.keysRead !== row.sessionKeys) {
    throw new Error(`${where}: the scan read ${report.keysRead} keys of ${row.sessionKeys} under ${PREFIX}`);
  }
  const outcome = report.outcome;
  if (!outcome) return;
  const stale = staleKeys === 'off' ? 0 : row.staleKeys;
  if (outcome.errors > 0 || outcome.staleSessionKeys !== stale || outcome.leakedDeployments !== 0) {
    throw new Error(`${where}: ${outcome.status}, ${outcome.errors} errors, ${outcome.staleSessionKeys} stale keys (seeded ${stale}), ${outcome.leakedDeployments} leaked Deployments: ${outcome.warnings.join('; ')}`);
  }
}

/** Seeds one row, runs `off`, `report` and the scan alone, and checks each. */
async function measureCase(hosts: Hosts, row: KeysCase, options: KeysOptions): Promise<KeysRow> {
  options.progress(`${row.label}: seeding...`);
  await seedKeys(hosts.direct, row);
  seedCluster(hosts.server, row, Date.now());
  const figures: Partial<Record<'off' | 'report' | 'scanAlone', KeysRunFigures>> = {};
  for (const [key, mode, staleKeys] of [
    ['off', 'run', 'off'],
    ['report', 'run', 'report'],
    ['scanAlone', 'scan', 'report'],
  ] as const) {
    const { figures: run, report } = await runChild(hosts, row, mode, staleKeys, options);
    check(row, staleKeys, report, run.requests);
    figures[key] = run;
  }
  const { off, report, scanAlone } = figures as Record<'off' | 'report' | 'scanAlone', KeysRunFigures>;
  options.progress(
    `${row.label}: ${report.requests.scan} SCAN pages, ${report.requests.total - off.requests.total} requests added; scan ${ms(report.scanMs ?? 0)} in the run, ${ms(scanAlone.scanMs ?? 0)} alone`,
  );
  const total = report.requests.total - off.requests.total;
  const scan = report.requests.scan - off.requests.scan;
  hosts.server.clear();
  return {
    case: row,
    off,
    report,
    scanAlone,
    added: {
      total,
      scan,
      other: total - scan,
      perThousandSessionKeys: (total * 1_000) / row.sessionKeys,
      scanPerThousandKeyspace: (report.requests.scan * 1_000) / report.keyspace,
    },
  };
}

/** Runs the rows on one redis-server, one bridge and one API server, all closed afterwards. */
export async function runKeysBench(cases: readonly KeysCase[], options: KeysOptions): Promise<KeysRow[]> {
  const redis = await startRedisServer();
  const closers: Array<() => Promise<void>> = [() => redis.stop()];
  try {
    const server = await startKubeApiServer();
    closers.unshift(() => server.close());
    const bridge = await UpstashBridge.start({ redisPort: redis.port });
    closers.unshift(() => bridge.close());
    const direct = await RespClient.connect(redis.port);
    closers.unshift(() => direct.close());
    const rows: KeysRow[] = [];
    for (const row of cases) rows.push(await measureCase({ server, bridge, direct }, row, options));
    return rows;
  } finally {
    for (const close of closers) await close();
  }
}

const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

/** The table: one row per case. */
export function renderKeys(rows: readonly KeysRow[]): string {
  const header = [
    'store',
    'keyspace',
    'SCAN pages',
    'keys walked per page',
    'other requests added',
    'requests: off',
    'report',
    'added',
    'added per 1,000 session keys',
    'SCAN pages per 1,000 keys of the keyspace',
    'scan: in the run',
    'alone',
    'alone, per page',
    'run wall: off',
    'report',
  ];
  const out = [line(header), line(header.map((_, i) => (i === 0 ? '---' : '---:')))];
  for (const { case: row, off, report, scanAlone, added } of rows) {
    out.push(
      line([
        `${row.label} (${count(row.staleKeys)} stale)`,
        count(report.keyspace),
        count(report.requests.scan),
        count(Math.round(report.keyspace / Math.max(1, report.requests.scan))),
        count(added.other),
        count(off.requests.total),
        count(report.requests.total),
        count(added.total),
        fixed(added.perThousandSessionKeys, 2),
        fixed(added.scanPerThousandKeyspace, 2),
        report.scanMs === undefined ? '-' : ms(report.scanMs),
        scanAlone.scanMs === undefined ? '-' : ms(scanAlone.scanMs),
        `${fixed((scanAlone.scanMs ?? Number.NaN) / Math.max(1, scanAlone.requests.scan), 1)} ms`,
        ms(off.wallMs),
        ms(report.wallMs),
      ]),
    );
  }
  return out.join('\n');
}

/** Under the table: every run's requests by what they carried. */
export function renderKeysNotes(rows: readonly KeysRow[], latencyMs: number): string {
  const by = (r: StoreRequests) =>
    Object.entries(r.byCommand)
      .map(([label, n]) => `${label} ${n}`)
      .join(', ');
  const notes = [
    `SCAN ... MATCH ${PREFIX}* COUNT ${SCAN_COUNT}, one request per page; ${latencyMs} ms of latency before every answer of the store and of the API server; the cluster's sessions are small objects. ` +
      `"keys walked per page": the keyspace (DBSIZE before the run; the run's lock is one more key) over the pages. "other requests added": the stale keys' sightings (one EVAL per 100 stale keys) and their index (SMEMBERS, and a DEL + SREM pipeline when some are forgotten). ` +
      'One run of each (--repeat, --objects and --envelope are the scenarios\' only).',
  ];
  for (const { case: row, off, report, scanAlone } of rows) {
    notes.push(`  ${row.name}: off: ${by(off.requests)} (${off.requests.commands} commands)`);
    notes.push(`  ${row.name}: report: ${by(report.requests)} (${report.requests.commands} commands)`);
    notes.push(
      `  ${row.name}: the scan returned ${count(row.sessionKeys)} session keys in ${report.requests.scan} pages (${count(Math.round(row.sessionKeys / Math.max(1, report.requests.scan)))} a page); ` +
        `alone: ${scanAlone.requests.scan} pages in ${ms(scanAlone.scanMs ?? 0)}, client CPU ${ms(scanAlone.cpuMs)}; runs' client CPU: off ${ms(off.cpuMs)}, report ${ms(report.cpuMs)}`,
    );
  }
  return notes.join('\n');
}
