/**
 * A smoke run of the benchmark (`npm run bench`) on one tiny scenario, through the same code:
 * the API server hosted here, the baseline and the product each in a child process bundled
 * by esbuild, the limit, the table and the targets. It keeps the bench from rotting; the
 * figures themselves come from `npm run bench` (docs/performance.md).
 */
import { describe, expect, it } from 'vitest';
import { ARCHIVE_SCENARIO, archiveCases, checkAdded, runArchiveBench } from '../../bench/archive.js';
import { archiveChecksHold, renderArchive, renderArchiveChecks, renderArchiveNotes } from '../../bench/archive-table.js';
import { runBench } from '../../bench/bench.js';
import { cgroupUnavailable, lambdaFlags } from '../../bench/envelope.js';
import { KEYS_SCENARIO, countRequests, keysCases, renderKeys, renderKeysNotes, runKeysBench } from '../../bench/keys.js';
import { chainRounds, limitOf } from '../../bench/limit.js';
import { parseOptions } from '../../bench/options.js';
import { scaledDown, smokeScenario, standardScenarios, totalSessions } from '../../bench/scenarios.js';
import { renderSizing, runSizing } from '../../bench/sizing.js';
import { renderNotes, renderTable } from '../../bench/table.js';
import { judge } from '../../bench/targets.js';

const MIB = 1024 * 1024;
/** Root with the cgroup v1 memory controller: the envelope is a real cgroup, not the flags alone. */
const cgroups = cgroupUnavailable() === undefined;

describe('the benchmark', () => {
  it('measures a tiny scenario end to end, with sane figures', async () => {
    // Prepare: 1 namespace x 20 production-shaped sessions, 2 of them orphaned; no latency, so
    // it is quick; the product once more in a 256 MB envelope.
    const scenario = smokeScenario();
    const options = {
      latencyMs: 0,
      concurrency: 8,
      pageSize: undefined,
      baselineCap: 2_500,
      repeat: 2,
      objects: 'production' as const,
      envelopeMb: 256,
      cgroup: true,
      progress: () => {},
    };

    // Act
    const [row] = await runBench([scenario], options);

    // Assess: both cleaned exactly the orphans (runBench checks the deletes against the
    // server's log and throws otherwise), the product beats the baseline, and nothing beats the limit.
    expect(row).toBeDefined();
    const { baseline, product, limit } = row!;
    expect(baseline.outcome.cleanedUp).toBe(2);
    expect(product.outcome).toMatchObject({ status: 'ok', cleanedUp: 2, errors: 0 });
    expect(baseline.extrapolated).toBe(false);
    // Baseline: 1 list + 22 Deployment reads + 2 endpoint reads + 6 deletes.
    expect(baseline.requests).toBe(31);
    expect(product.requests).toBeLessThan(baseline.requests);
    expect(product.requests).toBeGreaterThanOrEqual(limit.requests);
    // Limit: one page of each of the five kinds, three deletes per orphan.
    expect(limit.requests).toBe(5 + 6);
    expect(product.byVerb).toEqual({ list: 5, get: 2, delete: 6 });
    expect(product.peakInFlight).toBeLessThanOrEqual(8);
    expect(product.wallRunsMs).toHaveLength(2);
    for (const figures of [baseline, product]) {
      expect(figures.wallMs).toBeGreaterThan(0);
      expect(figures.maxRssBytes).toBeGreaterThan(figures.idleRssBytes * 0.9);
      expect(figures.maxRssBytes).toBeLessThan(1024 * 1024 * 1024);
    }
    // Bytes: the limit's are listed in this process, whatever the server logs; the product
    // receives at least the limit's (0 from a server that logs no bytes).
    const { limitBytes, envelope } = row!;
    expect(limitBytes.sliceLists).toBeGreaterThan(18 * 1_000);
    expect(limitBytes.metadataLists).toBeGreaterThan(0);
    expect(limitBytes.total).toBe(limitBytes.metadataLists + limitBytes.sliceLists + limitBytes.deletes);
    if (product.bytes > 0) expect(product.bytes).toBeGreaterThanOrEqual(limitBytes.total * 0.9);
    // The envelope: a cgroup where this machine can make one, else the flags alone.
    expect(envelope).toMatchObject({ status: 'ok', memoryMb: 256, confinement: { by: cgroups ? 'cgroup' : 'flags' } });
    if (envelope?.status === 'ok') expect(envelope.peakBytes).toBeLessThan(256 * MIB);
    const table = renderTable([row!]);
    expect(table).toContain(scenario.label);
    expect(table).toContain('product in 256 MB');
    expect(renderNotes([row!])).toContain('5 list pages');
    expect(judge([row!], options).every((v) => v.met === undefined)).toBe(true);
  }, 60_000);

  it('measures the store requests that reading the session keys adds, on a tiny store', async () => {
    // Prepare: 20 session keys (1 of them stale) among 60 other applications' keys, then the
    // same 20 alone; no latency, so it is quick.
    const cases = keysCases([20], 3);
    expect(cases.map((c) => [c.sessionKeys, c.staleKeys, c.unrelatedKeys])).toEqual([
      [20, 1, 60],
      [20, 1, 0],
    ]);

    // Act: per row the product with RECONCILIATION_STALE_KEYS off, with report, and the scan
    // alone, each in a child with the real UpstashSessionStore (runKeysBench checks that the
    // scan read exactly the 20 session keys and that the run reported exactly the stale one).
    const rows = await runKeysBench(cases, { latencyMs: 0, concurrency: 8, pageSize: undefined, progress: () => {} });

    // Assess: the shape, and figures that must hold whatever redis's page sizes are.
    expect(rows).toHaveLength(2);
    expect(rows.map((r) => r.off.keyspace)).toEqual([80, 20]);
    for (const { off, report, scanAlone, added } of rows) {
      // Without the read: no SCAN at all; with it: at least one page, and the rest of the run's requests.
      expect(off.requests.scan).toBe(0);
      expect(off.requests.byCommand.SCAN).toBeUndefined();
      expect(off.requests.total).toBeGreaterThan(0);
      expect(report.requests.scan).toBeGreaterThan(0);
      expect(report.requests.byCommand.SCAN).toBe(report.requests.scan);
      // One stale key: one sightings script, and the sightings' index read once at the end.
      expect(report.requests.byCommand['EVAL key-sightings']).toBe(1);
      expect(report.requests.byCommand['SMEMBERS key-sightings']).toBe(1);
      expect(off.requests.byCommand['EVAL key-sightings']).toBeUndefined();
      expect(added.scan).toBe(report.requests.scan);
      expect(added.total).toBe(report.requests.total - off.requests.total);
      expect(added.other).toBe(2);
      expect(added.perThousandSessionKeys).toBeCloseTo((added.total * 1_000) / 20);
      expect(scanAlone.requests.total).toBe(scanAlone.requests.scan);
      expect(report.scanMs).toBeGreaterThan(0);
      expect(off.scanMs).toBeUndefined();
      expect(report.requests.commands).toBeGreaterThanOrEqual(report.requests.total);
    }
    const table = renderKeys(rows);
    expect(table).toContain('20 session keys + 60 unrelated (1 stale)');
    expect(table).toContain('20 session keys, no other key (1 stale)');
    expect(renderKeysNotes(rows, 0)).toContain('EVAL key-sightings 1');
  }, 60_000);

  it('measures what the archive adds per cleaned session: 3 GETs, 1 key read and 1 write, off, to a directory and to S3', async () => {
    // Prepare: 2 namespaces x 5 production-shaped live sessions and 4 orphans, every session
    // with its key; no latency and one run of each variant, so it is quick.
    const cases = archiveCases([4], 5, ['jupyter-lab', 'ubuntu-lab']);
    expect(cases.map((c) => [c.name, c.orphans, c.maxDeletions])).toEqual([['archive-4', 4, 50]]);

    // Act: the product with the archive off, to a DirectoryArchive and to the S3Archive (moto
    // behind a counting proxy), each in a child (runArchiveBench checks that every run cleaned
    // exactly the orphans and their keys, and that the records are there with the bytes written).
    const [row] = await runArchiveBench(cases, { latencyMs: 0, concurrency: 8, pageSize: undefined, repeat: 1, progress: () => {} });

    // Assess: the requests by verb, the key reads, the writes; the check against `off`.
    expect(row).toBeDefined();
    const [off, dir, s3] = row!.variants;
    expect([off, dir, s3].map((v) => v!.variant)).toEqual(['off', 'dir', 's3']);
    // Off: 2 x 5 list pages, one Deployment re-check a session, three deletes a session.
    expect(off!.median.byVerb).toEqual({ list: 10, get: 4, delete: 12 });
    expect(off!.median.storeCommands.EVAL_RO).toBeUndefined();
    expect(off!.median.report.writes.calls).toBe(0);
    expect(off!.median.s3.requests).toBe(0);
    expect(off!.check).toBeUndefined();
    for (const on of [dir!, s3!]) {
      expect(on.median.byVerb).toEqual({ list: 10, get: 4 + 3 * 4, delete: 12 });
      expect(on.median.storeCommands.EVAL_RO).toBe(4);
      expect(on.median.report.writes.calls).toBe(4);
      expect(on.median.records.count).toBe(4);
      // A record holds three production-shaped objects and a key of about 3.5 KB.
      expect(on.median.report.writes.bytes / 4).toBeGreaterThan(10 * 1024);
      expect(on.check).toMatchObject({ holds: true, perSession: { get: 3, keyReads: 1, writes: 1, otherStoreCommands: 0 }, otherChanges: [] });
      expect(on.applyMs).toBeGreaterThan(0);
      expect(on.wallMs).toBeGreaterThanOrEqual(on.applyMs);
    }
    // S3: one PutObject a record and no other request; the directory: no S3 at all.
    expect(s3!.median.s3).toMatchObject({ requests: 4, puts: 4 });
    expect(dir!.median.s3.requests).toBe(0);
    // The limit counts the GETs and the write as needed: 4 more requests per session.
    expect(row!.limit.off.requests).toBe(10 + 12);
    expect(row!.limit.onRequests).toBe(10 + 12 + 4 * 4);
    expect(archiveChecksHold([row!])).toBe(true);

    // A regression is caught: one GET more, or one store command more, and the check fails.
    const extraGet = structuredClone(dir!.median);
    extraGet.byVerb.get += 1;
    expect(checkAdded(off!.median, extraGet, 4).holds).toBe(false);
    const extraCommand = structuredClone(s3!.median);
    extraCommand.storeCommands['SMEMBERS pending-keys'] = (extraCommand.storeCommands['SMEMBERS pending-keys'] ?? 0) + 1;
    expect(checkAdded(off!.median, extraCommand, 4)).toMatchObject({ holds: false, otherChanges: [expect.stringContaining('store commands other than EVAL_RO')] });

    const table = renderArchive([row!]);
    expect(table).toContain('| 4 (cap 50) | archive off |');
    expect(table).toContain('S3 (moto)');
    const checks = renderArchiveChecks([row!]);
    expect(checks).toContain('holds: archive-4, S3 (moto)');
    expect(checks).not.toContain('DOES NOT HOLD');
    expect(renderArchiveNotes([row!], 0)).toContain('EVAL_RO 4');
  }, 60_000);

  it('counts store requests by what they carry, a pipeline once', () => {
    const counted = countRequests([
      { commands: [['SCAN', '0', 'MATCH', 'lab_session:*', 'COUNT', '1000']] },
      { commands: [['SCAN', '17', 'MATCH', 'lab_session:*', 'COUNT', '1000']] },
      { commands: [['EVAL', 'script', '3', 'lab-reconciler:key-sightings', 'lab_session:a', 'lab-reconciler:sighting:key:a', '1', '2', '0', 'a']] },
      { commands: [['DEL', 'lab-reconciler:sighting:key:a'], ['SREM', 'lab-reconciler:key-sightings', 'a']] },
      { commands: [['SET', 'lab-reconciler:lock', 'run-1', 'nx', 'px', '900000']] },
    ]);
    expect(counted).toEqual({
      total: 5,
      scan: 2,
      commands: 6,
      byCommand: { SCAN: 2, 'EVAL key-sightings': 1, 'DEL key-sighting + SREM key-sightings': 1, 'SET lock': 1 },
    });
  });

  it.runIf(cgroups)('reports a run its envelope kills as killed, in the sizing table', async () => {
    // Prepare: 3 sessions a namespace; 24 MB is less than Node needs to start the child.
    const options = { latencyMs: 0, concurrency: 8, pageSize: undefined, objects: 'production' as const, cgroup: true, progress: () => {} };

    // Act
    const cells = await runSizing({ ...options, perNamespace: [3], memoryMb: [24, 256] });

    // Assess
    expect(cells.map((c) => [c.sessions, c.memoryMb, c.result.status])).toEqual([
      [17, 24, 'killed'],
      [17, 256, 'ok'],
    ]);
    expect(cells[0]!.result).toMatchObject({ confinement: { by: 'cgroup' }, detail: expect.stringContaining('SIGKILL') });
    const table = renderSizing(cells);
    expect(table).toContain('| 17 | killed after');
    expect(table).toContain('256 MB');
  }, 60_000);

  it('reports a run that V8 ends at its heap limit as out of heap (the flags alone)', async () => {
    // Act: 8 MB of old space cannot hold the child's modules.
    const [cell] = await runSizing({ latencyMs: 0, concurrency: 8, pageSize: undefined, objects: 'small', cgroup: false, progress: () => {}, perNamespace: [1], memoryMb: [8] });

    // Assess
    expect(cell?.result).toMatchObject({ status: 'out of heap', confinement: { by: 'flags' }, detail: expect.stringContaining('heap') });
  }, 60_000);

  it("gives the child the Lambda runtime's V8 flags, and reads the envelope flags", () => {
    expect(lambdaFlags(256)).toEqual(['--max-semi-space-size=12', '--max-old-space-size=231']);
    expect(lambdaFlags(1_024)).toEqual(['--max-semi-space-size=51', '--max-old-space-size=922']);
    const options = parseOptions(['--sizing', '--sizing-sessions', '100,200', '--sizing-memory', '256,512', '--envelope', '0', '--no-cgroup', '--objects', 'small']);
    expect(options).toMatchObject({ sizing: true, sizingSessions: [100, 200], sizingMemory: [256, 512], envelopeMb: 0, cgroup: false, objects: 'small' });
    expect(() => parseOptions(['--objects', 'tiny'])).toThrow(/--objects/);
    // The session keys' bench: in the default run, skipped with --no-keys, its rows from flags.
    expect(parseOptions([])).toMatchObject({ keys: true, keysSizes: [1_000, 10_000, 100_000], keysUnrelated: 3 });
    expect(parseOptions(['--no-keys', '--keys-sizes', '50,500', '--keys-unrelated', '0', '--only', KEYS_SCENARIO])).toMatchObject({
      keys: false,
      keysSizes: [50, 500],
      keysUnrelated: 0,
      only: ['keys'],
    });
    expect(() => parseOptions(['--keys-sizes', '0'])).toThrow(/--keys-sizes/);
    // The archive's cost: only with --only archive, its rows from flags.
    expect(parseOptions([])).toMatchObject({ archiveSessions: [50, 200], archiveLive: 2_500 });
    expect(parseOptions(['--only', ARCHIVE_SCENARIO, '--archive-sessions', '10,20', '--archive-live', '3'])).toMatchObject({ only: ['archive'], archiveSessions: [10, 20], archiveLive: 3 });
    expect(() => parseOptions(['--archive-sessions', '0'])).toThrow(/--archive-sessions/);
  });

  it('computes the limit: pages of each list in sequence, then deletes spread over the concurrency', () => {
    // Prepare
    const burst = standardScenarios().find((s) => s.name === 'burst')!;

    // Act
    const limit = limitOf(burst, { pageSize: 500, concurrency: 8, latencyMs: 5 });

    // Assess
    // 4 namespaces: Deployments and EndpointSlices 2,500 (5 pages); the others 2,750 (6 pages).
    expect(limit.listRequests).toBe(4 * (5 + 6 + 6 + 6 + 5));
    expect(limit.deletes).toBe(3_000);
    expect(limit.listRounds).toBe(Math.ceil(108 / 8));
    expect(limit.deleteRounds).toBe(375);
    expect(limit.wallMs).toBe((14 + 375) * 5);
    // The longest list bounds the rounds when there are few lists.
    expect(chainRounds([50, 1, 1, 1, 1], 8)).toBe(50);
  });

  it('shrinks large scenarios for the baseline, keeping a share of orphans', () => {
    // Prepare
    const burst = standardScenarios().find((s) => s.name === 'burst')!;

    // Act
    const small = scaledDown(burst, 2_500);

    // Assess
    expect(totalSessions(small)).toBeLessThanOrEqual(2_500);
    expect(small.orphans).toBe(227);
    const smoke = smokeScenario();
    expect(scaledDown(smoke, 2_500)).toBe(smoke);
    expect(scaledDown(burst, 0)).toBe(burst);
  });
});
