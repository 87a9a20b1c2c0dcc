/** The table of the results, as Markdown (readable in a terminal, pasteable into docs/performance.md). */
import type { EnvelopeResult } from './envelope.js';
import type { Row } from './measure.js';
import type { Verdict } from './targets.js';

const MIB = 1024 * 1024;

export function ms(value: number): string {
  if (value >= 10_000) return `${(value / 1000).toFixed(1)} s`;
  if (value >= 1_000) return `${(value / 1000).toFixed(2)} s`;
  return `${value.toFixed(0)} ms`;
}

function ratio(a: number, b: number): string {
  if (b === 0 || !Number.isFinite(a / b)) return '-';
  const r = a / b;
  return r >= 0.1 ? r.toFixed(2) : r.toFixed(4);
}

export const mib = (bytes: number) => `${(bytes / MIB).toFixed(0)} MiB`;
const count = (n: number) => n.toLocaleString('en-US');

/** Bytes in the unit that keeps three digits or so. */
export function size(bytes: number): string {
  if (bytes < 1024) return `${bytes.toFixed(0)} B`;
  if (bytes < MIB) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 * MIB) return `${(bytes / MIB).toFixed(1)} MiB`;
  return `${(bytes / 1024 / MIB).toFixed(2)} GiB`;
}

export function line(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

/** What an envelope's peak counts, said under every table that shows one. */
export const ENVELOPE_PEAK =
  "Envelope peak: the cgroup's memory.max_usage_in_bytes, what the kernel charged the run's process: its anonymous and kernel memory and the page cache it brought in. " +
  "Pages of Node's binary that earlier processes had cached stay charged where first read: they are in the process's RSS, not in this peak (the RSS of the run is in its note), and the kernel could reclaim them under pressure. " +
  '"killed": the cgroup\'s OOM killer ended the run (SIGKILL, as the Lambda ends a function over its memory); "out of heap": V8 reached --max-old-space-size and aborted.';

/** An envelope run in one cell: its peak, or how it was ended. */
export function envelopeCell(result: EnvelopeResult | undefined): string {
  if (!result) return '-';
  if (result.status !== 'ok') return result.status;
  return `${mib(result.peakBytes)}${result.confinement.by === 'flags' ? ' (RSS)' : ''}`;
}

/** One line about an envelope run: how it was held, and what it used or why it ended. */
export function envelopeNote(result: EnvelopeResult): string {
  const held = result.confinement.by === 'cgroup' ? `a ${result.memoryMb} MB memory cgroup` : `V8 flags only (${result.confinement.why})`;
  const fail = result.failcnt === undefined ? '' : `, failcnt ${result.failcnt}`;
  if (result.status === 'ok') {
    const { wallMs, memory } = result.report;
    return `${held} and the Lambda's V8 flags: peak ${mib(result.peakBytes)}${fail}, wall ${ms(wallMs)}, RSS ${mib(memory.maxRssBytes)}, heap ${mib(memory.peakHeapUsedBytes)}`;
  }
  const peak = result.peakBytes === undefined ? '' : `, peak ${mib(result.peakBytes)}`;
  return `${held} and the Lambda's V8 flags: ${result.status.toUpperCase()} (${result.detail})${peak}${fail}`;
}

/** The main table: one row per scenario; `*` marks the baseline's extrapolated figures. */
export function renderTable(rows: readonly Row[]): string {
  const envelopeMb = rows.find((r) => r.envelope)?.envelope?.memoryMb;
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
    'bytes: baseline',
    'product',
    'limit',
    envelopeMb === undefined ? 'product in an envelope' : `product in ${envelopeMb} MB`,
  ];
  const out = [line(header), line(header.map((_, i) => (i === 0 ? '---' : '---:')))];
  for (const { scenario, baseline, product, limit, limitBytes, envelope } of rows) {
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
        `${size(baseline.bytes)}${star}`,
        size(product.bytes),
        size(limitBytes.total),
        envelopeCell(envelope),
      ]),
    );
  }
  return out.join('\n');
}

/** Notes under the table: what was extrapolated, how the product's requests split. */
export function renderNotes(rows: readonly Row[]): string {
  const notes: string[] = [];
  for (const { scenario, baseline, product, limitBytes, envelope } of rows) {
    if (baseline.extrapolated) {
      notes.push(
        `* ${scenario.name}: baseline run on ${count(baseline.measuredSessions)} sessions (${count(baseline.measuredRequests)} requests, ${ms(baseline.measuredWallMs)}, ${size(baseline.measuredBytes)}, peak RSS measured there); ` +
          `requests computed exactly for ${count(scenario.namespaces.length * scenario.livePerNamespace + scenario.orphans)} sessions, wall time and bytes scaled by requests`,
      );
    }
    const served = limitBytes.metadataServed ? 'served as PartialObjectMetadataList' : 'NOT served metadata-only by this server (full lists counted)';
    notes.push(
      `  ${scenario.name}: bytes: product ${size(product.bytes)} (${product.listAccept.metadata} of ${product.listAccept.lists} list requests asked for metadata only); ` +
        `limit ${size(limitBytes.total)} = metadata lists ${size(limitBytes.metadataLists)} (${served}; in full ${size(limitBytes.fullLists)}) + EndpointSlices ${size(limitBytes.sliceLists)} + deletes ${size(limitBytes.deletes)}`,
    );
    if (envelope) notes.push(`  ${scenario.name}: product in ${envelope.memoryMb} MB: ${envelopeNote(envelope)}`);
    const runs = product.wallRunsMs.length > 1 ? ` (median of ${product.wallRunsMs.map(ms).join(', ')})` : '';
    notes.push(
      `  ${scenario.name}: product wall ${ms(product.wallMs)}${runs}; product = ${product.byVerb.list} list pages + ${product.byVerb.get} Deployment re-checks + ${product.byVerb.delete} deletes ` +
        `(page size ${product.pageSize}); CPU during the run: product ${ms(product.clientCpuMs)} + API server ${ms(product.serverCpuMs)}, ` +
        `baseline ${ms(baseline.clientCpuMs)} + API server ${ms(baseline.serverCpuMs)}${baseline.extrapolated ? ' (at its measured size)' : ''}`,
    );
  }
  if (rows.some((r) => r.envelope)) notes.push(ENVELOPE_PEAK);
  return notes.join('\n');
}

/** The targets, one line each. */
export function renderVerdicts(verdicts: readonly Verdict[]): string {
  return verdicts
    .map((v) => `- ${v.met === undefined ? 'NOT MEASURED' : v.met ? 'MET' : 'NOT MET'}: ${v.target} -- ${v.detail}`)
    .join('\n');
}
