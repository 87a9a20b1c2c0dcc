/**
 * The child process of the archive's bench (bench/archive.ts): one reconciliation by the
 * product with its real session store and, unless the variant is `off`, its real archive, as
 * src/runtime.ts builds it from the environment (`ARCHIVE_DIR` for the command line's
 * DirectoryArchive, `ARCHIVE_BUCKET` for the Lambda's S3Archive), against the API server, the
 * Upstash bridge and the S3 endpoint hosted by the parent. A process of its own per run, as
 * bench/child.ts, and a bundle of its own (it carries the S3 client).
 *
 * The product's own methods are only wrapped, to time where the run spends them: the archive's
 * writes (and their bytes), the GETs of the archive step, the key reads, and the apply phase.
 *
 * Protocol (IPC): the parent sends one {@link ArchiveJob}; the child answers one
 * {@link ArchiveReport} and exits.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { KubernetesCluster } from '../src/adapters/kubernetes.js';
import { UpstashSessionStore, createUpstashClient } from '../src/adapters/upstash.js';
import { loadConfig } from '../src/config.js';
import type { Archive } from '../src/ports.js';
import { silentLogger } from '../src/ports.js';
import { reconcile } from '../src/reconcile.js';
import { archiveFor } from '../src/runtime.js';

/** `off`: no archive; `dir`: the command line's directory; `s3`: the Lambda's bucket. */
export type ArchiveVariant = 'off' | 'dir' | 's3';

export interface ArchiveJob {
  variant: ArchiveVariant;
  kubeconfig: string;
  namespaces: string[];
  maxDeletions: number;
  concurrency: number;
  /** Items per list page; undefined keeps the product's default. */
  pageSize: number | undefined;
  /** UPSTASH_REDIS_REST_URL and _TOKEN: the parent's bridge. */
  storeUrl: string;
  storeToken: string;
  /**
   * More environment, set in this process before anything is built: `ARCHIVE_DIR`, or
   * `ARCHIVE_BUCKET` with the SDK's `AWS_ENDPOINT_URL_S3`, region and (dummy) credentials.
   */
  env: Record<string, string>;
}

/** Sums of one kind of call: how many, and their wall time added up (they overlap). */
export interface CallTimes {
  calls: number;
  totalMs: number;
}

export type ArchiveReport =
  | {
      ok: true;
      /** Wall time of the whole run (`reconcile`), and the child's CPU time over it. */
      wallMs: number;
      cpuMs: number;
      /**
       * The apply phase: from the pending keys' mark (the first request of `applyPlan`) to the
       * end of the sessions' key deletes (the pending keys' unmark that follows them): every
       * session's last look, archive step and deletes, then their keys.
       */
      applyMs: number;
      /** From that mark to the last session done (its last delete): the sessions alone. */
      sessionsMs: number;
      /** The archive's writes: how many, and the bytes of the records. */
      writes: CallTimes & { bytes: number };
      /** The archive step's GETs (`Cluster.read`) and key reads (`readSessionKey`). */
      reads: CallTimes;
      keyReads: CallTimes;
      /** `process.resourceUsage().maxRSS`, in bytes. */
      maxRssBytes: number;
      outcome: { status: string; cleanedUp: number; errors: number; archived: number; warnings: string[] };
    }
  | { ok: false; error: string };

const times = (): CallTimes => ({ calls: 0, totalMs: 0 });

/** `fn` wrapped to add its calls and their wall time to `into`. */
function timed<A extends unknown[], R>(into: CallTimes, fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    const started = performance.now();
    into.calls += 1;
    try {
      return await fn(...args);
    } finally {
      into.totalMs += performance.now() - started;
    }
  };
}

async function runJob(job: ArchiveJob): Promise<Extract<ArchiveReport, { ok: true }>> {
  // The SDK reads AWS_ENDPOINT_URL_S3, the region and the credentials from the process's own
  // environment, as in the Lambda; the product's configuration from the same names.
  Object.assign(process.env, job.env);
  const env = {
    RECONCILIATION_NAMESPACES: job.namespaces.join(','),
    RECONCILIATION_MAX_DELETIONS: String(job.maxDeletions),
    RECONCILIATION_CONCURRENCY: String(job.concurrency),
    RECONCILIATION_MIN_AGE_SECONDS: '0',
    RECONCILIATION_CONFIRM_SECONDS: '0',
    UPSTASH_REDIS_REST_URL: job.storeUrl,
    UPSTASH_REDIS_REST_TOKEN: job.storeToken,
    ...job.env,
  };
  const config = loadConfig({ env, defaultMode: 'kubeconfig' });
  const built = archiveFor(config, { env: process.env });
  if ((built === undefined) !== (job.variant === 'off')) throw new Error(`The ${job.variant} variant built ${built ? built.description : 'no archive'}`);

  const writes = { ...times(), bytes: 0 };
  const archive: Archive | undefined = built && {
    description: built.description,
    write: timed(writes, (name: string, body: string) => {
      writes.bytes += Buffer.byteLength(body);
      return built.write(name, body);
    }),
  };

  const store = new UpstashSessionStore(createUpstashClient({ url: config.upstash!.url, token: config.upstash!.token! }), config.sessionKeyPrefix);
  const keyReads = times();
  store.readSessionKey = timed(keyReads, store.readSessionKey.bind(store));
  // The apply phase's ends: applyPlan marks the keys to delete before any session, and unmarks
  // them once their keys are deleted, after the last session.
  let applyStart: number | undefined;
  let sessionsEnd: number | undefined;
  let applyEnd: number | undefined;
  const mark = store.markPendingKeys.bind(store);
  store.markPendingKeys = (ids) => {
    applyStart ??= performance.now();
    return mark(ids);
  };
  const unmark = store.unmarkPendingKeys.bind(store);
  store.unmarkPendingKeys = async (ids) => {
    await unmark(ids);
    if (sessionsEnd !== undefined) applyEnd ??= performance.now();
  };

  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(job.kubeconfig);
  const cluster = new KubernetesCluster({ kubeConfig, concurrency: config.concurrency, ...(job.pageSize ? { pageSize: job.pageSize } : {}) });
  const reads = times();
  cluster.read = timed(reads, cluster.read.bind(cluster));
  const progress = {
    listed() {},
    cleaned(done: number, total: number) {
      if (done === total) sessionsEnd = performance.now();
    },
  };

  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const summary = await reconcile({ ...config, narrowed: false }, { cluster, store, logger: silentLogger, progress, ...(archive ? { archive } : {}) });
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  if (applyStart === undefined || sessionsEnd === undefined) throw new Error(`The run cleaned no session (${summary.status}: ${summary.warnings.join('; ')})`);
  const { cleanedUp, errors } = summary.totals;
  return {
    ok: true,
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    applyMs: (applyEnd ?? sessionsEnd) - applyStart,
    sessionsMs: sessionsEnd - applyStart,
    writes,
    reads,
    keyReads,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    outcome: { status: summary.status, cleanedUp, errors, archived: summary.sessions.filter((s) => s.archive !== undefined).length, warnings: summary.warnings },
  };
}

process.once('message', (job: ArchiveJob) => {
  void runJob(job)
    .catch((error: unknown): ArchiveReport => ({ ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }))
    .then((report) => {
      // Exit once the report is sent: keep-alive sockets would otherwise hold the process open.
      process.send!(report, () => process.exit(0));
    });
});
