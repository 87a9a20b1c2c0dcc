/** The bench's command-line flags. */
import { DEFAULTS } from '../src/config.js';
import type { ObjectShape } from './seed.js';

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
  /** The envelope of the product's extra run per scenario, in MB; 0: none. */
  envelopeMb: number;
  cgroup: boolean;
  objects: ObjectShape;
  sizing: boolean;
  /** Sessions per namespace of the sizing table's rows (4 namespaces each). */
  sizingSessions: number[];
  /** Envelopes of the sizing table's columns, in MB. */
  sizingMemory: number[];
  /** Run the session keys' bench (bench/keys.ts) after the scenarios (`--no-keys`: not); `--only keys` runs it alone. */
  keys: boolean;
  /** Session keys of its rows. */
  keysSizes: number[];
  /** Unrelated keys (other applications') per session key. */
  keysUnrelated: number;
  /** Sessions cleaned in the rows of the archive's bench (bench/archive.ts; `--only archive`). */
  archiveSessions: number[];
  /** Live sessions per namespace (4 namespaces) beside them. */
  archiveLive: number;
  help: boolean;
}

export const USAGE = `npm run bench [-- FLAGS]

  --json               also write the figures to bench/results.json
  --latency MS         latency the API server adds to every request (default 5)
  --concurrency N      RECONCILIATION_CONCURRENCY of the product, and of the limit (default ${DEFAULTS.RECONCILIATION_CONCURRENCY})
  --page-size N        items per list page for the product (default: the product's own)
  --baseline-cap N     most sessions the baseline is run on; above, it is extrapolated (default 1500; 0: never)
  --repeat N           runs of the product per scenario; the median wall time is reported (default 3)
  --only a,b           only these scenarios (steady, burst, large, growth-250, growth-2500, growth-25000,
                       keys, archive)
  --objects SHAPE      production (default): objects as a real API server returns them (pod
                       template, managedFields, status; sizes printed at the start); small: the
                       tests' few fields, as the bench used before
  --envelope MB        run the product once more per scenario inside a Lambda of MB megabytes:
                       the runtime's V8 flags (--max-semi-space-size=MB/20, --max-old-space-size=
                       MB-MB/10) in a cgroup v1 memory cgroup of MB (needs root); peak memory, or
                       "killed" (default 256; 0: no such run)
  --no-cgroup          envelope runs with the V8 flags alone, no memory cgroup (also the fallback,
                       said in the output, where a cgroup cannot be made)
  --sizing             instead of the scenarios: the product alone at several session counts in
                       several envelopes, each also held to the Lambda's CPU share for its memory
                       (a cpu cgroup quota of MB/1,769 of a CPU), peak memory and run time per
                       cell (or killed)
  --sizing-sessions a,b  sessions per namespace of the sizing rows, 4 namespaces each
                       (default 2500,6250,12500,25000)
  --sizing-memory a,b  envelopes of the sizing columns, in MB (default 256,512,1024). Beyond
                       4 x 25,000 sessions the bench's own process (the API server holds every
                       object, about 18 KB of heap a session) needs a larger heap than Node's
                       default: NODE_OPTIONS=--max-old-space-size=8192 (envelope runs drop it)
  --no-keys            skip the cost of reading the session keys (the scenario \`keys\`, part of the
                       default run, about 40 s): a private redis-server behind the Upstash REST
                       bridge, session keys mixed with other applications' keys, the product run
                       with its real store, RECONCILIATION_STALE_KEYS off then report; the store
                       requests the read adds (\`--only keys\`: this alone)
  --keys-sizes a,b     session keys of its rows, 1% of them stale (default 1000,10000,100000)
  --keys-unrelated N   other applications' keys per session key (default 3: a keyspace 4x the
                       session keys); a row with none is added at the second size
  --archive-sessions a,b  the archive's cost (the scenario \`archive\`, only with \`--only archive\`): per
                       row N sessions to clean (the cap raised to N above 50), run with the archive
                       off, to a directory (DirectoryArchive) and to S3 (S3Archive against moto),
                       --repeat times each; requests by verb, the store's, the archive's writes,
                       wall time of the run and of the apply phase (default 50,200)
  --archive-live N     live sessions per namespace beside them, 4 namespaces (default 2500)
  --cold-runs N        fresh processes per cold-start figure (default 11)
  --no-cold-start      skip the cold-start measurements
`;

function list(flag: string, value: string | undefined, min: number): number[] {
  const items = (value ?? '').split(',').filter((s) => s !== '');
  if (items.length === 0) throw new Error(`${flag} needs a comma-separated list of whole numbers`);
  return items.map((item) => integer(flag, item, min));
}

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
    envelopeMb: 256,
    cgroup: true,
    objects: 'production',
    sizing: false,
    sizingSessions: [2_500, 6_250, 12_500, 25_000],
    sizingMemory: [256, 512, 1_024],
    keys: true,
    keysSizes: [1_000, 10_000, 100_000],
    keysUnrelated: 3,
    archiveSessions: [50, 200],
    archiveLive: 2_500,
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
      case '--envelope':
        options.envelopeMb = integer(flag, value(), 0);
        if (options.envelopeMb > 0 && options.envelopeMb < 20) throw new Error(`--envelope needs 0 or at least 20 MB`);
        break;
      case '--no-cgroup':
        options.cgroup = false;
        break;
      case '--objects': {
        const shape = value();
        if (shape !== 'production' && shape !== 'small') throw new Error(`--objects needs production or small, got ${shape ?? 'nothing'}`);
        options.objects = shape;
        break;
      }
      case '--sizing':
        options.sizing = true;
        break;
      case '--sizing-sessions':
        options.sizingSessions = list(flag, value(), 1);
        break;
      case '--sizing-memory':
        options.sizingMemory = list(flag, value(), 20);
        break;
      case '--no-keys':
        options.keys = false;
        break;
      case '--keys-sizes':
        options.keysSizes = list(flag, value(), 1);
        break;
      case '--keys-unrelated':
        options.keysUnrelated = integer(flag, value(), 0);
        break;
      case '--archive-sessions':
        options.archiveSessions = list(flag, value(), 1);
        break;
      case '--archive-live':
        options.archiveLive = integer(flag, value(), 0);
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
