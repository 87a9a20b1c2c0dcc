/**
 * Running the product against the world and recording what the servers saw: one reconcile
 * run through the real adapters, or one Lambda invocation of src/handler.ts (cold or warm).
 */
import { vi } from 'vitest';
import { publishMetrics } from '../../../src/adapters/metrics.js';
import { KEY_SIGHTINGS, keySightingKey } from '../../../src/adapters/upstash.js';
import type { StaleKeysMode } from '../../../src/core/keys.js';
import type { Summary } from '../../../src/core/report.js';
import type { Archive, Cluster, Clock, SessionStore } from '../../../src/ports.js';
import { reconcile } from '../../../src/reconcile.js';
import { settings } from '../../support/lab.js';
import type { EmfDocument, RunRecord } from './fault-checks.js';
import { keyDeletesIn, sessionKeysDeletedBy } from './archive-records.js';
import { ARCHIVE_BUCKET, checkKeyArchived } from './fault-archive.js';
import type { World } from './fault-world.js';
import { CLUSTER, CREDENTIALS, KEY_PREFIX, NAMESPACES, REGION, liveResourcesOfId, snapshot } from './fault-world.js';

export const CONFIRM_SECONDS = 60;
/** The grace period of every run (the contract's default). */
export const MIN_AGE_SECONDS = 300;
/** How long a stale key must have been seen stale, unchanged, before a run in delete mode deletes it. */
export const KEY_CONFIRM_SECONDS = Math.max(MIN_AGE_SECONDS, CONFIRM_SECONDS);

/** A clock the test moves: confirmation needs runs minutes apart. */
export class TestClock implements Clock {
  constructor(public time: number) {}
  now(): number {
    return this.time;
  }
  advanceSeconds(seconds: number): void {
    this.time += seconds * 1000;
  }
}

/** The session id a stale key delete (the compare-and-delete EVAL) is for, or undefined for any other command. */
export function staleKeyDeleteOf(command: readonly string[]): string | undefined {
  // EVAL script 4 {sessionKey} {sightingKey} {index set} {delete's mark} {sessionId} {now} {ttl} {firstSeenAt}
  if (command[0] !== 'EVAL' || command[2] !== '4' || command[5] !== KEY_SIGHTINGS) return undefined;
  const id = command[7];
  return id !== undefined && command[3] === `${KEY_PREFIX}${id}` && command[4] === keySightingKey(id) ? id : undefined;
}

/** Whether a command is the EVAL that reads and records the stale keys' sightings. */
export const isKeySightingsEval = (command: readonly string[]): boolean => command[0] === 'EVAL' && command[3] === KEY_SIGHTINGS;

/**
 * Records each delete of a session key (a DEL, or the EVAL that deletes it only while it holds
 * the value archived), and each stale key delete, sent while a resource of that
 * session exists on the API server. A stale key delete sent again (the same command: a retry,
 * its first answer lost) is left out: the first was sent before the resources came, and the
 * compare-and-delete must find the key changed, which the state after the run shows.
 * At each delete of a key under the prefix (stale ones too), a stored record must hold the value it takes.
 * `then`, when given, runs after the checks, before the command reaches Redis (a race case's other actor).
 */
export function watchKeyDeletes(w: World, violations: string[], then?: (command: readonly string[]) => void | Promise<void>): void {
  const staleDeletesSent = new Set<string>();
  w.bridge.beforeCommand = async (command) => {
    const keys = sessionKeysDeletedBy(command, KEY_PREFIX);
    for (const key of keys) {
      const left = liveResourcesOfId(w, key.slice(KEY_PREFIX.length));
      if (left.length > 0) violations.push(`${command[0]} ${key} while ${left.join(', ')} existed`);
    }
    // And a record holds the value about to go, whatever the delete (fault-archive.ts).
    for (const d of keyDeletesIn(command, KEY_PREFIX)) await checkKeyArchived(w, d);
    const stale = staleKeyDeleteOf(command);
    const retry = stale !== undefined && staleDeletesSent.has(command.join('\u0000'));
    if (stale !== undefined && !retry) {
      staleDeletesSent.add(command.join('\u0000'));
      const left = liveResourcesOfId(w, stale);
      if (left.length > 0) violations.push(`stale key delete (EVAL) of ${KEY_PREFIX}${stale} while ${left.join(', ')} existed`);
    }
    return then?.(command);
  };
}

/** Runs `act` with stdout captured; resolves to its result and the JSON lines written. */
export async function capturingStdout<T>(act: () => Promise<T>): Promise<{ result: T; lines: Record<string, unknown>[] }> {
  const original = process.stdout.write.bind(process.stdout);
  let text = '';
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    callback?.();
    return true;
  }) as typeof process.stdout.write;
  try {
    const result = await act();
    return { result, lines: jsonLines(text) };
  } finally {
    process.stdout.write = original;
  }
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

const emfOf = (lines: Record<string, unknown>[]) => lines.filter((l): l is EmfDocument => '_aws' in l);

/** Records the servers' logs and state around `act`. */
async function recorded(
  w: World,
  label: string,
  violations: string[],
  act: () => Promise<{ summary: Summary; emf: EmfDocument[] }>,
  eksHits: () => number,
): Promise<RunRecord> {
  const before = await snapshot(w);
  const kubeFrom = w.server.requests.length;
  const storeFrom = w.bridge.requests.length;
  const eksFrom = w.eks.requests.length;
  const hitsFrom = eksHits();
  const violationsFrom = violations.length;
  const archiveFrom = { violations: w.archiveLog.violations.length, deletes: w.archiveLog.deletesChecked, keyDeletes: w.archiveLog.keyDeletesChecked };
  const storedBefore = new Set(w.archive.stored().map((s) => s.name));
  const { summary, emf } = await act();
  const after = await snapshot(w);
  const stored = w.archive.stored();
  const written = stored.filter((s) => !storedBefore.has(s.name));
  w.archiveLog.totals[w.archive.kind] += written.length;
  return {
    label,
    summary,
    before,
    after,
    kube: w.server.requests.slice(kubeFrom),
    store: w.bridge.requests.slice(storeFrom),
    eks: { requests: w.eks.requests.length - eksFrom, hits: eksHits() - hitsFrom },
    keyDeleteViolations: violations.slice(violationsFrom),
    archive: {
      description: w.archive.description,
      written,
      stored,
      violations: w.archiveLog.violations.slice(archiveFrom.violations),
      deletesChecked: w.archiveLog.deletesChecked - archiveFrom.deletes,
      keyDeletesChecked: w.archiveLog.keyDeletesChecked - archiveFrom.keyDeletes,
    },
    emf,
  };
}

/**
 * One reconcile run through the product's adapters (built once per case, as a warm Lambda
 * keeps them); its metrics emitted as the handler does.
 */
export function reconcileRun(
  w: World,
  label: string,
  options: {
    confirm: boolean;
    clock: Clock;
    violations: string[];
    adapters: { cluster: Cluster; store: SessionStore; archive?: Archive; clusterName?: string };
    staleKeys?: StaleKeysMode;
  },
): Promise<RunRecord> {
  const now = options.clock.now();
  const runSettings = settings({
    namespaces: [...NAMESPACES],
    minAgeSeconds: MIN_AGE_SECONDS,
    confirmSeconds: options.confirm ? CONFIRM_SECONDS : 0,
    ...(options.staleKeys ? { staleKeys: options.staleKeys } : {}),
  });
  return recorded(
    w,
    label,
    options.violations,
    async () => {
      const summary = await reconcile(runSettings, {
        ...options.adapters,
        logger: { debug() {}, info() {}, warn() {}, error() {} },
        clock: options.clock,
      });
      const { lines } = await capturingStdout(async () => publishMetrics(summary, { namespace: 'LabReconciler', cluster: CLUSTER }));
      return { summary, emf: emfOf(lines) };
    },
    () => 0,
  ).then((run) => ({ ...run, now }));
}

/** The Lambda's environment for the world: EKS mode through the local endpoint, the bridge as Upstash, the archive in S3 (the proxy to moto). */
function lambdaEnvironment(w: World): Record<string, string | undefined> {
  return {
    K8S_MODE: undefined,
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    AWS_SESSION_TOKEN: undefined,
    AWS_PROFILE: undefined,
    AWS_ENDPOINT_URL: undefined,
    AWS_ENDPOINT_URL_EKS: w.eks.url,
    AWS_EC2_METADATA_DISABLED: 'true',
    EKS_CLUSTER_NAME: CLUSTER,
    RECONCILIATION_ENABLED: undefined,
    RECONCILIATION_DRY_RUN: undefined,
    RECONCILIATION_NAMESPACES: NAMESPACES.join(','),
    RECONCILIATION_CONFIRM_SECONDS: '0',
    RECONCILIATION_MIN_AGE_SECONDS: undefined,
    RECONCILIATION_MAX_DELETIONS: undefined,
    UPSTASH_REDIS_REST_URL: w.bridge.url,
    UPSTASH_REDIS_REST_TOKEN: w.bridge.token,
    UPSTASH_REDIS_REST_TOKEN_PARAMETER: undefined,
    ARCHIVE_BUCKET: ARCHIVE_BUCKET,
    ARCHIVE_DIR: undefined,
    AWS_ENDPOINT_URL_S3: w.archiveServers.proxy.url,
    METRICS_NAMESPACE: undefined,
  };
}

type Handler = (event: unknown, context?: object) => Promise<Summary>;

/** A Lambda execution environment: src/handler.ts imported afresh (a cold start) with the world's environment. */
export class LambdaEnvironment {
  private saved = new Map<string, string | undefined>();
  private handler: Handler | undefined;

  constructor(private readonly w: World) {}

  async coldStart(): Promise<void> {
    for (const [name, value] of Object.entries(lambdaEnvironment(this.w))) {
      if (!this.saved.has(name)) this.saved.set(name, process.env[name]);
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    vi.resetModules();
    this.handler = ((await import('../../../src/handler.js')) as { handler: Handler }).handler;
  }

  /** Puts the environment variables back as they were. */
  restore(): void {
    for (const [name, value] of this.saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    this.saved.clear();
  }

  /**
   * One invocation. With `remainingMs`, the context says that much time is left and the
   * invocation must settle within it (the Lambda is killed then); `settled` is false when it
   * did not, and `whenStuck` is called to unblock it before its output is collected.
   */
  async invoke(
    label: string,
    violations: string[],
    eksHits: () => number,
    options: { remainingMs?: number; whenStuck?: () => void } = {},
  ): Promise<{ run: RunRecord | undefined; settled: boolean; elapsedMs: number }> {
    const handler = this.handler!;
    const started = Date.now();
    const remaining = options.remainingMs ?? 15 * 60 * 1000;
    const context = { awsRequestId: `fault-matrix-${started}`, functionName: 'lab-reconciler-test-reconcile', getRemainingTimeInMillis: () => remaining - (Date.now() - started) };
    let settled = true;
    let summary: Summary | undefined;
    const run = await recorded(
      this.w,
      label,
      violations,
      async () => {
        const { result, lines } = await capturingStdout(async () => {
          const invocation = handler({}, context);
          const outcome = await Promise.race([invocation.then((s) => ({ s })), sleep(remaining).then(() => undefined)]);
          if (outcome) return outcome.s;
          settled = false;
          options.whenStuck?.();
          // Let the stuck invocation finish, so that it writes nothing into a later case.
          await Promise.race([invocation.catch(() => undefined), sleep(10_000)]);
          return undefined;
        });
        summary = result;
        return { summary: result ?? emptyStandIn(), emf: emfOf(lines) };
      },
      eksHits,
    );
    return { run: summary ? run : undefined, settled, elapsedMs: Date.now() - started };
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

function emptyStandIn(): Summary {
  return {
    status: 'failed',
    dryRun: false,
    startedAt: new Date().toISOString(),
    durationMs: 0,
    totals: { namespacesChecked: 0, servicesChecked: 0, orphanedFound: 0, cleanedUp: 0, spared: 0, resourcesDeleted: 0, sessionKeysDeleted: 0, errors: 0, staleSessionKeys: 0, staleSessionKeysDeleted: 0, leakedDeployments: 0 },
    namespaces: [],
    sessions: [],
    staleSessionKeys: [],
    leakedDeployments: [],
    warnings: [],
  };
}
