/**
 * The Kubernetes adapter: the Cluster port over the product's own request layer (kube-http.ts,
 * with client-node's kubeconfig and auth). A handful of paginated list calls per namespace
 * (never one call per Service), the four kinds the core reads by name listed as metadata
 * only, every page decoded as it streams in; deletes with uid preconditions, bounded
 * concurrency, and retries within a budget.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Cluster, DeletableKind, DeleteOutcome, KubeObject, Logger, ObservationSink, ResourceKind, ResourceRecord } from '../ports.js';
import { silentLogger } from '../ports.js';
import { toEndpointSliceRecord, toRecord } from './records.js';
import type { EndpointSliceLike, MetadataLike } from './records.js';
import { Limiter, settleAll } from '../core/pool.js';
import { messageOf } from '../errors.js';
import type { KubeRequest } from './kube-http.js';
import type { IncomingMessage } from 'node:http';
import { KubeApiError, KubeHttp, KubeTransportError, readText } from './kube-http.js';
import type { ElementFields } from './list-stream.js';
import { ListStreamDecoder } from './list-stream.js';
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
  /**
   * `metadata` (the default) asks for PartialObjectMetadataList where only metadata is read;
   * `full` asks for whole objects (to measure what metadata-only lists save).
   */
  lists?: 'metadata' | 'full';
}

/** A PartialObjectMetadataList where the server can, the full list where it cannot. */
const METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
const METADATA_OBJECT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';
const JSON_ONLY = 'application/json';

/** Nobody reads `managedFields`, a kilobyte or more an object even in metadata-only lists. */
const DROPPED_FROM_METADATA: ReadonlySet<string> = new Set(['managedFields']);
const METADATA_FIELDS: ElementFields = { keep: new Set(['metadata']), dropFromMetadata: DROPPED_FROM_METADATA };
const SLICE_FIELDS: ElementFields = { keep: new Set(['metadata', 'endpoints']), dropFromMetadata: DROPPED_FROM_METADATA };

type ListedKind = ResourceKind | 'EndpointSlice';

/** Where each kind lives in the REST API. */
const PATHS: Readonly<Record<ListedKind, (namespace: string) => string>> = {
  Deployment: (ns) => `/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/deployments`,
  Service: (ns) => `/api/v1/namespaces/${encodeURIComponent(ns)}/services`,
  Ingress: (ns) => `/apis/networking.k8s.io/v1/namespaces/${encodeURIComponent(ns)}/ingresses`,
  ConfigMap: (ns) => `/api/v1/namespaces/${encodeURIComponent(ns)}/configmaps`,
  EndpointSlice: (ns) => `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(ns)}/endpointslices`,
};

const PLURAL: Readonly<Record<ListedKind, string>> = {
  Deployment: 'Deployments',
  Service: 'Services',
  Ingress: 'Ingresses',
  ConfigMap: 'ConfigMaps',
  EndpointSlice: 'EndpointSlices',
};

/** A Cluster backed by a live API server. */
export class KubernetesCluster implements Cluster {
  readonly description: string;
  private readonly http: KubeHttp;
  private readonly limiter: Limiter;
  private readonly pageSize: number;
  private readonly retry: RetryPolicy;
  private readonly logger: Logger;
  private readonly beforeRequest: (() => Promise<void>) | undefined;
  private readonly metadataOnly: boolean;

  constructor(options: KubernetesClusterOptions) {
    this.beforeRequest = options.beforeRequest;
    this.limiter = new Limiter(options.concurrency);
    // 1,000 objects a page: half the list requests of kubectl's 500. A page is decoded as it
    // streams, so its size costs no memory.
    this.pageSize = options.pageSize ?? 1000;
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.logger = options.logger ?? silentLogger;
    this.metadataOnly = (options.lists ?? 'metadata') === 'metadata';
    this.http = new KubeHttp(options.kubeConfig, { maxSockets: options.concurrency, timeoutMs: options.requestTimeoutMs ?? 30_000 });
    this.description = options.description ?? `cluster ${options.kubeConfig.getCurrentCluster()?.server ?? '?'}`;
  }

  async observe(namespace: string, sink: ObservationSink): Promise<void> {
    // The Deployments first, then the other four side by side, each paging through its kind
    // in order. The collector keeps of a session with a Deployment only its id, but it must
    // keep the records of objects whose Deployment it has not seen yet: lists of the lighter
    // kinds, side by side with the Deployments, would run ahead of them and be held whole
    // (95 MiB of heap at 100,000 sessions). Listed after them, only orphans' records are kept.
    const resources = (kind: ResourceKind) =>
      this.listAll(
        namespace,
        kind,
        (item) => toRecord(kind, namespace, (item as { metadata?: MetadataLike }).metadata),
        (record) => sink.resource(record),
        () => sink.restarted(kind),
      );
    await resources('Deployment');
    await settleAll([
      resources('Service'),
      resources('Ingress'),
      resources('ConfigMap'),
      this.listAll(
        namespace,
        'EndpointSlice',
        (item) => toEndpointSliceRecord(namespace, item as EndpointSliceLike),
        (record) => sink.endpointSlice(record),
        () => sink.restarted('EndpointSlice'),
      ),
    ]);
  }

  /**
   * Every page of one list, each page's objects handed on once the page was read whole (a
   * page retried after a failure half-way is not counted twice). An expired `continue` token
   * (410) restarts the list from the beginning, since mixing two snapshots could hide an
   * object; any other failure rejects.
   */
  private async listAll<R>(namespace: string, kind: ListedKind, convert: (item: unknown) => R, deliver: (record: R) => void, restarted: () => void): Promise<void> {
    const what = `${PLURAL[kind]} in namespace ${namespace}`;
    const metadataOnly = this.metadataOnly && kind !== 'EndpointSlice';
    const accept = metadataOnly ? METADATA_LIST : JSON_ONLY;
    const fields = kind === 'EndpointSlice' ? SLICE_FIELDS : METADATA_FIELDS;
    for (let restart = 0; ; restart++) {
      let cont: string | undefined;
      try {
        do {
          const request: KubeRequest = { method: 'GET', path: PATHS[kind](namespace), query: { limit: this.pageSize, continue: cont }, accept };
          const { items, continueToken } = await this.request(`list ${what}`, () =>
            this.http.send(request, async (body) => {
              // Each object is reduced to its record as soon as it is parsed.
              const page: R[] = [];
              const decoder = new ListStreamDecoder((item) => page.push(convert(item)), fields);
              for await (const chunk of body as AsyncIterable<Buffer>) decoder.write(chunk);
              return { items: page, continueToken: decoder.end().continueToken };
            }),
          );
          for (const record of items) deliver(record);
          cont = continueToken;
        } while (cont);
        return;
      } catch (error) {
        if (error instanceof KubeApiError && error.code === 410 && cont !== undefined && restart < 2) {
          this.logger.warn(`Restarted the list of ${what}: its continue token expired`);
          restarted();
          continue;
        }
        throw new Error(`Failed to list ${what}: ${describeError(error)}`, { cause: error });
      }
    }
  }

  async delete(resource: ResourceRecord, { dryRun }: { dryRun: boolean }): Promise<DeleteOutcome> {
    const { namespace, name, uid } = resource;
    const kind = resource.kind as DeletableKind;
    if (kind !== 'Service' && kind !== 'Ingress' && kind !== 'ConfigMap') {
      throw new Error(`Refused to delete ${resource.kind} ${namespace}/${name}: only Services, Ingresses and ConfigMaps are deleted`);
    }
    const request: KubeRequest = {
      method: 'DELETE',
      path: `${PATHS[kind](namespace)}/${encodeURIComponent(name)}`,
      query: { dryRun: dryRun ? 'All' : undefined },
      // The answer (the object, or a Status) is not read: metadata is the least the server sends.
      accept: METADATA_OBJECT,
      body: { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid } },
    };
    try {
      await this.request(`delete ${kind} ${namespace}/${name}`, () => this.http.send(request, (body) => readAnswer(body, name, 'delete')));
      return 'deleted';
    } catch (error) {
      if (error instanceof KubeApiError && error.code === 404) return 'gone';
      if (error instanceof KubeApiError && error.code === 409) return 'conflict';
      throw new Error(`${describeError(error)}`, { cause: error });
    }
  }

  async read(resource: ResourceRecord): Promise<KubeObject | 'gone'> {
    const { kind, namespace, name } = resource;
    const request: KubeRequest = { method: 'GET', path: `${PATHS[kind](namespace)}/${encodeURIComponent(name)}`, accept: JSON_ONLY };
    try {
      return await this.request(`read ${kind} ${namespace}/${name}`, () => this.http.send(request, (body) => readObject(body, name)));
    } catch (error) {
      if (error instanceof KubeApiError && error.code === 404) return 'gone';
      throw new Error(describeError(error), { cause: error });
    }
  }

  /**
   * Creates an object (a restore): `created`, or `exists` when an object of that name is there
   * already (409 AlreadyExists; it is never replaced). With `dryRun`, the server validates the
   * create (`dryRun=All`) and stores nothing.
   */
  async create(kind: DeletableKind, namespace: string, object: KubeObject, { dryRun }: { dryRun: boolean }): Promise<'created' | 'exists'> {
    const name = object.metadata?.name ?? '';
    const request: KubeRequest = { method: 'POST', path: PATHS[kind](namespace), query: { dryRun: dryRun ? 'All' : undefined }, accept: METADATA_OBJECT, body: object };
    try {
      await this.request(`create ${kind} ${namespace}/${name}`, () => this.http.send(request, (body) => readAnswer(body, name, 'create')));
      return 'created';
    } catch (error) {
      if (error instanceof KubeApiError && error.code === 409 && parseStatus(error.body)?.reason === 'AlreadyExists') return 'exists';
      throw new Error(describeError(error), { cause: error });
    }
  }

  async deploymentExists(namespace: string, name: string): Promise<boolean> {
    const request: KubeRequest = { method: 'GET', path: `${PATHS.Deployment(namespace)}/${encodeURIComponent(name)}`, accept: METADATA_OBJECT };
    try {
      await this.request(`read Deployment ${namespace}/${name}`, () => this.http.send(request, (body) => readAnswer(body, name, 'get')));
      return true;
    } catch (error) {
      if (error instanceof KubeApiError && error.code === 404) return false;
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

/** The most of a GET's or a DELETE's answer read: an object's metadata, or a Status. */
const ANSWER_LIMIT = 4 * 1024 * 1024;

/**
 * Reads the answer to a GET or a DELETE and checks it is one: the object named (whole, or its
 * metadata), or for a DELETE a Status of Success. A 2xx whose body is anything else (cut
 * short, garbled by a proxy) proves nothing, so it is an error, never taken for a success.
 */
async function readAnswer(body: IncomingMessage, name: string, verb: 'get' | 'delete' | 'create'): Promise<void> {
  const text = await readText(body, ANSWER_LIMIT);
  let answer: { kind?: unknown; status?: unknown; metadata?: { name?: unknown } } | null;
  try {
    answer = JSON.parse(text) as typeof answer;
  } catch (error) {
    throw new Error(`the answer to the ${verb} of ${name} is not JSON (${messageOf(error)}): nothing is known of its outcome`, { cause: error });
  }
  if (verb === 'delete' && answer?.kind === 'Status' && answer.status === 'Success') return;
  if (answer?.metadata?.name === name) return;
  throw new Error(`the answer to the ${verb} of ${name} is neither the object nor a Status of Success: nothing is known of its outcome`);
}

/** A GET's answer whole, for the archive: the named object, or an error (never a guess). */
async function readObject(body: IncomingMessage, name: string): Promise<KubeObject> {
  const text = await readText(body, ANSWER_LIMIT + 1);
  if (Buffer.byteLength(text) > ANSWER_LIMIT) throw new Error(`the answer to the get of ${name} is larger than ${ANSWER_LIMIT} bytes`);
  let object: KubeObject | null;
  try {
    object = JSON.parse(text) as KubeObject | null;
  } catch (error) {
    throw new Error(`the answer to the get of ${name} is not JSON (${messageOf(error)})`, { cause: error });
  }
  if (object?.metadata?.name !== name) throw new Error(`the answer to the get of ${name} is not the object named`);
  return object;
}

/** 429, 5xx and failures to connect or to get a whole answer in time are worth another try; everything else is an answer. */
export function classify(error: unknown): RetryVerdict {
  if (error instanceof KubeApiError) {
    const code = error.code;
    if (code === 429 || (code >= 500 && code !== 501)) {
      return { retryable: true, retryAfterMs: parseRetryAfter(headerOf(error.headers['retry-after'])) };
    }
    return { retryable: false };
  }
  return { retryable: error instanceof KubeTransportError };
}

function headerOf(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** An operator-readable account of an API failure: the code, the reason and the Status message. */
export function describeError(error: unknown): string {
  if (error instanceof KubeApiError) {
    const status = parseStatus(error.body);
    const detail = status?.message ?? (error.code === 401 ? 'Unauthorized: the credentials were rejected' : undefined);
    return `HTTP ${error.code}${status?.reason ? ` ${status.reason}` : ''}${detail ? `: ${detail}` : ''}`;
  }
  if (error instanceof KubeTransportError && error.timedOut) return 'the request timed out';
  return messageOf(error);
}

function parseStatus(body: string): { message?: string; reason?: string } | undefined {
  try {
    const parsed = JSON.parse(body) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as { message?: string; reason?: string }) : undefined;
  } catch {
    return body.trim() ? { message: body.trim().slice(0, 300) } : undefined;
  }
}
