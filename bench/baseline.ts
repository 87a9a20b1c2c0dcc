/**
 * The baseline: the original worker's algorithm (shared/reference/seed-reconciliation-worker.md,
 * `ReconciliationWorker.reconcile_namespace`), ported line by line to the same client the
 * product uses. It lives in bench/ only; it is what the product replaces, not a product.
 *
 * Per namespace, one request at a time:
 *   1. one list of all Services, unpaginated (`list_namespaced_service(namespace=...)`);
 *   2. per Service named `{labType}-service-{sessionId}`: a read of Deployment
 *      `{labType}-lab-{sessionId}` (404 = missing);
 *   3. per Service without its Deployment: a read of its endpoints;
 *   4. per Service without ready endpoints: deletes of its Service, Ingress and ConfigMap
 *      (404 ignored, other errors logged), then of its Redis key.
 *
 * One substitution, at step 3: the original reads the v1 Endpoints object of the Service by
 * name. The local API server does not serve v1 Endpoints (deprecated since Kubernetes 1.33;
 * current clusters are read through EndpointSlices), so the baseline lists the Service's
 * EndpointSlices by the `kubernetes.io/service-name` label instead: one request in the same
 * place, for the same Services, with the same answer (any ready address). On the local server
 * that list costs more server time than a read by name would (it scans the namespace's
 * slices), which can only slow the baseline, and only once per orphan.
 *
 * The Redis key (step 4) is not deleted: the bench runs without a session store, as the
 * product does in it, and counts Kubernetes requests only.
 */
import { ApiException } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Apis } from './client.js';
import { keepAliveApis } from './client.js';

/** The original's totals (`run_reconciliation_cycle`). */
export interface BaselineStats {
  namespacesChecked: number;
  servicesChecked: number;
  orphanedFound: number;
  cleanedUp: number;
  errors: number;
}

/** The requests the baseline sends for `services` Services of which `orphans` have neither Deployment nor ready endpoints. */
export function baselineRequestCount(namespaces: number, services: number, orphans: number): number {
  return namespaces + services + orphans + 3 * orphans;
}

/** One reconciliation cycle of the original worker over `namespaces`. */
export async function runBaseline(kubeConfig: KubeConfig, namespaces: readonly string[]): Promise<BaselineStats> {
  // One request at a time, as the original's single thread: one connection is enough.
  const apis = keepAliveApis(kubeConfig, 1);
  const total: BaselineStats = { namespacesChecked: 0, servicesChecked: 0, orphanedFound: 0, cleanedUp: 0, errors: 0 };
  for (const raw of namespaces) {
    const namespace = raw.trim();
    if (!namespace) continue;
    total.namespacesChecked += 1;
    const stats = await reconcileNamespace(apis, namespace);
    total.servicesChecked += stats.servicesChecked;
    total.orphanedFound += stats.orphanedFound;
    total.cleanedUp += stats.cleanedUp;
    total.errors += stats.errors;
  }
  return total;
}

async function reconcileNamespace(apis: Apis, namespace: string): Promise<Omit<BaselineStats, 'namespacesChecked'>> {
  const stats = { servicesChecked: 0, orphanedFound: 0, cleanedUp: 0, errors: 0 };
  try {
    const services = await apis.core.listNamespacedService({ namespace });
    for (const service of services.items) {
      const serviceName = service.metadata?.name ?? '';
      stats.servicesChecked += 1;
      const labType = /^([^-]+)-service-.+$/.exec(serviceName)?.[1];
      if (!labType) continue;
      const sessionId = new RegExp(`^${labType}-(?:service|ingress|config)-(.+)$`).exec(serviceName)?.[1];
      if (!sessionId) continue;
      // A failure other than 404 here ends the namespace, as the original's `raise` does.
      if (await deploymentExists(apis, namespace, `${labType}-lab-${sessionId}`)) continue;
      if (await serviceHasEndpoints(apis, namespace, serviceName)) continue;
      stats.orphanedFound += 1;
      try {
        const results = await cleanup(apis, namespace, sessionId, labType);
        if (Object.values(results).some(Boolean)) stats.cleanedUp += 1;
      } catch {
        stats.errors += 1;
      }
    }
  } catch {
    stats.errors += 1;
  }
  return stats;
}

async function deploymentExists(apis: Apis, namespace: string, name: string): Promise<boolean> {
  try {
    await apis.apps.readNamespacedDeployment({ namespace, name });
    return true;
  } catch (error) {
    if (error instanceof ApiException && error.code === 404) return false;
    throw error;
  }
}

/** Any ready address among the Service's endpoints (the original: any `subsets[].addresses`). */
async function serviceHasEndpoints(apis: Apis, namespace: string, serviceName: string): Promise<boolean> {
  const slices = await apis.discovery.listNamespacedEndpointSlice({
    namespace,
    labelSelector: `kubernetes.io/service-name=${serviceName}`,
  });
  return slices.items.some((slice) => (slice.endpoints ?? []).some((e) => e.conditions?.ready !== false));
}

/** Deletes without preconditions, one at a time; 404 is quietly ignored, anything else logged and ignored. */
async function cleanup(apis: Apis, namespace: string, sessionId: string, labType: string): Promise<Record<string, boolean>> {
  const results = { service: false, ingress: false, configmap: false };
  const attempt = async (key: keyof typeof results, call: () => Promise<unknown>): Promise<void> => {
    try {
      await call();
      results[key] = true;
    } catch {
      // The original ignores a 404 and logs anything else as a warning, then goes on either way.
    }
  };
  await attempt('service', () => apis.core.deleteNamespacedService({ namespace, name: `${labType}-service-${sessionId}` }));
  await attempt('ingress', () => apis.networking.deleteNamespacedIngress({ namespace, name: `${labType}-ingress-${sessionId}` }));
  await attempt('configmap', () => apis.core.deleteNamespacedConfigMap({ namespace, name: `${labType}-config-${sessionId}` }));
  return results;
}
