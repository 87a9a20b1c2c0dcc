/**
 * The child process of a measurement: runs one reconciliation, the product's or the
 * baseline's, against the API server hosted by the parent, and reports its wall time and
 * peak memory. A process of its own per run, so that its memory is the run's and not the
 * API server's, and its peak is not a previous run's.
 *
 * Protocol (IPC): the parent sends one {@link ChildJob}; the child answers one
 * {@link ChildReport} and exits.
 */
import { getHeapStatistics } from 'node:v8';
import { KubeConfig } from '@kubernetes/client-node';
import { KubernetesCluster } from '../src/adapters/kubernetes.js';
import { loadConfig } from '../src/config.js';
import { silentLogger } from '../src/ports.js';
import { reconcile } from '../src/reconcile.js';
import { runBaseline } from './baseline.js';

export interface ChildJob {
  /** `product-full-lists`: the product asking for whole objects, the full-list path it replaced. */
  algorithm: 'product' | 'product-full-lists' | 'baseline';
  kubeconfig: string;
  namespaces: string[];
  maxDeletions: number;
  concurrency: number;
  /** Items per list page; undefined keeps the product's default. */
  pageSize: number | undefined;
}

/** What the run found and did, in the terms both algorithms share. */
export interface RunOutcome {
  status: string;
  servicesChecked: number;
  orphanedFound: number;
  cleanedUp: number;
  errors: number;
}

export interface MemoryFigures {
  /** `process.resourceUsage().maxRSS`: the peak resident set of the whole process, in bytes. */
  maxRssBytes: number;
  /** Resident set once the modules are loaded, before the run: the floor any run pays. */
  idleRssBytes: number;
  /** Highest V8 heap in use seen, sampled every few milliseconds (a sample can miss a short peak). */
  peakHeapUsedBytes: number;
}

export type ChildReport =
  /** `cpuMs`: the child's own CPU time (user + system) during the run. */
  | { ok: true; wallMs: number; cpuMs: number; outcome: RunOutcome; memory: MemoryFigures }
  | { ok: false; error: string };

// getHeapStatistics() is cheap; process.memoryUsage() reads /proc and, every 5 ms, cost a
// burst run some 3% of its CPU. The peak resident set comes from resourceUsage() at the end.
const SAMPLE_EVERY_MS = 10;
const heapUsed = () => getHeapStatistics().used_heap_size;

async function runJob(job: ChildJob): Promise<{ wallMs: number; outcome: RunOutcome }> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(job.kubeconfig);
  if (job.algorithm === 'baseline') {
    const started = performance.now();
    const stats = await runBaseline(kubeConfig, job.namespaces);
    return { wallMs: performance.now() - started, outcome: { status: stats.errors > 0 ? 'errors' : 'ok', ...stats } };
  }
  // The product as its command line builds it: configuration from the environment's names
  // and defaults, the Kubernetes adapter with its defaults, no session store.
  const config = loadConfig({
    env: {
      RECONCILIATION_NAMESPACES: job.namespaces.join(','),
      RECONCILIATION_MAX_DELETIONS: String(job.maxDeletions),
      RECONCILIATION_CONCURRENCY: String(job.concurrency),
    },
    defaultMode: 'kubeconfig',
  });
  const lists = job.algorithm === 'product-full-lists' ? 'full' : 'metadata';
  const cluster = new KubernetesCluster({ kubeConfig, concurrency: config.concurrency, lists, ...(job.pageSize ? { pageSize: job.pageSize } : {}) });
  const started = performance.now();
  const summary = await reconcile({ ...config, narrowed: false }, { cluster, store: undefined, logger: silentLogger });
  const wallMs = performance.now() - started;
  const { servicesChecked, orphanedFound, cleanedUp, errors } = summary.totals;
  return { wallMs, outcome: { status: summary.status, servicesChecked, orphanedFound, cleanedUp, errors } };
}

async function measure(job: ChildJob): Promise<ChildReport> {
  const idleRssBytes = process.memoryUsage.rss();
  let peakHeapUsedBytes = heapUsed();
  const sampler = setInterval(() => {
    peakHeapUsedBytes = Math.max(peakHeapUsedBytes, heapUsed());
  }, SAMPLE_EVERY_MS);
  const cpuBefore = process.cpuUsage();
  try {
    const { wallMs, outcome } = await runJob(job);
    const cpu = process.cpuUsage(cpuBefore);
    peakHeapUsedBytes = Math.max(peakHeapUsedBytes, heapUsed());
    const maxRssBytes = process.resourceUsage().maxRSS * 1024;
    return { ok: true, wallMs, cpuMs: (cpu.user + cpu.system) / 1000, outcome, memory: { maxRssBytes, idleRssBytes, peakHeapUsedBytes } };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
  } finally {
    clearInterval(sampler);
  }
}

process.once('message', (job: ChildJob) => {
  void measure(job).then((report) => {
    // Exit once the report is sent: keep-alive sockets would otherwise hold the process open.
    process.send!(report, () => process.exit(0));
  });
});
