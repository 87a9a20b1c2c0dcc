/**
 * The issue's targets, judged from one run's rows: each met or not, with the figures that
 * decide it.
 */
import type { Row } from './measure.js';
import { totalSessions } from './scenarios.js';
import { envelopeCell, envelopeNote } from './table.js';

export interface Verdict {
  target: string;
  met: boolean | undefined;
  detail: string;
}

export const MIB = 1024 * 1024;
const ratio = (a: number, b: number) => (b === 0 ? Number.NaN : a / b);
export const fixed = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

/** The verdicts for the rows present (a scenario left out with --only is reported as not measured). */
export function judge(rows: readonly Row[], settings: { latencyMs: number; concurrency: number }): Verdict[] {
  const find = (name: string) => rows.find((r) => r.scenario.name === name);
  const verdicts: Verdict[] = [];
  const missing = (target: string, name: string) => verdicts.push({ target, met: undefined, detail: `scenario ${name} was not run` });

  const steady = find('steady');
  if (steady) {
    const fewer = ratio(steady.baseline.requests, steady.product.requests);
    verdicts.push({
      target: 'steady: >= 100x fewer requests than the baseline',
      met: fewer >= 100,
      detail: `${steady.baseline.requests} / ${steady.product.requests} = ${fixed(fewer, 1)}x fewer (the limit itself: ${fixed(ratio(steady.baseline.requests, steady.limit.requests), 1)}x)`,
    });
    const overLimit = ratio(steady.product.requests, steady.limit.requests);
    verdicts.push({
      target: "steady: <= 1.2x the limit's requests",
      met: overLimit <= 1.2,
      detail: `${steady.product.requests} / ${steady.limit.requests} = ${fixed(overLimit)}x`,
    });
  } else missing('steady', 'steady');

  const burst = find('burst');
  if (burst && settings.latencyMs > 0) {
    const overLimit = ratio(burst.product.wallMs, burst.limit.wallMs);
    verdicts.push({
      target: `burst: wall time <= 1.5x the limit's (concurrency ${settings.concurrency}${settings.concurrency === 8 ? ', the default' : ', NOT the default 8'})`,
      met: overLimit <= 1.5,
      detail: `${fixed(burst.product.wallMs, 0)} ms / ${fixed(burst.limit.wallMs, 0)} ms = ${fixed(overLimit)}x`,
    });
  } else if (burst) {
    verdicts.push({ target: "burst: wall time <= 1.5x the limit's", met: undefined, detail: 'latency 0: the limit has no time' });
  } else missing('burst', 'burst');

  const growth = rows.filter((r) => r.scenario.name.startsWith('growth-')).sort((a, b) => a.scenario.livePerNamespace - b.scenario.livePerNamespace);
  if (growth.length >= 2) {
    // Every list request is a page the limit counts too, and the rest (per orphan: deletes,
    // and the product's re-checks) is the same whatever the number of sessions.
    const perOrphan = new Set(growth.map((r) => r.product.requests - r.product.byVerb.list));
    const pagesOnly = growth.every((r) => r.product.byVerb.list === r.limit.listRequests) && perOrphan.size === 1;
    const first = growth[0]!;
    const last = growth.at(-1)!;
    verdicts.push({
      target: 'growth: requests grow with pages, not with sessions',
      met: pagesOnly,
      detail:
        `${growth.map((r) => `${totalSessions(r.scenario)}: ${r.product.byVerb.list} list pages (limit ${r.limit.listRequests}) + ${r.product.byVerb.get + r.product.byVerb.delete} per-orphan`).join('; ')}; ` +
        `x${fixed(totalSessions(last.scenario) / totalSessions(first.scenario), 0)} sessions -> x${fixed(ratio(last.product.requests, first.product.requests), 1)} requests`,
    });
  } else missing('growth: requests grow with pages', 'growth-*');

  const largest = find('growth-25000');
  if (largest) {
    const rss = largest.product.maxRssBytes;
    verdicts.push({
      target: 'growth: peak memory at 25,000 sessions < 256 MB',
      met: rss < 256 * MIB,
      detail:
        `peak RSS ${fixed(rss / MIB, 0)} MiB (heap used at most ${fixed(largest.product.peakHeapUsedBytes / MIB, 0)} MiB; the process before the run: ${fixed(largest.product.idleRssBytes / MIB, 0)} MiB)` +
        (largest.envelope ? `; in the ${largest.envelope.memoryMb} MB envelope: ${envelopeCell(largest.envelope)}` : ''),
    });
  } else missing('growth: peak memory at 25,000 sessions', 'growth-25000');

  // The function is configured with 256 MB (serverless.yml): a run it cannot finish there is a failed run.
  for (const row of rows.filter((r) => r.scenario.name === 'large' || r.scenario.name === 'growth-25000')) {
    const target = `${row.scenario.name}: completes inside the Lambda's 256 MB envelope`;
    if (row.envelope?.memoryMb !== 256) verdicts.push({ target, met: undefined, detail: row.envelope ? `run in ${row.envelope.memoryMb} MB instead` : 'no envelope run (--envelope 0)' });
    else verdicts.push({ target, met: row.envelope.status === 'ok', detail: envelopeNote(row.envelope) });
  }
  return verdicts;
}
