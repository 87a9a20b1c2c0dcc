/**
 * The Kubernetes adapter: the Cluster port over `@kubernetes/client-node` 1.x. A handful of
 * paginated list calls per namespace (never one call per Service), deletes with uid
 * preconditions, bounded concurrency, and retries within a budget.
 */
import { Agent as HttpsAgent } from 'node:https';
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  NetworkingV1Api,
  ServerConfiguration,
  createConfiguration,
} from '@kubernetes/client-node';
import type { Configuration, RequestContext, V1ObjectMeta } from '@kubernetes/client-node';
import type { Cluster, DeletableKind, DeleteOutcome, Logger, NamespaceObservation, ResourceKind, ResourceRecord } from '../ports.js';
import { toEndpointSliceRecord, toRecord } from './records.js';
import { rawListApis } from './raw-lists.js';
import { silentLogger } from '../ports.js';
import { Limiter, settleAll } from '../core/pool.js';
import { messageOf } from '../errors.js';
import type { RetryPolicy, RetryVerdict } from './retry.js';
import { DEFAULT_RETRY, parseRetryAfter, withRetry } from './retry.js';

export interface KubernetesClusterOptions {
  kubeConfig: KubeConfig;
  /** Most requests in flight at once. */
  concurrency: number;
  /** Items per list page (`limit`). */
  pageSize?: number;
  retry?: RetryPolicy;
  /** Each attempt is abandoned after this long. */
  requestTimeoutMs?: number;
  logger?: Logger;
  description?: string;
  /** Called before every attempt: where short-lived credentials are renewed (EKS tokens). */
  beforeRequest?: () => Promise<void>;
}

interface Page<T> {
  metadata?: { _continue?: string };
  items: T[];
}

interface Apis {
  apps: AppsV1Api;
  core: CoreV1Api;
  networking: NetworkingV1Api;
  discovery: DiscoveryV1Api;
  /** The same groups, whose list calls answer plain JSON (see raw-lists.ts). */
  lists: ReturnType<typeof rawListApis>;
}

/** A Cluster backed by a live API server. */
export class KubernetesCluster implements Cluster {
  readonly description: string;
  private readonly apis: Apis;
  private readonly limiter: Limiter;
  private readonly pageSize: number;
  private readonly retry: RetryPolicy;
  private readonly logger: Logger;
  private readonly beforeRequest: (() => Promise<void>) | undefined;

  constructor(options: KubernetesClusterOptions) {
    this.beforeRequest = options.beforeRequest;
    this.limiter = new Limiter(options.concurrency);
    // 1,000 objects a page: half the list requests of kubectl's 500, each page still well under a megabyte or two.
    this.pageSize = options.pageSize ?? 1000;
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.logger = options.logger ?? silentLogger;
    this.apis = makeApis(options.kubeConfig, options.concurrency, options.requestTimeoutMs ?? 30_000);
    this.description = options.description ?? `cluster ${options.kubeConfig.getCurrentCluster()?.server ?? '?'}`;
  }

  async observe(namespace: string): Promise<NamespaceObservation> {
    const { apps, core, networking, discovery } = this.apis.lists;
    const records = <T extends { metadata?: V1ObjectMeta }>(kind: ResourceKind, what: string, call: (cont: string | undefined) => Promise<Page<T>>) =>
      this.listAll(`${what} in namespace ${namespace}`, call, (o) => toRecord(kind, namespace, o.metadata));
    const limit = this.pageSize;
    // The five lists run side by side; each pages through its own kind in order. Each page is
    // reduced to records as it arrives, so only one page of full objects per list is held.
    const [deployments, services, ingresses, configMaps, endpointSlices] = await settleAll([
      records('Deployment', 'Deployments', (_continue) => apps.listNamespacedDeployment({ namespace, limit, _continue })),
      records('Service', 'Services', (_continue) => core.listNamespacedService({ namespace, limit, _continue })),
      records('Ingress', 'Ingresses', (_continue) => networking.listNamespacedIngress({ namespace, limit, _continue })),
      records('ConfigMap', 'ConfigMaps', (_continue) => core.listNamespacedConfigMap({ namespace, limit, _continue })),
      this.listAll(`EndpointSlices in namespace ${namespace}`, (_continue) => discovery.listNamespacedEndpointSlice({ namespace, limit, _continue }), (slice) =>
        toEndpointSliceRecord(namespace, slice),
      ),
    ]);
    return { namespace, deployments, services, ingresses, configMaps, endpointSlices };
  }

  /**
   * Every page of one list. An expired `continue` token (410) restarts the list from the
   * beginning, since mixing two snapshots could hide an object; any other failure rejects.
   */
  private async listAll<T, R>(what: string, call: (cont: string | undefined) => Promise<Page<T>>, convert: (item: T) => R): Promise<R[]> {
    for (let restart = 0; ; restart++) {
      const items: R[] = [];
      let cont: string | undefined;
      try {
        do {
          const page = await this.request(`list ${what}`, () => call(cont));
          for (const item of page.items) items.push(convert(item));
          cont = page.metadata?._continue || undefined;
        } while (cont);
        return items;
      } catch (error) {
        if (error instanceof ApiException && error.code === 410 && cont !== undefined && restart < 2) {
          this.logger.warn(`Restarted the list of ${what}: its continue token expired`);
          continue;
        }
        throw new Error(`Failed to list ${what}: ${describeError(error)}`, { cause: error });
      }
    }
  }

  async delete(resource: ResourceRecord, { dryRun }: { dryRun: boolean }): Promise<DeleteOutcome> {
    const { namespace, name, uid } = resource;
    const kind = resource.kind as DeletableKind;
    const params = { namespace, name, dryRun: dryRun ? 'All' : undefined, body: { preconditions: { uid } } };
    const { core, networking } = this.apis;
    const send: Record<DeletableKind, () => Promise<unknown>> = {
      Service: () => core.deleteNamespacedService(params),
      Ingress: () => networking.deleteNamespacedIngress(params),
      ConfigMap: () => core.deleteNamespacedConfigMap(params),
    };
    if (!(kind in send)) throw new Error(`Refused to delete ${resource.kind} ${namespace}/${name}: only Services, Ingresses and ConfigMaps are deleted`);
    try {
      await this.request(`delete ${kind} ${namespace}/${name}`, send[kind]);
      return 'deleted';
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) return 'gone';
      if (error instanceof ApiException && error.code === 409) return 'conflict';
      throw new Error(`${describeError(error)}`, { cause: error });
    }
  }

  async deploymentExists(namespace: string, name: string): Promise<boolean> {
    try {
      await this.request(`read Deployment ${namespace}/${name}`, () => this.apis.apps.readNamespacedDeployment({ namespace, name }));
      return true;
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) return false;
      throw new Error(describeError(error), { cause: error });
    }
  }

  /** One request: a place under the concurrency limit for each attempt, retried as the policy says. */
  private request<T>(what: string, call: () => Promise<T>): Promise<T> {
    const attempt = async () => {
      await this.beforeRequest?.();
      return call();
    };
    return withRetry(() => this.limiter.run(attempt), {
      policy: this.retry,
      classify,
      onRetry: (error, attempt, delayMs) =>
        this.logger.warn(`Retrying ${what} in ${delayMs} ms after attempt ${attempt}: ${describeError(error)}`),
    });
  }
}

/** 429, 5xx and failures to connect are worth another try; everything else is an answer. */
export function classify(error: unknown): RetryVerdict {
  if (error instanceof ApiException) {
    const code = error.code;
    if (code === 429 || (code >= 500 && code !== 501)) {
      return { retryable: true, retryAfterMs: parseRetryAfter(headerOf(error.headers, 'retry-after')) };
    }
    return { retryable: false };
  }
  // node-fetch's FetchError (type 'system': refused, reset, DNS) and AbortError (our timeout).
  const name = (error as { name?: string; type?: string })?.name;
  const type = (error as { type?: string })?.type;
  return { retryable: name === 'AbortError' || name === 'FetchError' || type === 'system' || type === 'aborted' };
}

function headerOf(headers: Record<string, string> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

/** An operator-readable account of an API failure: the code, the reason and the Status message. */
export function describeError(error: unknown): string {
  if (error instanceof ApiException) {
    const status = parseStatus(error.body);
    const detail = status?.message ?? (error.code === 401 ? 'Unauthorized: the credentials were rejected' : undefined);
    return `HTTP ${error.code}${status?.reason ? ` ${status.reason}` : ''}${detail ? `: ${detail}` : ''}`;
  }
  if ((error as { name?: string })?.name === 'AbortError') return 'the request timed out';
  return messageOf(error);
}

function parseStatus(body: unknown): { message?: string; reason?: string } | undefined {
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as { message?: string; reason?: string };
    } catch {
      return body.trim() ? { message: body.trim().slice(0, 300) } : undefined;
    }
  }
  return body && typeof body === 'object' ? (body as { message?: string; reason?: string }) : undefined;
}

/**
 * A client-node configuration for the current cluster of `kc` whose requests share one
 * keep-alive agent of `maxSockets` connections (client-node makes a new agent, so a new TLS
 * handshake, per request) and abandon an attempt after `timeoutMs` when given.
 */
export function keepAliveConfiguration(kc: KubeConfig, maxSockets: number, timeoutMs?: number): Configuration {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('The kubeconfig has no current cluster');
  let shared: HttpsAgent | undefined;
  return createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: kc },
    promiseMiddleware: [
      {
        pre: async (context: RequestContext) => {
          const agent = context.getAgent();
          // Only a plain https.Agent is swapped: proxies keep what client-node built.
          if (agent instanceof HttpsAgent && agent.constructor === HttpsAgent) {
            shared ??= new HttpsAgent({ ...agent.options, keepAlive: true, maxSockets });
            context.setAgent(shared);
          }
          if (timeoutMs !== undefined) context.setSignal(AbortSignal.timeout(timeoutMs));
          return context;
        },
        post: async (response) => response,
      },
    ],
  });
}

function makeApis(kc: KubeConfig, concurrency: number, timeoutMs: number): Apis {
  const configuration = keepAliveConfiguration(kc, concurrency, timeoutMs);
  return {
    apps: new AppsV1Api(configuration),
    core: new CoreV1Api(configuration),
    networking: new NetworkingV1Api(configuration),
    discovery: new DiscoveryV1Api(configuration),
    lists: rawListApis(configuration),
  };
}
