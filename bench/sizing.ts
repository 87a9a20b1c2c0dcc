/**
 * The sizing table (`npm run bench -- --sizing`): the product alone, no baseline, at several
 * session counts, each run inside Lambda envelopes of several sizes (see envelope.ts): the
 * peak memory and run time of each cell, or how the envelope ended the run. It answers
 * "how much memory does the function need for N sessions".
 */
import { startKubeApiServer } from '../test/support/kube-api-server.js';
import type { EnvelopeResult } from './envelope.js';
import type { RunSettings } from './runs.js';
import { runEnveloped } from './runs.js';
import { largeScenario, totalSessions } from './scenarios.js';
import { seedScenario } from './seed.js';
import { ENVELOPE_PEAK, envelopeNote, line, mib, ms } from './table.js';

export interface SizingOptions extends RunSettings {
  /** Live sessions per namespace of each row (4 namespaces, 5 orphans). */
  perNamespace: number[];
  /** The envelopes of the columns, in MB. */
  memoryMb: number[];
  cgroup: boolean;
  progress: (line: string) => void;
}

export interface SizingCell {
  sessions: number;
  memoryMb: number;
  result: EnvelopeResult;
}

/** Runs every cell: per row one seed, then one run per envelope (only the orphans seeded again). */
export async function runSizing(options: SizingOptions): Promise<SizingCell[]> {
  const server = await startKubeApiServer();
  const cells: SizingCell[] = [];
  try {
    for (const perNamespace of options.perNamespace) {
      const scenario = largeScenario(perNamespace, 'sizing');
      options.progress(`${scenario.label}: seeding...`);
      seedScenario(server, scenario, options.objects);
      for (const memoryMb of options.memoryMb) {
        // The Lambda's CPU share too: at 256 MB a function has about a seventh of a vCPU, and run time follows.
        const result = await runEnveloped(server, scenario, options, memoryMb, options.cgroup, true);
        options.progress(`${scenario.label}: in ${memoryMb} MB: ${cell(result)}`);
        cells.push({ sessions: totalSessions(scenario), memoryMb, result });
      }
      server.clear();
    }
    return cells;
  } finally {
    await server.close();
  }
}

function cell(result: EnvelopeResult): string {
  if (result.status !== 'ok') return `${result.status} after ${ms(result.elapsedMs)}`;
  return `${mib(result.peakBytes)}${result.confinement.by === 'flags' ? ' (RSS)' : ''}, ${ms(result.report.wallMs)}`;
}

/** Sessions down, envelopes across; then how the runs were held and what ended the ones that failed. */
export function renderSizing(cells: readonly SizingCell[]): string {
  const sessions = [...new Set(cells.map((c) => c.sessions))];
  const envelopes = [...new Set(cells.map((c) => c.memoryMb))];
  const header = ['sessions', ...envelopes.map((mb) => `${mb.toLocaleString('en-US')} MB`)];
  const out = [line(header), line(header.map((_, i) => (i === 0 ? '---' : '---:')))];
  for (const n of sessions) {
    const row = envelopes.map((mb) => cells.find((c) => c.sessions === n && c.memoryMb === mb));
    out.push(line([n.toLocaleString('en-US'), ...row.map((c) => (c ? cell(c.result) : '-'))]));
  }
  out.push(
    '',
    `Each cell: the run's peak memory ("(RSS)": the process's peak resident set, with the V8 flags alone) and its wall time with the Lambda's CPU share for that memory (a cgroup CFS quota of MB/1,769 of a CPU), or how the envelope ended it. ${ENVELOPE_PEAK}`,
  );
  for (const c of cells) out.push(`- ${c.sessions.toLocaleString('en-US')} sessions in ${c.memoryMb} MB: ${envelopeNote(c.result)}`);
  return out.join('\n');
}
