/**
 * A smoke run of the benchmark (`npm run bench`) on one tiny scenario, through the same code:
 * the API server hosted here, the baseline and the product each in a child process bundled
 * by esbuild, the limit, the table and the targets. It keeps the bench from rotting; the
 * figures themselves come from `npm run bench` (docs/performance.md).
 */
import { describe, expect, it } from 'vitest';
import { runBench } from '../../bench/bench.js';
import { chainRounds, limitOf } from '../../bench/limit.js';
import { scaledDown, smokeScenario, standardScenarios, totalSessions } from '../../bench/scenarios.js';
import { renderNotes, renderTable } from '../../bench/table.js';
import { judge } from '../../bench/targets.js';

describe('the benchmark', () => {
  it('measures a tiny scenario end to end, with sane figures', async () => {
    // Prepare: 1 namespace x 20 sessions, 2 of them orphaned; no latency, so it is quick.
    const scenario = smokeScenario();
    const options = { latencyMs: 0, concurrency: 8, pageSize: undefined, baselineCap: 2_500, repeat: 2, progress: () => {} };

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
    const table = renderTable([row!]);
    expect(table).toContain(scenario.label);
    expect(renderNotes([row!])).toContain('5 list pages');
    expect(judge([row!], options).every((v) => v.met === undefined)).toBe(true);
  }, 60_000);

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
