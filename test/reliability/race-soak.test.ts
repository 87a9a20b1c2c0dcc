/**
 * The race soak: a seeded random cluster (four namespaces, hundreds of sessions) that changes
 * while runs are in flight, driven through the real product: reconcile() with the real
 * Kubernetes adapter over HTTPS to the local API server, and the real Upstash session store
 * through the bridge to a private redis-server.
 *
 * Each seed is one test: a fresh cluster, then ticks of one minute of virtual time, each with
 * churn between runs and, inside the API server, between the requests of a run (see
 * support/soak-churn.ts), and one run, two runs started at once, or a second run started in the
 * middle of the first. Every run is in delete mode for stale session keys
 * (RECONCILIATION_STALE_KEYS=delete): the world holds truly stale keys, sessions start key first
 * while runs are in flight, and stale keys are rewritten, taken over by a new session or deleted
 * just before a run's delete of them reaches Redis. The invariants are checked at each DELETE,
 * at each DEL of a session key and each stale key delete, at each request (who is acting), after
 * each run, after each tick (no live session's key lost), and after the churn stops and two runs
 * converge (no stale key left: they were deleted) (support/soak-monitor.ts). Every run archives to
 * one directory per seed (DirectoryArchive): at each DELETE served a record file must already
 * hold that very uid, at each delete of a cleaned session's key a record its value, and at the
 * end every one of them still (support/soak-archive.ts).
 *
 * SOAK_RUNS (default 200) is the number of runs in all; SOAK_RUNS_PER_SEED (default 25) how
 * many each seed makes, the two convergence runs included; SOAK_SEED replays one seed.
 */
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/ports.js';
import { reconcile } from '../../src/reconcile.js';
import type { KubeApiServer } from '../support/kube-api-server.js';
import { startKubeApiServer } from '../support/kube-api-server.js';
import { clusterFor, settings, storeFor } from '../support/lab.js';
import type { RedisServer } from '../support/redis-server.js';
import { startRedisServer } from '../support/redis-server.js';
import { RespClient } from '../support/resp-client.js';
import { UpstashBridge } from '../support/upstash-bridge.js';
import { Churn } from './support/soak-churn.js';
import type { MonitorStats, SoakRun } from './support/soak-monitor.js';
import { Monitor } from './support/soak-monitor.js';
import { Rng } from './support/soak-random.js';
import type { ArchiveStats } from './support/soak-archive.js';
import { SoakArchive } from './support/soak-archive.js';
import { NAMESPACES, World } from './support/soak-world.js';

function positiveInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, not ${JSON.stringify(raw)}`);
  return value;
}

const TOTAL_RUNS = positiveInteger('SOAK_RUNS', 200);
const RUNS_PER_SEED = Math.max(4, positiveInteger('SOAK_RUNS_PER_SEED', 25));
const SEEDS =
  process.env.SOAK_SEED !== undefined && process.env.SOAK_SEED !== ''
    ? [positiveInteger('SOAK_SEED', 0)]
    : Array.from({ length: Math.max(1, Math.ceil(TOTAL_RUNS / RUNS_PER_SEED)) }, () => randomInt(0, 2 ** 32 - 1));

const MIN_AGE_SECONDS = 300;
const TICK_MS = 60_000;
/** The virtual clock's start; each seed's world is seeded relative to it. */
const START = Date.parse('2026-11-26T12:00:00Z');
const TOKEN_PREFIX = 'soak-run-';

let redis: RedisServer;
let bridge: UpstashBridge;
let server: KubeApiServer;
let direct: RespClient;
const totals = {
  seeds: [] as number[],
  runs: 0,
  ms: 0,
  sessions: 0,
  deletes: 0,
  conflicts: 0,
  keyDeletes: 0,
  reappeared: 0,
  windowHits: 0,
  staleDeleted: 0,
  staleRaced: 0,
  records: 0,
  keyRecords: 0,
  deletesArchived: 0,
  keyDeletesArchived: 0,
};

beforeAll(async () => {
  redis = await startRedisServer();
  bridge = await UpstashBridge.start({ redisPort: redis.port });
  // Every run has its own token, so each request can be told to belong to one run.
  server = await startKubeApiServer({ authenticate: (token) => token.startsWith(TOKEN_PREFIX) });
  direct = await RespClient.connect(redis.port);
});

afterAll(async () => {
  await direct?.close();
  await bridge?.close();
  await server?.close();
  await redis?.stop();
  console.log(
    `race soak: ${totals.runs} runs over seeds ${totals.seeds.join(', ')} in ${(totals.ms / 1000).toFixed(1)} s; ` +
      `${totals.sessions} sessions seeded, ${totals.deletes} deletes accepted, ${totals.conflicts} refused by a uid precondition, ` +
      `${totals.keyDeletes} session-key deletes (DEL or compare-and-delete) checked, ${totals.reappeared} sessions spared because their Deployment was back, ` +
      `window between the last look and a delete hit ${totals.windowHits} times; ${totals.staleDeleted} stale keys deleted, ${totals.staleRaced} stale key deletes raced; ` +
      `archive: ${totals.records} session records and ${totals.keyRecords} records of a key alone written, ${totals.deletesArchived} deletes and ${totals.keyDeletesArchived} key deletes checked against them`,
  );
});

/** A logger that keeps the error lines, to explain a failed run. */
function errorsInto(lines: string[]): Logger {
  return { debug() {}, info() {}, warn() {}, error: (message) => void lines.push(message) };
}

describe('race soak', () => {
  it.each(SEEDS)(
    `seed %i: nothing alive is deleted (no live session's key either), runs never act at once, and two runs converge after the churn (stale keys deleted)`,
    async (seed) => {
      const replay = `seed ${seed} (replay: SOAK_SEED=${seed} SOAK_RUNS_PER_SEED=${RUNS_PER_SEED} npx vitest run test/reliability/race-soak.test.ts)`;
      const began = performance.now();

      // Prepare: a fresh cluster of hundreds of sessions, the churn and the checks wired in.
      await direct.call('FLUSHALL');
      bridge.reset();
      server.clear();
      server.clearRequests();
      const clock = { now: START };
      const rng = Rng.of(seed, 'world');
      const confirmSeconds = rng.chance(0.5) ? 0 : 120;
      const world = new World(server, direct);
      const counts = world.seed(rng, clock.now, rng.int(55, 75));
      await world.settleKeyWrites();
      const monitor = new Monitor(world, { confirmSeconds, minAgeSeconds: MIN_AGE_SECONDS });
      const churn = new Churn(world, seed, () => clock.now, {
        created: (namespace, name) => monitor.deploymentCreated(namespace, name),
        readAbsentInFlight: (namespace, name) => monitor.readAbsentInFlight(namespace, name),
      });
      monitor.churn = churn;
      const archive = new SoakArchive((message) => monitor.breach(message));
      monitor.archive = archive;
      server.beforeServe = (request) => monitor.beforeServe(request);
      server.afterServe = (request, answer) => monitor.afterServe(request, answer);
      bridge.beforeCommand = (command) => monitor.beforeCommand(command);
      const store = storeFor(bridge);

      const newRun = (label: string, runRng: Rng, changes: { dryRun?: boolean; maxDeletions?: number; concurrency?: number } = {}): SoakRun => {
        const run: SoakRun = {
          label,
          token: `${TOKEN_PREFIX}${seed}-${label.replace(/\W+/g, '-')}`,
          settings: settings({
            namespaces: [...NAMESPACES],
            minAgeSeconds: MIN_AGE_SECONDS,
            confirmSeconds,
            maxDeletions: changes.maxDeletions ?? (runRng.chance(0.08) ? runRng.int(1, 5) : 10_000),
            concurrency: changes.concurrency ?? runRng.pick([1, 2, 4, 8]),
            dryRun: changes.dryRun ?? false,
            staleKeys: 'delete',
          }),
          now: clock.now,
          pageSize: runRng.pick([8, 13, 20, 40]),
          clusterConcurrency: runRng.pick([2, 4, 8]),
          requests: 0,
          deletesAccepted: 0,
          readAbsent: new Set(),
          finished: false,
          errors: [],
        };
        monitor.register(run);
        return run;
      };
      const execute = async (run: SoakRun): Promise<void> => {
        const cluster = clusterFor(server, { token: run.token, pageSize: run.pageSize, concurrency: run.clusterConcurrency });
        try {
          run.summary = await reconcile(run.settings, {
            cluster,
            store,
            logger: errorsInto(run.errors),
            clock: { now: () => run.now },
            archive: archive.archive,
            clusterName: 'race-soak',
            ...(run.lockTtlMs === undefined ? {} : { lockTtlMs: run.lockTtlMs }),
          });
        } catch (error) {
          monitor.breach(`${run.label}: reconcile() threw ${String(error)}`);
        } finally {
          run.finished = true;
        }
      };

      let runs = 0;
      const shapes: Record<string, number> = {};
      try {
        // Act and assess: ticks of churn and runs until the runs are spent, the invariants checked as they go.
        for (let tick = 1; runs < RUNS_PER_SEED - 2; tick++) {
          clock.now += TICK_MS;
          monitor.phase = `tick ${tick}`;
          const tickRng = Rng.of(seed, 'tick', tick);
          churn.betweenTicks(Rng.of(seed, 'churn', tick));
          const shape = tickRng.weighted<'single' | 'together' | 'staggered' | 'outlived'>([
            [0.55, 'single'],
            [0.17, 'together'],
            [0.18, 'staggered'],
            [0.1, 'outlived'],
          ]);
          // A run that outlives its lock has long list and delete phases: many orphans, small pages, one session at a time.
          if (shape === 'outlived') churn.nodeFailure(Rng.of(seed, 'node failure', tick), 12);
          await world.settleKeyWrites();
          shapes[shape] = (shapes[shape] ?? 0) + 1;
          const a = newRun(`tick ${tick} run A`, tickRng, shape === 'outlived' ? { concurrency: 1 } : {});
          if (shape === 'single') {
            await execute(a);
            monitor.checkRun(a, { lockMayBeHeld: false });
            runs += 1;
          } else if (shape === 'outlived') {
            // A run that lasts longer than its lock's time to live (the product's 15 minutes against a
            // long apply from a terminal; here milliseconds): a second run comes once the lock has expired.
            a.lockTtlMs = tickRng.int(80, 150);
            a.pageSize = 8;
            a.label += ` (lock time to live ${a.lockTtlMs} ms)`;
            const b = newRun(`tick ${tick} run B (started once run A's lock had expired)`, tickRng, { concurrency: 1 });
            let second: Promise<void> | undefined;
            let firstRequestAt: number | undefined;
            a.onRequest = () => {
              firstRequestAt ??= performance.now();
              if (performance.now() - firstRequestAt > a.lockTtlMs! + 10) second ??= execute(b);
            };
            await execute(a);
            if (second && b.summary?.status !== 'locked') shapes['outlived, both acted'] = (shapes['outlived, both acted'] ?? 0) + 1;
            await (second ?? execute(b));
            monitor.checkRun(a, { lockMayBeHeld: true });
            monitor.checkRun(b, { lockMayBeHeld: true });
            runs += 2;
          } else {
            // The second run: sometimes a dry run (plan), which takes no lock and may act alongside.
            const b = newRun(`tick ${tick} run B`, tickRng, { dryRun: tickRng.chance(0.15) });
            if (shape === 'together') {
              await Promise.all([execute(a), execute(b)]);
              const locked = [a, b].filter((r) => r.summary?.status === 'locked').length;
              if (!b.settings.dryRun && locked !== 1) monitor.breach(`two runs started at once: ${locked} of them found the lock held, not exactly one`);
            } else {
              let second: Promise<void> | undefined;
              const startAt = tickRng.int(1, 150);
              a.onRequest = (count) => {
                if (count === startAt) second ??= execute(b);
              };
              await execute(a);
              await (second ?? execute(b));
            }
            monitor.checkRun(a, { lockMayBeHeld: true });
            monitor.checkRun(b, { lockMayBeHeld: true });
            runs += 2;
          }
          churn.endTick();
          await world.settleKeyWrites();
          await monitor.settle();
          monitor.checkLiveSessions();
          await monitor.checkLiveKeys();
          expect(monitor.violations, replay).toEqual([]);
        }

        // Act: the churn stops; two runs, far enough apart for every orphan to be old and confirmed,
        // and for a key first seen stale by the first of them to be confirmed by the second.
        churn.enabled = false;
        monitor.phase = 'convergence';
        const settled = Math.max(MIN_AGE_SECONDS, confirmSeconds) * 1000 + TICK_MS;
        clock.now += settled;
        for (const label of ['convergence run 1', 'convergence run 2']) {
          const run = newRun(label, Rng.of(seed, label), { maxDeletions: 10_000 });
          await execute(run);
          monitor.checkRun(run, { lockMayBeHeld: false });
          if (run.summary?.status !== 'ok') monitor.breach(`${label} ended ${run.summary?.status}, not ok: ${run.errors.slice(0, 3).join(' | ')}`);
          clock.now += settled;
        }
        runs += 2;
        await monitor.settle();

        // Assess: the clean state, the archive, and every breach seen on the way.
        await monitor.checkCleanState();
        archive.checkEnd();
      } finally {
        reportSeed(seed, confirmSeconds, { ...counts }, shapes, runs, monitor.stats, archive.stats, { ...churn.stats }, performance.now() - began);
        archive.remove();
      }
      expect(monitor.stats.windowHits, replay).toBe(0);
      expect(monitor.violations, replay).toEqual([]);
      // The stale keys were deleted by the runs' stale path (the clean state has none left), not only spared.
      expect(monitor.stats.staleKeysDeleted, `${replay}: stale keys deleted`).toBeGreaterThan(0);
    },
    Math.max(120_000, RUNS_PER_SEED * 5_000),
  );
});

function reportSeed(
  seed: number,
  confirmSeconds: number,
  counts: Record<string, number>,
  shapes: Record<string, number>,
  runs: number,
  stats: MonitorStats,
  archived: ArchiveStats,
  churn: Record<string, number>,
  ms: number,
): void {
  const { staleKeys = 0, ...sessionCounts } = counts;
  const sessions = Object.values(sessionCounts).reduce((a, b) => a + b, 0);
  totals.seeds.push(seed);
  totals.runs += runs;
  totals.ms += ms;
  totals.sessions += sessions;
  totals.deletes += stats.deletes['200'] ?? 0;
  totals.conflicts += stats.conflicts;
  totals.keyDeletes += stats.keyDeletesChecked;
  totals.reappeared += stats.sparedReappeared;
  totals.windowHits += stats.windowHits;
  totals.staleDeleted += stats.staleKeysDeleted;
  totals.staleRaced += (churn.rewrittenAtKeyDelete ?? 0) + (churn.takenOverAtKeyDelete ?? 0) + (churn.deletedAtKeyDelete ?? 0);
  totals.records += archived.records;
  totals.keyRecords += archived.keyRecords;
  totals.deletesArchived += archived.deletesChecked;
  totals.keyDeletesArchived += archived.keyDeletesChecked;
  console.log(
    `race soak seed ${seed}: confirm ${confirmSeconds} s, ${sessions} sessions ${JSON.stringify(counts)}, ${runs} runs in ${(ms / 1000).toFixed(1)} s; ` +
      `ticks ${JSON.stringify(shapes)}; runs ${JSON.stringify({ locked: stats.locked, aborted: stats.aborted, partial: stats.partial, dry: stats.dryRuns })}; ` +
      `deletes ${JSON.stringify(stats.deletes)}; cleaned ${stats.sessionsCleaned}; spared as reappeared ${stats.sparedReappeared}; ` +
      `key DELs checked ${stats.keyDeletesChecked}; ${staleKeys} stale keys seeded, stale key deletes sent ${stats.staleKeyDeletesSent}, ` +
      `stale keys deleted ${stats.staleKeysDeleted}, found gone ${stats.staleKeysGone}, live keys checked ${stats.liveKeysChecked}; ` +
      `archive: ${archived.records} session records and ${archived.keyRecords} of a key alone, ${archived.deletesChecked} deletes and ${archived.keyDeletesChecked} key deletes checked against them; churn ${JSON.stringify(churn)}`,
  );
}
