/**
 * Cold start: the size of the Lambda bundle and how long a fresh Node process takes to
 * import it, on Node 20 and Node 24 (the Lambda runtime), against bare Node's own start-up
 * (`node -e 0`), the floor no bundle can go under.
 *
 * Each figure is the median of N fresh processes, timed from spawn to exit by this process.
 * The import also reports its own duration from inside (the part the bundle is to blame
 * for, without Node's boot). Node 24 is the registry's `node@24` package installed outside
 * the repository: `npm install --prefix /tmp/node24 node@24`, or the binary named by NODE24.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { repoRoot } from './bundle.js';

export interface RuntimeFigures {
  label: string;
  binary: string;
  version: string;
  /** Median wall time of `node -e 0`. */
  floorMs: number;
  /** Median wall time of a process that imports the bundle and exits. */
  processMs: number;
  /** Median time of the `import()` itself, measured inside the process. */
  importMs: number;
}

export interface ColdStart {
  /** The bundle measured, relative to the repository. */
  bundle: string;
  /** Why this bundle (dist/cli.mjs stands in while dist/handler.mjs does not exist). */
  note: string | undefined;
  bundleBytes: number;
  gzipBytes: number;
  runs: number;
  runtimes: RuntimeFigures[];
  skipped: string[];
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** Runs `binary args`, returning its wall time and stdout; throws when it fails. */
function timed(binary: string, args: string[]): { ms: number; stdout: string } {
  const started = process.hrtime.bigint();
  const result = spawnSync(binary, args, { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) throw new Error(`${binary} ${args.join(' ')} exited ${result.status}: ${result.stderr.slice(0, 500)}`);
  return { ms, stdout: result.stdout };
}

function measureRuntime(label: string, binary: string, bundle: string, runs: number): RuntimeFigures {
  // The import reports its own duration, then exits at once: handlers may leave timers behind.
  const script =
    `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(bundle).href)}); ` +
    `process.stdout.write('\\n' + (performance.now() - t)); process.exit(0);`;
  const importArgs = ['--input-type=module', '-e', script];
  const version = timed(binary, ['--version']).stdout.trim();
  // One of each first, unmeasured, so the file cache is warm for all measured runs.
  timed(binary, ['-e', '0']);
  timed(binary, importArgs);
  const floor: number[] = [];
  const whole: number[] = [];
  const inside: number[] = [];
  for (let i = 0; i < runs; i++) {
    // Interleaved, so that a slow moment of the machine weighs on both alike.
    floor.push(timed(binary, ['-e', '0']).ms);
    const run = timed(binary, importArgs);
    whole.push(run.ms);
    inside.push(Number(run.stdout.trim().split('\n').at(-1)));
  }
  return { label, binary, version, floorMs: median(floor), processMs: median(whole), importMs: median(inside) };
}

/** Where Node 24 is: NODE24, or the default install prefix; undefined when absent. */
function node24Binary(): string | undefined {
  // `npm run test:node24` installs it under .cache/node24 of the checkout.
  const candidates = [process.env.NODE24, join(repoRoot(), '.cache/node24/node_modules/.bin/node'), '/tmp/node24/node_modules/node/bin/node', '/tmp/node24/node_modules/.bin/node'];
  return candidates.find((path): path is string => path !== undefined && path !== '' && existsSync(path));
}

/** Measures the bundle on this Node and on Node 24 when it can be found. */
export async function measureColdStart({ runs, progress }: { runs: number; progress: (line: string) => void }): Promise<ColdStart> {
  const root = repoRoot();
  const handler = join(root, 'dist', 'handler.mjs');
  const cli = join(root, 'dist', 'cli.mjs');
  const bundle = existsSync(handler) ? handler : cli;
  if (!existsSync(bundle)) throw new Error('No bundle in dist/: run `npm run build` first');
  const note = bundle === cli ? 'dist/handler.mjs does not exist yet: measured dist/cli.mjs, whose import also runs the command line (usage error, exit code set, no request)' : undefined;
  const bytes = readFileSync(bundle);
  const result: ColdStart = {
    bundle: relative(root, bundle),
    note,
    bundleBytes: statSync(bundle).size,
    gzipBytes: gzipSync(bytes).length,
    runs,
    runtimes: [],
    skipped: [],
  };
  progress(`cold start: ${result.bundle} on ${process.version} (${runs} runs)...`);
  result.runtimes.push(measureRuntime('Node 20 (this one)', process.execPath, bundle, runs));
  const node24 = node24Binary();
  if (node24) {
    progress(`cold start: ${result.bundle} on ${node24} (${runs} runs)...`);
    result.runtimes.push(measureRuntime('Node 24', node24, bundle, runs));
  } else {
    result.skipped.push('Node 24: not found (run `npm run test:node24` once, which installs it under .cache/node24, or set NODE24)');
  }
  return result;
}

/** The cold-start table. */
export function renderColdStart(cold: ColdStart): string {
  const kib = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
  const lines = [
    `Cold start: ${cold.bundle}, ${kib(cold.bundleBytes)} (${kib(cold.gzipBytes)} gzipped), median of ${cold.runs} fresh processes`,
    ...(cold.note ? [`(${cold.note})`] : []),
    '',
    '| runtime | node -e 0 (floor) | process importing the bundle | import() alone | over the floor |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...cold.runtimes.map(
      (r) => `| ${r.label} ${r.version} | ${r.floorMs.toFixed(0)} ms | ${r.processMs.toFixed(0)} ms | ${r.importMs.toFixed(0)} ms | ${(r.processMs - r.floorMs).toFixed(0)} ms |`,
    ),
    ...cold.skipped.map((s) => `Skipped: ${s}`),
  ];
  return lines.join('\n');
}
