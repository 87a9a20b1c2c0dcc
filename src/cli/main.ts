/**
 * The command line: `lab-reconciler plan` (never deletes) and `lab-reconciler apply`, on the
 * same core as the Lambda. `main` takes its arguments, environment and streams as
 * parameters and returns the exit status, so it is tested in-process.
 */
import { parseArgs } from 'node:util';
import type { Given, Variable } from '../config.js';
import { ConfigError, loadConfig } from '../config.js';
import { messageOf } from '../errors.js';
import type { Clock } from '../ports.js';
import { systemClock } from '../ports.js';
import { reconcile } from '../reconcile.js';
import type { RunSettings } from '../reconcile.js';
import type { Summary } from '../core/report.js';
import { SnapshotCluster } from '../adapters/snapshot.js';
import { archiveFor, clusterSource, sessionStore } from '../runtime.js';
import { renderRestoreTable, runRestore } from './restore.js';
import { terminalLogger } from './logger.js';
import { terminalProgress } from './progress.js';
import type { Writable } from './logger.js';
import { renderTable } from './table.js';

export const USAGE = `Usage: lab-reconciler <plan|apply> [options]
       lab-reconciler restore SOURCE [--dry-run] [--session NAMESPACE/SESSION_ID] [--no-keep] [options]

Finds lab sessions whose Deployment is gone (orphaned Services, Ingresses, ConfigMaps and
session keys) and cleans them up safely; and, the other way round, session keys without any
resource (stale keys) and Deployments without a session key (leaked, only reported).

Commands:
  plan                  show what would be cleaned and why; never deletes (deletes are sent
                        with dryRun=All to a live cluster, so permissions are proven)
  apply                 clean the orphaned sessions (RECONCILIATION_DRY_RUN=true still holds),
                        archiving each one first to --archive-dir
  restore SOURCE        put back what archive records hold: SOURCE is a record, a directory of
                        records, or s3://bucket/prefix; never replaces an object or key that exists

Options:
  --namespaces a,b      narrow the allowlist (RECONCILIATION_NAMESPACES) to these namespaces
  --kubeconfig PATH     kubeconfig file (default: KUBECONFIG, then ~/.kube/config)
  --context NAME        kubeconfig context (default: its current-context)
  --snapshot FILE       plan only: read the cluster from a dump made with
                        kubectl get deploy,svc,ingress,cm,endpointslices -A -o json
  --now TIME            with --snapshot: judge ages as of this ISO 8601 time (default: now)
  --output table|json   table (default) for people, json for the run's summary
  --min-age SECONDS     grace period on resources' age (RECONCILIATION_MIN_AGE_SECONDS)
  --confirm-seconds S   how long a session must have been seen orphaned (RECONCILIATION_CONFIRM_SECONDS)
  --max-deletions N     most sessions cleaned and stale keys deleted in one run
                        (RECONCILIATION_MAX_DELETIONS)
  --stale-keys MODE     report (default), delete or off: what to do with session keys whose
                        session has no resource left (RECONCILIATION_STALE_KEYS)
  --archive-dir DIR     apply: write each session's archive record below DIR before deleting
                        anything of it (ARCHIVE_DIR; ARCHIVE_BUCKET archives to S3 instead)
  --dry-run             restore: show what would be restored (creates sent with dryRun=All)
  --session NS/ID       restore: only this session's records
  --no-keep             restore: leave off the lab-reconciler/keep annotation (by default a
                        restored resource carries it, so that no run cleans it again)
  -h, --help            show this help

Environment: the RECONCILIATION_*, SESSION_KEY_PREFIX, K8S_MODE, KUBECONFIG and
UPSTASH_REDIS_REST_* variables of the README. Flags override variables.

Exit status: 0 when the run's status is ok, disabled or locked (restore: when everything
asked for was restored or was there already); 1 otherwise; 2 for bad usage.
`;

export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  env: Readonly<Record<string, string | undefined>>;
  clock?: Clock;
}

/** Flags that override a variable, and the variable each overrides. */
const FLAG_VARIABLES: Readonly<Record<string, Variable>> = {
  'min-age': 'RECONCILIATION_MIN_AGE_SECONDS',
  'confirm-seconds': 'RECONCILIATION_CONFIRM_SECONDS',
  'max-deletions': 'RECONCILIATION_MAX_DELETIONS',
  'stale-keys': 'RECONCILIATION_STALE_KEYS',
  'archive-dir': 'ARCHIVE_DIR',
  kubeconfig: 'KUBECONFIG',
};

type Command = 'plan' | 'apply' | 'restore';

/** Flags that only one kind of command takes. */
const RECONCILE_ONLY = ['snapshot', 'now', 'min-age', 'confirm-seconds', 'max-deletions', 'stale-keys', 'archive-dir'];
const RESTORE_ONLY = ['dry-run', 'session', 'no-keep'];

/** Bad usage: exit status 2. */
class UsageError extends Error {}

type Flags = Record<string, string | boolean | undefined>;

function parse(argv: readonly string[]): { command: Command | undefined; flags: Flags; source?: string } {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        namespaces: { type: 'string' },
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        snapshot: { type: 'string' },
        now: { type: 'string' },
        output: { type: 'string' },
        'min-age': { type: 'string' },
        'confirm-seconds': { type: 'string' },
        'max-deletions': { type: 'string' },
        'stale-keys': { type: 'string' },
        'archive-dir': { type: 'string' },
        'dry-run': { type: 'boolean' },
        session: { type: 'string' },
        'no-keep': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(messageOf(error));
  }
  const flags = parsed.values as Flags;
  if (flags.help) return { command: undefined, flags };
  const [command, ...extra] = parsed.positionals;
  if (command !== 'plan' && command !== 'apply' && command !== 'restore') {
    throw new UsageError(command === undefined ? 'a command is required: plan, apply or restore' : `unknown command ${JSON.stringify(command)}: use plan, apply or restore`);
  }
  const foreign = (command === 'restore' ? RECONCILE_ONLY : RESTORE_ONLY).find((flag) => flags[flag] !== undefined);
  if (foreign) throw new UsageError(`--${foreign} does not work with ${command}`);
  if (command === 'restore') {
    const [source, ...more] = extra;
    if (source === undefined) throw new UsageError('restore needs a SOURCE: an archive record, a directory of records, or s3://bucket/prefix');
    if (more.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(more[0])}`);
    return { command, flags, source };
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
  return { command, flags };
}

/** Runs the command line; resolves to the exit status. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    const { command, flags, source } = parse(argv);
    if (!command) {
      io.stdout.write(USAGE);
      return 0;
    }
    return command === 'restore' ? await restoreCommand(source!, flags, io) : await run(command, flags, io);
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError) {
      io.stderr.write(`lab-reconciler: ${error.message}\n`);
      if (error instanceof UsageError) io.stderr.write('Run lab-reconciler --help for usage.\n');
      return 2;
    }
    io.stderr.write(`lab-reconciler: ${messageOf(error)}\n`);
    return 1;
  }
}

async function run(command: 'plan' | 'apply', flags: Flags, io: CliIo): Promise<number> {
  const output = outputOf(flags);
  const snapshot = flags.snapshot as string | undefined;
  if (snapshot !== undefined && command !== 'plan') throw new ConfigError('--snapshot', 'works with plan only: a snapshot cannot be cleaned');
  if (flags.now !== undefined && snapshot === undefined) throw new ConfigError('--now', 'works with --snapshot only');
  const clock = clockFrom(flags.now as string | undefined) ?? io.clock ?? systemClock;

  const config = configFrom(flags, io);
  const settings: RunSettings = {
    ...config,
    namespaces: narrow(config.namespaces, flags.namespaces as string | undefined),
    narrowed: flags.namespaces !== undefined,
  };
  if (command === 'plan') settings.dryRun = true;

  // Everything that can be wrong with the configuration is found before any request.
  const progress = terminalProgress(io.stderr);
  const logger = terminalLogger(progress?.logStream ?? io.stderr);
  const source =
    snapshot !== undefined
      ? undefined
      : clusterSource(config, { env: io.env, logger, kubeconfigSetting: kubeconfigSettingOf(flags) });
  const store = snapshot !== undefined ? undefined : await sessionStore(config);
  // A snapshot is only planned from: it has nothing to archive (null: none, by design).
  const archive = snapshot !== undefined ? null : archiveFor(config, { env: io.env });
  const cluster = source ? await source.forRun() : SnapshotCluster.fromFile(snapshot!);
  if (snapshot !== undefined && config.upstash) {
    logger.info('Read the cluster from a snapshot; the session store is not used');
  }

  logger.info(`Reconciling ${settings.namespaces.join(', ')} on ${cluster.description}${settings.dryRun ? ' (dry run)' : ''}`);
  let summary: Summary;
  try {
    summary = await reconcile(settings, { cluster, store, logger, clock, ...(progress ? { progress } : {}), ...(archive ? { archive, clusterName: source!.name } : { archive }) });
  } finally {
    progress?.stop();
  }
  io.stdout.write(output === 'json' ? `${JSON.stringify(summary, null, 2)}\n` : renderTable(summary, { command, source: cluster.description }));
  return exitStatus(summary);
}

/** The configuration: the environment, overridden by the flags. */
function configFrom(flags: Flags, io: CliIo) {
  const overrides: Partial<Record<Variable, Given>> = {};
  for (const [flag, variable] of Object.entries(FLAG_VARIABLES)) {
    const value = flags[flag];
    if (typeof value === 'string') overrides[variable] = { value, source: `--${flag}` };
  }
  const context = flags.context as string | undefined;
  return loadConfig({ env: io.env, overrides, defaultMode: 'kubeconfig', ...(context !== undefined ? { context } : {}) });
}

async function restoreCommand(source: string, flags: Flags, io: CliIo): Promise<number> {
  const output = outputOf(flags);
  const config = configFrom(flags, io);
  const allowlist = narrow(config.namespaces, flags.namespaces as string | undefined);
  const logger = terminalLogger(io.stderr);
  const summary = await runRestore(
    { source, dryRun: flags['dry-run'] === true, keep: flags['no-keep'] !== true, session: flags.session as string | undefined },
    allowlist,
    {
      env: io.env,
      logger,
      cluster: () => clusterSource(config, { env: io.env, logger, kubeconfigSetting: kubeconfigSettingOf(flags) }).forRun(),
      store: () => sessionStore(config),
    },
  );
  io.stdout.write(output === 'json' ? `${JSON.stringify(summary, null, 2)}\n` : renderRestoreTable(summary));
  return summary.status === 'ok' ? 0 : 1;
}

/** What to name in errors about the kubeconfig path: the flag when given, else the variable. */
function kubeconfigSettingOf(flags: Flags): string {
  return typeof flags.kubeconfig === 'string' ? '--kubeconfig' : 'KUBECONFIG';
}

function outputOf(flags: Flags): 'table' | 'json' {
  const output = (flags.output as string | undefined) ?? 'table';
  if (output !== 'table' && output !== 'json') throw new ConfigError('--output', `must be table or json, got ${JSON.stringify(output)}`);
  return output;
}

/** 0 for ok, disabled and locked; 1 for anything else. */
export function exitStatus(summary: Pick<Summary, 'status'>): number {
  return summary.status === 'ok' || summary.status === 'disabled' || summary.status === 'locked' ? 0 : 1;
}

function clockFrom(now: string | undefined): Clock | undefined {
  if (now === undefined) return undefined;
  const time = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(now) ? Date.parse(now) : Number.NaN;
  if (Number.isNaN(time)) throw new ConfigError('--now', `must be an ISO 8601 time such as 2026-11-26T12:00:00Z, got ${JSON.stringify(now)}`);
  return { now: () => time };
}

/** `--namespaces` may only narrow the allowlist, never widen it. */
function narrow(allowlist: string[], requested: string | undefined): string[] {
  if (requested === undefined) return allowlist;
  const names = [...new Set(requested.split(',').map((n) => n.trim()).filter((n) => n !== ''))];
  if (names.length === 0) throw new ConfigError('--namespaces', 'must name at least one namespace');
  const outside = names.filter((n) => !allowlist.includes(n));
  if (outside.length > 0) {
    throw new ConfigError('--namespaces', `${outside.join(', ')} ${outside.length === 1 ? 'is' : 'are'} not in the allowlist RECONCILIATION_NAMESPACES (${allowlist.join(', ')})`);
  }
  return names;
}
