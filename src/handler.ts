/**
 * The Lambda entry point (`dist/handler.mjs`, export `handler`): EventBridge runs it on a
 * schedule; an operator may invoke it ad hoc with a narrowing event. Adapters are built once
 * per execution environment (cold start); every run makes a fresh EKS token, reconciles, and
 * emits its metrics once, also when it fails.
 */
import type { Context } from 'aws-lambda';
import type { Config } from './config.js';
import { ConfigError, loadConfig } from './config.js';
import { messageOf } from './errors.js';
import type { Summary } from './core/report.js';
import { emptySummary } from './core/report.js';
import { EventError, narrowSettings, parseEvent } from './event.js';
import { publishMetrics } from './adapters/metrics.js';
import { PowertoolsLogger, powertoolsLogger } from './adapters/powertools-logger.js';
import type { Archive, SessionStore } from './ports.js';
import { reconcile } from './reconcile.js';
import type { ClusterSource } from './runtime.js';
import { archiveFor, clusterSource, sessionStore } from './runtime.js';

/** Time kept back from the Lambda's deadline: no session is started within it. */
export const DEADLINE_MARGIN_MS = 30_000;

const powertools = new PowertoolsLogger({ serviceName: 'lab-reconciler' });
const logger = powertoolsLogger(powertools);

/** What survives between runs of one execution environment: configuration and adapters. */
interface Adapters {
  source: ClusterSource;
  store: SessionStore | undefined;
  archive: Archive | undefined;
}
let config: Config | undefined;
let adapters: Promise<Adapters> | undefined;

/** The adapters, built on first use; a failure is not kept, so the next run tries again. */
function getAdapters(config: Config): Promise<Adapters> {
  adapters ??= (async () => {
    const source = clusterSource(config, { env: process.env, logger });
    // ARCHIVE_DIR was refused with the configuration: only a bucket reaches here.
    const archive = archiveFor(config, { env: process.env });
    // The SSM token is read here, once per cold start.
    const store = await sessionStore(config);
    return { source, store, archive };
  })().catch((error: unknown) => {
    adapters = undefined;
    throw error;
  });
  return adapters;
}

/** Runs one reconciliation; resolves to the contract's summary. */
export async function handler(event: unknown, context?: Partial<Context>): Promise<Summary> {
  if (context?.awsRequestId) powertools.addContext(context as Context);
  const startedAt = Date.now();
  try {
    config ??= lambdaConfig(loadConfig({ env: process.env, defaultMode: 'eks' }));
  } catch (error) {
    // Bad configuration is the operator's to fix: the invocation fails, naming the variable.
    const message = messageOf(error);
    logger.error(`Refused to run: ${message}`, error instanceof ConfigError ? { setting: error.setting } : {});
    publishMetrics(failedSummary(startedAt, message), metricsTarget(undefined));
    throw error;
  }

  // A bad event is rejected before any request, to the cluster or anywhere else.
  let settings;
  try {
    settings = narrowSettings(config, parseEvent(event, config.namespaces));
  } catch (error) {
    if (error instanceof EventError) logger.error(`Rejected the event: ${error.message}`);
    throw error;
  }
  const remaining = context?.getRemainingTimeInMillis?.();
  const deadline = remaining === undefined ? undefined : Date.now() + remaining - DEADLINE_MARGIN_MS;

  let summary: Summary;
  let clusterName: string | undefined;
  try {
    const { source, store, archive } = await getAdapters(config);
    clusterName = source.name;
    const cluster = await source.forRun();
    summary = await reconcile(settings, {
      cluster,
      store,
      logger,
      clusterName,
      ...(archive ? { archive } : {}),
      // The lock lives no longer than this invocation can: a run that dies cannot hold it longer.
      ...(deadline !== undefined ? { deadline, lockTtlMs: remaining! + 5_000 } : {}),
    });
  } catch (error) {
    const message = `The run failed before it could reconcile: ${messageOf(error)}`;
    logger.error(message);
    summary = failedSummary(startedAt, message, settings.dryRun);
  }
  publishMetrics(summary, metricsTarget(config, clusterName));
  return summary;
}

/** What the Lambda refuses besides bad values: an archive directory would vanish with the execution environment. */
function lambdaConfig(loaded: Config): Config {
  if (loaded.archive?.dir !== undefined) throw new ConfigError('ARCHIVE_DIR', 'is for the command line; the Lambda archives to ARCHIVE_BUCKET (its stack sets it)');
  return loaded;
}

function failedSummary(startedAt: number, message: string, dryRun = false): Summary {
  return emptySummary('failed', { dryRun, startedAt, finishedAt: Date.now(), warnings: [message], errors: 1 });
}

/** Where metrics go; before the configuration is known, the variables' raw values (or defaults). */
function metricsTarget(config: Config | undefined, cluster?: string) {
  return {
    namespace: config?.metricsNamespace ?? (process.env.METRICS_NAMESPACE || 'LabReconciler'),
    cluster: cluster ?? config?.eksClusterName ?? (process.env.EKS_CLUSTER_NAME || 'unknown'),
  };
}
