/**
 * The observe step of a run: every namespace listed into the core's collector, side by side.
 * A namespace that cannot be listed completely is reported, never guessed at, and what was
 * collected of it is dropped.
 */
import type { Cluster, EndpointSliceRecord, Logger, ObservationSink, Progress, ResourceKind, ResourceRecord } from './ports.js';
import { SessionCollector } from './core/collect.js';
import type { NamespaceFindings } from './core/plan.js';
import type { NamespaceResult } from './core/report.js';
import { messageOf } from './errors.js';

/** How often, in objects, the progress hears of a namespace's lists. */
const PROGRESS_EVERY = 500;

/** Lists one namespace into a collector and resolves to its findings; rejects like `observe`. */
export async function observeNamespace(cluster: Cluster, namespace: string, progress?: Progress): Promise<NamespaceFindings> {
  const collector = new SessionCollector(namespace);
  const sink = progress ? withProgress(collector, () => progress.listed(namespace, collector.listed, false)) : collector;
  await cluster.observe(namespace, sink);
  progress?.listed(namespace, collector.listed, true);
  return collector.findings();
}

/** Lists every namespace at once. */
export async function observeAll(namespaces: readonly string[], cluster: Cluster, logger: Logger, progress?: Progress): Promise<NamespaceResult[]> {
  return Promise.all(
    namespaces.map(async (namespace): Promise<NamespaceResult> => {
      try {
        const findings = await observeNamespace(cluster, namespace, progress);
        logger.info(`Listed namespace ${namespace}: ${findings.servicesChecked} Services, ${findings.orphans.length} orphaned sessions`, {
          namespace,
          servicesChecked: findings.servicesChecked,
          orphanedFound: findings.orphans.length,
        });
        return { namespace, findings };
      } catch (error) {
        const message = `could not be listed completely, so nothing in it was cleaned: ${messageOf(error)}`;
        logger.error(`Namespace ${namespace} ${message}`, { namespace, error: messageOf(error) });
        return { namespace, error: message };
      }
    }),
  );
}

/** The sink, telling `tick` every {@link PROGRESS_EVERY} objects. */
function withProgress(sink: ObservationSink, tick: () => void): ObservationSink {
  let count = 0;
  const counted = () => {
    if (++count % PROGRESS_EVERY === 0) tick();
  };
  return {
    resource(record: ResourceRecord) {
      sink.resource(record);
      counted();
    },
    endpointSlice(record: EndpointSliceRecord) {
      sink.endpointSlice(record);
      counted();
    },
    restarted(kind: ResourceKind | 'EndpointSlice') {
      sink.restarted(kind);
    },
  };
}
