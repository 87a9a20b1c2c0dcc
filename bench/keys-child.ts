/**
 * The child process of the session keys' bench (bench/keys.ts): one reconciliation by the
 * product with its real session store (`UpstashSessionStore` over `@upstash/redis`, as
 * src/runtime.ts builds it) against the API server and the Upstash bridge hosted by the
 * parent; or the store's SCAN of the session keys alone. A process of its own per run, as
 * bench/child.ts, and a bundle of its own, so that the scenarios' child (and its memory
 * figures) does not carry the store's client.
 *
 * Protocol (IPC): the parent sends one {@link KeysJob}; the child answers one
 * {@link KeysReport} and exits.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { KubernetesCluster } from '../src/adapters/kubernetes.js';
import { UpstashSessionStore, createUpstashClient } from '../src/adapters/upstash.js';
import { loadConfig } from '../src/config.js';
import type { StaleKeysMode } from '../src/core/keys.js';
import { silentLogger } from '../src/ports.js';
import { reconcile } from '../src/reconcile.js';

export interface KeysJob {
  /** `run`: the product's whole run; `scan`: only the store's `scanSessionKeys`, nothing else. */
  mode: 'run' | 'scan';
  kubeconfig: string;
  namespaces: string[];
  concurrency: number;
  /** Items per list page; undefined keeps the product's default. */
  pageSize: number | undefined;
  /** RECONCILIATION_STALE_KEYS of the run. */
  staleKeys: StaleKeysMode;
  /** UPSTASH_REDIS_REST_URL and _TOKEN: the parent's bridge. */
  storeUrl: string;
  storeToken: string;
}

export type KeysReport =
  | {
      ok: true;
      /** Wall time of the run (`run`) or of the scan alone (`scan`). */
      wallMs: number;
      /** The child's CPU time (user + system) over the same span. */
      cpuMs: number;
      /** Wall time of `scanSessionKeys` inside the run (or alone); undefined when it was not called (`off`). */
      scanMs: number | undefined;
      /** Session keys the scan returned; undefined when it was not called. */
      keysRead: number | undefined;
      /** The run's summary, in short; undefined for `scan`. */
      outcome: { status: string; staleSessionKeys: number; leakedDeployments: number; errors: number; warnings: string[] } | undefined;
    }
  | { ok: false; error: string };

async function runJob(job: KeysJob): Promise<Extract<KeysReport, { ok: true }>> {
  // The product as its command line builds it: configuration from the environment's names
  // and defaults, the Kubernetes adapter with its defaults, the store as src/runtime.ts makes it.
  const config = loadConfig({
    env: {
      RECONCILIATION_NAMESPACES: job.namespaces.join(','),
      RECONCILIATION_CONCURRENCY: String(job.concurrency),
      RECONCILIATION_STALE_KEYS: job.staleKeys,
      UPSTASH_REDIS_REST_URL: job.storeUrl,
      UPSTASH_REDIS_REST_TOKEN: job.storeToken,
    },
    defaultMode: 'kubeconfig',
  });
  const store = new UpstashSessionStore(createUpstashClient({ url: config.upstash!.url, token: config.upstash!.token! }), config.sessionKeyPrefix);
  // The scan timed where the run calls it: the product's own method, only wrapped.
  let scanMs: number | undefined;
  let keysRead: number | undefined;
  const scan = store.scanSessionKeys.bind(store);
  store.scanSessionKeys = async () => {
    const started = performance.now();
    const keys = await scan();
    scanMs = performance.now() - started;
    keysRead = keys.length;
    return keys;
  };
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  if (job.mode === 'scan') {
    await store.scanSessionKeys();
    const cpu = process.cpuUsage(cpuBefore);
    return { ok: true, wallMs: performance.now() - started, cpuMs: (cpu.user + cpu.system) / 1000, scanMs, keysRead, outcome: undefined };
  }
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(job.kubeconfig);
  const cluster = new KubernetesCluster({ kubeConfig, concurrency: config.concurrency, ...(job.pageSize ? { pageSize: job.pageSize } : {}) });
  const summary = await reconcile({ ...config, narrowed: false }, { cluster, store, logger: silentLogger });
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const { staleSessionKeys, leakedDeployments, errors } = summary.totals;
  return {
    ok: true,
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    scanMs,
    keysRead,
    outcome: { status: summary.status, staleSessionKeys, leakedDeployments, errors, warnings: summary.warnings },
  };
}

process.once('message', (job: KeysJob) => {
  void runJob(job)
    .catch((error: unknown): KeysReport => ({ ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }))
    .then((report) => {
      // Exit once the report is sent: keep-alive sockets would otherwise hold the process open.
      process.send!(report, () => process.exit(0));
    });
});
