/**
 * `npm run bench`: the scenarios' table, the targets, and the cold start; with `--json`, the
 * same figures in bench/results.json. See docs/performance.md.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { runBench } from './bench.js';
import { repoRoot } from './bundle.js';
import { measureColdStart, renderColdStart } from './coldstart.js';
import { USAGE, parseOptions } from './options.js';
import { standardScenarios } from './scenarios.js';
import { renderNotes, renderTable, renderVerdicts } from './table.js';
import { judge } from './targets.js';

async function main(argv: readonly string[]): Promise<number> {
  const options = parseOptions(argv);
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const scenarios = standardScenarios().filter((s) => !options.only || options.only.includes(s.name));
  if (scenarios.length === 0) throw new Error(`--only matched no scenario`);
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
  const settings = {
    latencyMs: options.latencyMs,
    concurrency: options.concurrency,
    pageSize: options.pageSize,
    baselineCap: options.baselineCap,
    repeat: options.repeat,
  };
  process.stderr.write(`Machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}\n`);
  process.stderr.write(`Latency ${options.latencyMs} ms per request, concurrency ${options.concurrency}, baseline cap ${options.baselineCap} sessions, product runs ${options.repeat} per scenario\n`);

  const started = performance.now();
  // Other work on the machine slows both sides; the load average says how much there was.
  const loadBefore = loadavg()[0]!;
  const rows = await runBench(scenarios, { ...settings, progress: (line) => process.stderr.write(`  ${line}\n`) });
  const loadAfter = loadavg()[0]!;
  const verdicts = judge(rows, settings);
  process.stdout.write(`\n${renderTable(rows)}\n\n${renderNotes(rows)}\n\nTargets:\n${renderVerdicts(verdicts)}\n`);
  process.stdout.write(`\nLoad average (1 min) before / after the scenarios: ${loadBefore.toFixed(2)} / ${loadAfter.toFixed(2)} on ${machine.cpus} CPUs\n`);

  const coldStart = options.coldStart ? await measureColdStart({ runs: options.coldRuns, progress: (line) => process.stderr.write(`  ${line}\n`) }) : undefined;
  if (coldStart) process.stdout.write(`\n${renderColdStart(coldStart)}\n`);
  process.stdout.write(`\nBench took ${((performance.now() - started) / 1000).toFixed(0)} s\n`);

  if (options.json) {
    const file = join(repoRoot(), 'bench', 'results.json');
    const results = { date: new Date().toISOString(), machine, settings, loadAverage: { before: loadBefore, after: loadAfter }, rows, verdicts, coldStart };
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    process.stderr.write(`Wrote ${file}\n`);
  }
  return 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
