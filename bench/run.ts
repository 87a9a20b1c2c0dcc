/**
 * `npm run bench`: the scenarios' table, the targets, the cost of reading the session
 * keys (bench/keys.ts; `--no-keys` skips it) and the cold start; with `--sizing`, the sizing table
 * instead; with `--json`, the same figures in bench/results.json. See docs/performance.md.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { productionSizes } from '../test/support/kube/production.js';
import { runBench } from './bench.js';
import { repoRoot } from './bundle.js';
import { measureColdStart, renderColdStart } from './coldstart.js';
import { KEYS_SCENARIO, keysCases, renderKeys, renderKeysNotes, runKeysBench } from './keys.js';
import { ARCHIVE_SCENARIO, archiveCases, runArchiveBench } from './archive.js';
import { archiveChecksHold, renderArchive, renderArchiveChecks, renderArchiveNotes } from './archive-table.js';
import { cgroupUnavailable, lambdaFlags } from './envelope.js';
import type { CliOptions } from './options.js';
import { USAGE, parseOptions } from './options.js';
import { standardScenarios } from './scenarios.js';
import { renderSizing, runSizing } from './sizing.js';
import { renderNotes, renderTable, renderVerdicts, size } from './table.js';
import { judge } from './targets.js';
import { judgeScale } from './targets-scale.js';

const say = (line: string) => process.stderr.write(`${line}\n`);

/** The objects' sizes and the envelope's settings, said before anything is measured. */
function preamble(options: CliOptions) {
  const sizes = productionSizes();
  if (options.objects === 'production') {
    const each = (['Deployment', 'Service', 'Ingress', 'ConfigMap', 'EndpointSlice'] as const).map((k) => `${k} ${size(sizes[k])}`).join(', ');
    say(`Objects: production-shaped, as served in a list page (jupyter-lab, session s1000): ${each}; a live session ${size(sizes.total)}`);
  } else say('Objects: small (the tests\' own builders), not production-shaped');
  const memory = options.sizing ? options.sizingMemory : options.envelopeMb > 0 ? [options.envelopeMb] : [];
  if (memory.length > 0) {
    const why = options.cgroup ? cgroupUnavailable() : 'turned off by --no-cgroup';
    const held = why ? `the V8 flags alone (no memory cgroup: ${why})` : 'a cgroup v1 memory cgroup of that size and the V8 flags';
    say(`Envelope: ${memory.map((mb) => `${mb} MB (${lambdaFlags(mb).join(' ')})`).join(', ')}, held by ${held}`);
  }
  return { objectSizes: options.objects === 'production' ? sizes : undefined };
}

async function main(argv: readonly string[]): Promise<number> {
  const options = parseOptions(argv);
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const scenarios = standardScenarios().filter((s) => !options.only || options.only.includes(s.name));
  const keys = !options.sizing && (options.only ? options.only.includes(KEYS_SCENARIO) : options.keys);
  // The archive's cost needs moto (python3 -m moto.server): only when asked for by name.
  const archive = !options.sizing && (options.only?.includes(ARCHIVE_SCENARIO) ?? false);
  if (scenarios.length === 0 && !keys && !archive) throw new Error(`--only matched no scenario`);
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
    objects: options.objects,
    envelopeMb: options.envelopeMb,
    cgroup: options.cgroup,
  };
  say(`Machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}`);
  const runs = options.sizing ? 'sizing: the product alone, one run per cell' : `baseline cap ${options.baselineCap} sessions, product runs ${options.repeat} per scenario`;
  say(`Latency ${options.latencyMs} ms per request, concurrency ${options.concurrency}, ${runs}`);
  const { objectSizes } = preamble(options);
  const started = performance.now();
  const progress = (line: string) => say(`  [${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);

  // Other work on the machine slows both sides; the load average says how much there was.
  const loadBefore = loadavg()[0]!;
  let results: Record<string, unknown>;
  // A check of the archive's bench that does not hold fails the bench (exit status 1).
  let failed = false;
  if (options.sizing) {
    const cells = await runSizing({ ...settings, perNamespace: options.sizingSessions, memoryMb: options.sizingMemory, progress });
    process.stdout.write(`\n${renderSizing(cells)}\n`);
    results = { sizing: cells };
  } else {
    results = {};
    if (scenarios.length > 0) {
      const rows = await runBench(scenarios, { ...settings, progress });
      const verdicts = [...judge(rows, settings), ...judgeScale(rows)];
      process.stdout.write(`\n${renderTable(rows)}\n\n${renderNotes(rows)}\n\nTargets:\n${renderVerdicts(verdicts)}\n`);
      results = { rows, verdicts };
    }
    if (keys) {
      const keysStarted = performance.now();
      const keyRows = await runKeysBench(keysCases(options.keysSizes, options.keysUnrelated), { ...settings, progress });
      const tookS = (performance.now() - keysStarted) / 1000;
      process.stdout.write(`\nSession keys: the store's requests, with RECONCILIATION_STALE_KEYS off and report (${tookS.toFixed(0)} s):\n\n${renderKeys(keyRows)}\n\n${renderKeysNotes(keyRows, options.latencyMs)}\n`);
      results = { ...results, keys: { sizes: options.keysSizes, unrelatedPerKey: options.keysUnrelated, tookS, rows: keyRows } };
    }
    if (archive) {
      const archiveStarted = performance.now();
      const archiveRows = await runArchiveBench(archiveCases(options.archiveSessions, options.archiveLive), { ...settings, progress });
      const tookS = (performance.now() - archiveStarted) / 1000;
      const each = `${options.repeat} run${options.repeat === 1 ? '' : 's'} of each`;
      process.stdout.write(
        `\nThe archive's cost: the product with the archive off, to a directory and to S3, ${each} (${tookS.toFixed(0)} s):\n\n${renderArchive(archiveRows)}\n\n` +
          `Checks:\n${renderArchiveChecks(archiveRows)}\n\n${renderArchiveNotes(archiveRows, options.latencyMs)}\n`,
      );
      results = { ...results, archive: { tookS, rows: archiveRows } };
      if (!archiveChecksHold(archiveRows)) failed = true;
    }
  }
  const loadAfter = loadavg()[0]!;
  process.stdout.write(`\nLoad average (1 min) before / after the runs: ${loadBefore.toFixed(2)} / ${loadAfter.toFixed(2)} on ${machine.cpus} CPUs\n`);

  const coldStart = options.coldStart && !options.sizing ? await measureColdStart({ runs: options.coldRuns, progress }) : undefined;
  if (coldStart) process.stdout.write(`\n${renderColdStart(coldStart)}\n`);
  process.stdout.write(`\nBench took ${((performance.now() - started) / 1000).toFixed(0)} s\n`);

  if (options.json) {
    const file = join(repoRoot(), 'bench', 'results.json');
    const all = { date: new Date().toISOString(), machine, settings, objectSizes, loadAverage: { before: loadBefore, after: loadAfter }, ...results, coldStart };
    writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
    say(`Wrote ${file}`);
  }
  return failed ? 1 : 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
