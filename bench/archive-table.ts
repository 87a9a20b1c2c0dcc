/** The archive's bench (bench/archive.ts) as Markdown: the table, the checks, the notes. */
import type { ArchiveRow, ArchiveVariantFigures } from './archive.js';
import { VARIANT_LABEL, archiveRequests } from './archive.js';
import { line, mib, ms, size } from './table.js';

const count = (n: number) => n.toLocaleString('en-US');
const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : '-');

/** Mean wall time of one call of a kind, over a run. */
const perCall = (t: { calls: number; totalMs: number }) => (t.calls > 0 ? `${fixed(t.totalMs / t.calls, 1)} ms` : '-');

/** The table: one row per variant, three per size. */
export function renderArchive(rows: readonly ArchiveRow[]): string {
  const header = [
    'cleaned sessions',
    'archive',
    'K8s: list',
    'get',
    'delete',
    'store: requests',
    'commands',
    'key reads',
    'archive writes',
    'S3 requests',
    'requests in all',
    'per cleaned session',
    'added per cleaned session',
    'wall: run',
    'on/off',
    'apply',
    'on/off',
    'run outside apply',
    'archive step per session',
    'record per session',
  ];
  const out = [line(header), line(header.map((_, i) => (i < 2 ? '---' : '---:')))];
  for (const { scenario, variants } of rows) {
    const off = variants.find((v) => v.variant === 'off')!;
    const n = scenario.orphans;
    for (const v of variants) {
      const { median: run } = v;
      const on = v.variant !== 'off';
      const step = run.report.reads.totalMs + run.report.keyReads.totalMs + run.report.writes.totalMs;
      out.push(
        line([
          v === variants[0] ? `${count(n)} (cap ${count(scenario.maxDeletions)})` : '',
          VARIANT_LABEL[v.variant],
          count(run.byVerb.list),
          count(run.byVerb.get),
          count(run.byVerb.delete),
          count(run.store.total),
          count(run.store.commands),
          count(run.storeCommands.EVAL_RO ?? 0),
          count(run.report.writes.calls),
          count(run.s3.requests),
          count(v.totalRequests),
          fixed(v.totalRequests / n, 2),
          on ? fixed((v.totalRequests - off.totalRequests) / n, 2) : '-',
          ms(v.wallMs),
          on ? ratio(v.wallMs, off.wallMs) : '-',
          ms(v.applyMs),
          on ? ratio(v.applyMs, off.applyMs) : '-',
          ms(v.wallMs - v.applyMs),
          on ? `${fixed(step / n, 1)} ms` : '-',
          on ? size(run.report.writes.bytes / Math.max(1, run.report.writes.calls)) : '-',
        ]),
      );
    }
  }
  return out.join('\n');
}

/** One check line per archiving variant and size. */
export function renderArchiveChecks(rows: readonly ArchiveRow[]): string {
  const lines: string[] = [];
  for (const { scenario, variants, limit } of rows) {
    const off = variants.find((v) => v.variant === 'off')!;
    for (const v of variants) {
      if (!v.check) continue;
      const { perSession, otherChanges, replaced, holds } = v.check;
      const k8sAndWrites = (f: ArchiveVariantFigures) => f.median.kubeRequests + f.median.report.writes.calls;
      lines.push(
        `  ${holds ? 'holds' : 'DOES NOT HOLD'}: ${scenario.name}, ${VARIANT_LABEL[v.variant]}: the limit with the archive counts the three GETs and one write per session as needed: ` +
          `added per cleaned session ${fixed(perSession.get, 2)} GET + ${fixed(perSession.keyReads, 2)} key read (EVAL_RO) + ${fixed(perSession.writes, 2)} write` +
          `${otherChanges.length > 0 ? `; also changed: ${otherChanges.join(', ')}` : ', nothing else'}` +
          `${replaced.length > 0 ? ` (store commands exchanged one for one: ${replaced.join(', ')})` : ''}` +
          ` (every run: ${v.runs.length}); limit ${count(limit.off.requests)} -> ${count(limit.onRequests)}, ` +
          `product's Kubernetes requests and writes ${count(k8sAndWrites(off))} -> ${count(k8sAndWrites(v))}, over the limit ${count(k8sAndWrites(off) - limit.off.requests)} -> ${count(k8sAndWrites(v) - limit.onRequests)}`,
      );
    }
  }
  return lines.join('\n');
}

/** Under the table: what each column counts, and each run's detail. */
export function renderArchiveNotes(rows: readonly ArchiveRow[], latencyMs: number): string {
  const notes = [
    `${latencyMs} ms of latency before every answer of the API server, the store and S3 (a proxy in front of moto). "key reads": EVAL_RO commands (the archive's read of a session key: type, value, PTTL). ` +
      '"archive writes": records written (a PutObject each to S3, a file each to the directory). "S3 requests": HTTP requests through the proxy. ' +
      '"requests in all": Kubernetes + the store\'s HTTP requests + the archive\'s (S3 requests, or files). "apply": from the pending keys\' mark to the end of the sessions\' key deletes (the whole of applyPlan); "run outside apply": wall less apply (medians), the lists and the rest, the same work in every variant: its spread is the machine\'s noise; ' +
      '"archive step per session": the wall time of its three GETs, key read and write, added up over the sessions, per session (the sessions run `concurrency` at a time). Wall times: the median of the runs, after one run whose figures are dropped.',
  ];
  for (const { scenario, keyValueBytes, variants } of rows) {
    notes.push(`  ${scenario.name}: ${count(scenario.namespaces.length * scenario.livePerNamespace)} live sessions + ${count(scenario.orphans)} orphans, production-shaped; a key value of ${size(keyValueBytes)}; page size ${count(variants[0]!.median.pageSize)}`);
    for (const v of variants) {
      const { median: run } = v;
      const r = run.report;
      const commands = Object.entries(run.storeCommands)
        .map(([label, n]) => `${label} ${n}`)
        .join(', ');
      notes.push(
        `  ${scenario.name}, ${v.variant}: wall ${v.runs.map((x) => ms(x.report.wallMs)).join(' / ')}, apply ${v.runs.map((x) => ms(x.report.applyMs)).join(' / ')} (sessions alone ${ms(v.sessionsMs)}); ` +
          `client CPU ${ms(r.cpuMs)}, peak RSS ${mib(r.maxRssBytes)}; store commands: ${commands}` +
          (v.variant === 'off'
            ? ''
            : `; per call: GET ${perCall(r.reads)}, key read ${perCall(r.keyReads)}, write ${perCall(r.writes)}; records ${count(run.records.count)} found, ${size(run.records.bytes)}` +
              (run.s3.puts > 0 ? `; PUT bodies on the wire ${size(run.s3.putBodyBytes)} (${archiveRequests(run)} S3 requests)` : '')),
      );
    }
  }
  return notes.join('\n');
}

/** Whether every check held. */
export const archiveChecksHold = (rows: readonly ArchiveRow[]) => rows.every((row) => row.variants.every((v) => v.check?.holds !== false));
