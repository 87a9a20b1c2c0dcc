/**
 * The targets of the production-shaped scale issue, judged from one run's rows: memory inside
 * the Lambda's 256 MB envelope, bytes received against the limit's, client CPU against the
 * full-list path's, and requests no more than before. (The burst target is in targets.ts.)
 */
import type { Row } from './measure.js';
import type { Verdict } from './targets.js';
import { MIB, fixed } from './targets.js';

/** Requests of the product before this issue (docs/performance.md, commit 27e0dc1), per scenario. */
const REQUESTS_BEFORE: Readonly<Record<string, number>> = { steady: 80, burst: 4060 };

function envelopePeak(row: Row, mostMib: number, target: string): Verdict {
  const env = row.envelope;
  if (!env || env.memoryMb !== 256) return { target, met: undefined, detail: env ? `run in ${env.memoryMb} MB instead` : 'no envelope run (--envelope 0)' };
  if (env.status !== 'ok') return { target, met: false, detail: `${env.status} (${env.detail})` };
  const rss = env.report.memory.maxRssBytes;
  const held = env.confinement.by === 'cgroup' ? 'memory cgroup peak' : 'peak RSS (V8 flags only, no cgroup)';
  return {
    target,
    met: env.peakBytes <= mostMib * MIB,
    detail: `${held} ${fixed(env.peakBytes / MIB, 0)} MiB (the process's own peak RSS ${fixed(rss / MIB, 0)} MiB), wall ${fixed(env.report.wallMs / 1000, 1)} s`,
  };
}

export function judgeScale(rows: readonly Row[]): Verdict[] {
  const find = (name: string) => rows.find((r) => r.scenario.name === name);
  const verdicts: Verdict[] = [];
  const steady = find('steady');
  const large = find('large');
  if (steady) verdicts.push(envelopePeak(steady, 128, 'steady (4 x 2,500): peak memory in the 256 MB envelope <= 128 MiB'));
  if (large) verdicts.push(envelopePeak(large, 200, 'large (4 x 25,000): completes in the 256 MB envelope, peak <= 200 MiB'));
  for (const row of rows) {
    const over = row.product.bytes / row.limitBytes.total;
    verdicts.push({
      target: `${row.scenario.name}: bytes received <= 1.05x the limit's`,
      met: over <= 1.05,
      detail: `${fixed(row.product.bytes / MIB, 1)} / ${fixed(row.limitBytes.total / MIB, 1)} MiB = ${fixed(over, 3)}x (the same lists in full: ${fixed((row.limitBytes.fullLists + row.limitBytes.sliceLists) / MIB, 1)} MiB)`,
    });
  }
  if (steady?.fullLists) {
    const share = steady.product.clientCpuMs / steady.fullLists.clientCpuMs;
    verdicts.push({
      target: "steady: client CPU <= 1/3 of the full-list path's (same run)",
      met: share <= 1 / 3,
      detail: `${fixed(steady.product.clientCpuMs, 0)} ms / ${fixed(steady.fullLists.clientCpuMs, 0)} ms = ${fixed(share, 2)} (full lists: ${fixed(steady.fullLists.bytes / MIB, 1)} MiB in ${fixed(steady.fullLists.wallMs / 1000, 2)} s)`,
    });
  }
  for (const [name, before] of Object.entries(REQUESTS_BEFORE)) {
    const row = find(name);
    if (!row) continue;
    verdicts.push({ target: `${name}: requests no more than before (${before})`, met: row.product.requests <= before, detail: `${row.product.requests} requests` });
  }
  return verdicts;
}
