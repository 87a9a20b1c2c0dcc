/** The bench's command-line flags. */
import { DEFAULTS } from '../src/config.js';

export interface CliOptions {
  json: boolean;
  latencyMs: number;
  concurrency: number;
  pageSize: number | undefined;
  baselineCap: number;
  repeat: number;
  only: string[] | undefined;
  coldStart: boolean;
  coldRuns: number;
  help: boolean;
}

export const USAGE = `npm run bench [-- FLAGS]

  --json               also write the figures to bench/results.json
  --latency MS         latency the API server adds to every request (default 5)
  --concurrency N      RECONCILIATION_CONCURRENCY of the product, and of the limit (default ${DEFAULTS.RECONCILIATION_CONCURRENCY})
  --page-size N        items per list page for the product (default: the product's own)
  --baseline-cap N     most sessions the baseline is run on; above, it is extrapolated (default 1500; 0: never)
  --repeat N           runs of the product per scenario; the median wall time is reported (default 3)
  --only a,b           only these scenarios (steady, burst, growth-250, growth-2500, growth-25000)
  --cold-runs N        fresh processes per cold-start figure (default 11)
  --no-cold-start      skip the cold-start measurements
`;

function integer(flag: string, value: string | undefined, min: number): number {
  if (value === undefined || !/^\d+$/.test(value) || Number(value) < min) throw new Error(`${flag} needs a whole number >= ${min}, got ${value ?? 'nothing'}`);
  return Number(value);
}

/** Parses the flags; throws with a message naming the flag on a bad one. */
export function parseOptions(argv: readonly string[]): CliOptions {
  const options: CliOptions = {
    json: false,
    latencyMs: 5,
    concurrency: Number(DEFAULTS.RECONCILIATION_CONCURRENCY),
    pageSize: undefined,
    baselineCap: 1_500,
    repeat: 3,
    only: undefined,
    coldStart: true,
    coldRuns: 11,
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = () => argv[++i];
    switch (flag) {
      case '--json':
        options.json = true;
        break;
      case '--latency':
        options.latencyMs = integer(flag, value(), 0);
        break;
      case '--concurrency':
        options.concurrency = integer(flag, value(), 1);
        break;
      case '--page-size':
        options.pageSize = integer(flag, value(), 1);
        break;
      case '--baseline-cap':
        options.baselineCap = integer(flag, value(), 0);
        break;
      case '--repeat':
        options.repeat = integer(flag, value(), 1);
        break;
      case '--only':
        options.only = (value() ?? '').split(',').filter((s) => s !== '');
        break;
      case '--cold-runs':
        options.coldRuns = integer(flag, value(), 1);
        break;
      case '--no-cold-start':
        options.coldStart = false;
        break;
      case '--help':
      case '-h':
        options.help = true;
        break;
      default:
        throw new Error(`Unknown flag ${flag}\n\n${USAGE}`);
    }
  }
  return options;
}
