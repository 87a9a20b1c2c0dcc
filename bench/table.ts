/** The table of the results, as Markdown (readable in a terminal, pasteable into docs/performance.md). */
import type { Row } from './measure.js';
import type { Verdict } from './targets.js';

const MIB = 1024 * 1024;

function ms(value: number): string {
  if (value >= 10_000) return `${(value / 1000).toFixed(1)} s`;
  if (value >= 1_000) return `${(value / 1000).toFixed(2)} s`;
  return `${value.toFixed(0)} ms`;
}

function ratio(a: number, b: number): string {
  if (b === 0 || !Number.isFinite(a / b)) return '-';
  const r = a / b;
  return r >= 0.1 ? r.toFixed(2) : r.toFixed(4);
}

const mib = (bytes: number) => `${(bytes / MIB).toFixed(0)} MiB`;
const count = (n: number) => n.toLocaleString('en-US');

function line(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

/** The main table: one row per scenario; `*` marks the baseline's extrapolated figures. */
export function renderTable(rows: readonly Row[]): string {
  const header = [
    'scenario',
    'requests: baseline',
    'product',
    'limit',
    'P/B',
    'P/L',
    'wall: baseline',
    'product',
    'limit',
    'P/B',
    'P/L',
    'peak RSS: baseline',
    'product',
    'floor',
  ];
  const out = [line(header), line(header.map((_, i) => (i === 0 ? '---' : '---:')))];
  for (const { scenario, baseline, product, limit } of rows) {
    const star = baseline.extrapolated ? '*' : '';
    out.push(
      line([
        scenario.label,
        `${count(baseline.requests)}${star}`,
        count(product.requests),
        count(limit.requests),
        ratio(product.requests, baseline.requests),
        ratio(product.requests, limit.requests),
        `${ms(baseline.wallMs)}${star}`,
        ms(product.wallMs),
        ms(limit.wallMs),
        ratio(product.wallMs, baseline.wallMs),
        ratio(product.wallMs, limit.wallMs),
        `${mib(baseline.maxRssBytes)}${star}`,
        mib(product.maxRssBytes),
        mib(product.idleRssBytes),
      ]),
    );
  }
  return out.join('\n');
}

/** Notes under the table: what was extrapolated, how the product's requests split. */
export function renderNotes(rows: readonly Row[]): string {
  const notes: string[] = [];
  for (const { scenario, baseline, product } of rows) {
    if (baseline.extrapolated) {
      notes.push(
        `* ${scenario.name}: baseline run on ${count(baseline.measuredSessions)} sessions (${count(baseline.measuredRequests)} requests, ${ms(baseline.measuredWallMs)}, peak RSS measured there); ` +
          `requests computed exactly for ${count(scenario.namespaces.length * scenario.livePerNamespace + scenario.orphans)} sessions, wall time scaled by requests`,
      );
    }
    const runs = product.wallRunsMs.length > 1 ? ` (median of ${product.wallRunsMs.map(ms).join(', ')})` : '';
    notes.push(
      `  ${scenario.name}: product wall ${ms(product.wallMs)}${runs}; product = ${product.byVerb.list} list pages + ${product.byVerb.get} Deployment re-checks + ${product.byVerb.delete} deletes ` +
        `(page size ${product.pageSize}); CPU during the run: product ${ms(product.clientCpuMs)} + API server ${ms(product.serverCpuMs)}, ` +
        `baseline ${ms(baseline.clientCpuMs)} + API server ${ms(baseline.serverCpuMs)}${baseline.extrapolated ? ' (at its measured size)' : ''}`,
    );
  }
  return notes.join('\n');
}

/** The targets, one line each. */
export function renderVerdicts(verdicts: readonly Verdict[]): string {
  return verdicts
    .map((v) => `- ${v.met === undefined ? 'NOT MEASURED' : v.met ? 'MET' : 'NOT MET'}: ${v.target} -- ${v.detail}`)
    .join('\n');
}
