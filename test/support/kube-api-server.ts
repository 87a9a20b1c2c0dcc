/**
 * A local, in-memory Kubernetes API server over HTTPS, for testing code that uses the real
 * `@kubernetes/client-node` client: Deployments, Services, ConfigMaps, Ingresses and
 * EndpointSlices with list (paginated), get, create and delete; the metadata-only
 * representation (`Accept: application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`)
 * negotiated as the real server does; bearer-token authentication; TLS from a CA made for
 * the test; injectable faults and latency; a log of the requests served, with the bytes
 * of each answer. Holds half a million production-sized objects (they are kept as JSON).
 *
 * ```ts
 * const server = await startKubeApiServer();
 * server.create('Service', 'jupyter-lab', 'jupyter-service-abc', { creationTimestamp: '2024-01-01T00:00:00Z' });
 * const kc = new KubeConfig();
 * kc.loadFromString(server.kubeconfig());
 * const core = kc.makeApiClient(CoreV1Api);
 * ...
 * await server.close();
 * ```
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FaultEffect, FaultRule, InjectedFault, KubeVerb } from './kube/faults.js';
import { FaultSet } from './kube/faults.js';
import type { KubeconfigOptions } from './kube/kubeconfig.js';
import { kubeconfigYaml } from './kube/kubeconfig.js';
import { statusJson } from './kube/negotiation.js';
import type { KubeKind, KubeObject } from './kube/resources.js';
import { KINDS, defaultObject } from './kube/resources.js';
import type { KubeQuery, ParsedRequest, RouteResult } from './kube/routes.js';
import { parseRequest, route, statusAnswer } from './kube/routes.js';
import type { CreateOptions } from './kube/store.js';
import { ObjectStore } from './kube/store.js';
import type { StatusResponse } from './kube/status.js';
import { internalError, statusForCode, unauthorized } from './kube/status.js';
import { testPki } from './kube/tls.js';

export type { FaultEffect, FaultMatch, FaultRule, InjectedFault, KubeVerb } from './kube/faults.js';
export type { KubeconfigContext, KubeconfigOptions } from './kube/kubeconfig.js';
export type { BuildOptions, EndpointSliceOptions, KubeKind, KubeObject, KubeObjectMeta } from './kube/resources.js';
export {
  configMapObject,
  deploymentObject,
  endpointSliceObject,
  ingressObject,
  serviceObject,
} from './kube/resources.js';
export type { KubeQuery, ParsedRequest } from './kube/routes.js';
export type { CreateOptions } from './kube/store.js';
export type { KubeStatus, StatusDetails } from './kube/status.js';

/** Options of {@link startKubeApiServer}. */
export interface KubeApiServerOptions {
  /** The bearer token accepted by the default check. Default: random. */
  token?: string;
  /** Replaces the token check (e.g. to verify EKS IAM tokens). False answers 401. */
  authenticate?: (token: string, req: IncomingMessage) => boolean | Promise<boolean>;
  /** Delay before each answer, in milliseconds. Default 0; also settable later. */
  latencyMs?: number;
  /** Called with each authenticated request before it is served. */
  beforeServe?: BeforeServeHook;
  /** Called with each request answered from the objects, right after it was served. */
  afterServe?: AfterServeHook;
  /** The user named in 403 messages. Default `lab-reconciler`. */
  userName?: string;
  /** Start with {@link KubeApiServer.ignoreAs} set, and keep it through `reset()`: an old server. Default false. */
  ignoreAs?: boolean;
}

/** A hook run before a request is served, e.g. to change the cluster between two calls. */
export type BeforeServeHook = (request: ParsedRequest) => void | Promise<void>;

/**
 * A hook run synchronously right after a request was answered from the objects (not for
 * faults, 401s or requests that failed inside the server), with the answer: the objects are
 * exactly as the request left them, e.g. to check an invariant at the moment of a delete.
 */
export type AfterServeHook = (request: ParsedRequest, answer: { code: number; body: unknown }) => void;

/** One request, as logged by the server. */
export interface RequestRecord {
  method: string;
  path: string;
  verb?: KubeVerb;
  kind?: KubeKind;
  namespace?: string;
  name?: string;
  query: KubeQuery;
  /** List page, 1 without continue. */
  page?: number;
  /** `preconditions.uid` of a DELETE, if sent. */
  preconditionUid?: string;
  /** The bearer token sent, if any. */
  token?: string;
  /** HTTP status answered; undefined while pending, or when reset or left hanging. */
  status?: number;
  /** The fault that replaced the normal answer, if any. */
  fault?: FaultEffect['type'];
  /** The `Accept` header received, if any. */
  accept?: string;
  /** Bytes of response body the server wrote; undefined while pending and when it wrote none (a reset, a hang). */
  bytes?: number;
}

/**
 * Which requests {@link KubeApiServer.countRequests} counts and {@link KubeApiServer.bytesSent}
 * sums; every field given must match.
 */
export type RequestFilter = Partial<Pick<RequestRecord, 'method' | 'verb' | 'kind' | 'namespace' | 'name' | 'status' | 'page' | 'accept' | 'fault'>>;

/** Starts a server on 127.0.0.1, on a free port. Close it with {@link KubeApiServer.close}. */
export async function startKubeApiServer(options: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const pki = await testPki();
  const server = new KubeApiServer(options, pki.caCert, createServer({ cert: pki.serverCert, key: pki.serverKey }));
  await server.listen();
  return server;
}

/** The running server: its address and credentials, its objects, its faults and its log. */
export class KubeApiServer {
  /** The token the default check accepts; may be changed at any time (token rotation). */
  token: string;
  /** Delay before each answer, in milliseconds. */
  latencyMs: number;
  beforeServe: BeforeServeHook | undefined;
  afterServe: AfterServeHook | undefined;
  /**
   * Answer every request with the full representation as `application/json`, whatever its
   * `Accept` header asks (`as=PartialObjectMetadataList` included), and write errors as
   * compact JSON: what an old or aggregated API server does for a client whose header ends
   * in the `application/json` fallback. False (the default): negotiate as kube-apiserver.
   */
  ignoreAs: boolean;

  private readonly store = new ObjectStore();
  private readonly faults = new FaultSet();
  private readonly log: RequestRecord[] = [];
  private readonly stopping = new AbortController();
  private inFlightNow = 0;
  private inFlightPeak = 0;
  private idleWaiters: Array<() => void> = [];
  private port = 0;

  /** @internal use {@link startKubeApiServer}. */
  constructor(
    private readonly options: KubeApiServerOptions,
    /** PEM of the CA that signed the server's certificate. */
    readonly caCert: string,
    private readonly https: Server,
  ) {
    this.token = options.token ?? randomBytes(24).toString('base64url');
    this.latencyMs = options.latencyMs ?? 0;
    this.beforeServe = options.beforeServe;
    this.afterServe = options.afterServe;
    this.ignoreAs = options.ignoreAs ?? false;
    this.https.on('request', (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res));
  }

  /** @internal */
  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.https.once('error', reject);
      this.https.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.https.address() as AddressInfo).port;
  }

  /** `https://127.0.0.1:{port}` */
  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** The CA certificate, base64 of the PEM, as `caData` of `loadFromClusterAndUser` wants it. */
  get caData(): string {
    return Buffer.from(this.caCert).toString('base64');
  }

  /** kubeconfig YAML for this server (CA data, bearer token, one or several contexts). */
  kubeconfig(options: KubeconfigOptions = {}): string {
    return kubeconfigYaml({ server: this.url, caCert: this.caCert, token: this.token }, options);
  }

  // ---- Objects (the test API: not over HTTP, not logged) ----

  /**
   * Creates an object: a full object (from the builders) or a name, for which the kind's
   * default builder is used. Fills uid, resourceVersion and creationTimestamp unless given.
   * Throws when the name is taken. Answers the object as stored; apart from its `metadata`,
   * its fields are those of the object given, not copies (the server keeps its own copy).
   */
  create(kind: KubeKind, namespace: string, objectOrName: KubeObject | string, options: CreateOptions = {}): KubeObject {
    const object = typeof objectOrName === 'string' ? defaultObject(kind, objectOrName) : objectOrName;
    return this.store.create(KINDS[kind], namespace, object, options);
  }

  /** A copy of the object, or undefined. */
  get(kind: KubeKind, namespace: string, name: string): KubeObject | undefined {
    return this.store.get(KINDS[kind], namespace, name);
  }

  /** Copies of the objects of a kind, in one namespace or all, sorted by namespace and name. */
  list(kind: KubeKind, namespace?: string): KubeObject[] {
    return this.store.all(KINDS[kind], namespace);
  }

  /** Removes an object; false when there was none. */
  remove(kind: KubeKind, namespace: string, name: string): boolean {
    return this.store.remove(KINDS[kind], namespace, name);
  }

  /**
   * Deletes the object of that name, if any, and creates a new one in its place, with a
   * new uid (unless `options.uid` says otherwise): what a controller recreating it does.
   */
  replace(kind: KubeKind, namespace: string, objectOrName: KubeObject | string, options: CreateOptions = {}): KubeObject {
    const name = typeof objectOrName === 'string' ? objectOrName : objectOrName.metadata.name;
    this.remove(kind, namespace, name);
    return this.create(kind, namespace, objectOrName, options);
  }

  /** Changes an object in place, keeping its uid, bumping its resourceVersion. */
  update(kind: KubeKind, namespace: string, name: string, mutate: (object: KubeObject) => void): KubeObject {
    return this.store.update(KINDS[kind], namespace, name, mutate);
  }

  /**
   * Back to a fresh server between tests: no objects, faults, logged requests, latency or
   * hooks (the token and the TLS keep). {@link ignoreAs} goes back to what the server was
   * started with: false, unless it was started as an old server (`ignoreAs: true`).
   */
  reset(): void {
    this.clear();
    this.clearFaults();
    this.clearRequests();
    this.latencyMs = 0;
    this.ignoreAs = this.options.ignoreAs ?? false;
    this.beforeServe = undefined;
    this.afterServe = undefined;
  }

  /** Drops every object; outstanding continue tokens expire. */
  clear(): void {
    this.store.clear();
  }

  /** Makes every outstanding continue token answer 410 Expired, as an etcd compaction does. */
  expireContinueTokens(): void {
    this.store.expireContinueTokens();
  }

  // ---- Faults ----

  /** Injects a fault; the returned handle tells how often it hit. */
  injectFault(rule: FaultRule): InjectedFault {
    return this.faults.add(rule);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  // ---- Log and concurrency ----

  /** The requests received, oldest first (a live view; copy it to keep a moment's state). */
  get requests(): readonly RequestRecord[] {
    return this.log;
  }

  /** How many logged requests match the filter. */
  countRequests(filter: RequestFilter = {}): number {
    return this.matching(filter).length;
  }

  /** Bytes of response body written for the logged requests that match the filter. */
  bytesSent(filter: RequestFilter = {}): number {
    return this.matching(filter).reduce((sum, r) => sum + (r.bytes ?? 0), 0);
  }

  private matching(filter: RequestFilter): RequestRecord[] {
    const entries = Object.entries(filter) as Array<[keyof RequestFilter, unknown]>;
    return this.log.filter((r) => entries.every(([key, value]) => r[key] === value));
  }

  /** Requests being served now. */
  get inFlight(): number {
    return this.inFlightNow;
  }

  /** The most requests ever in flight at once since start or {@link clearRequests}. */
  get peakInFlight(): number {
    return this.inFlightPeak;
  }

  /** Empties the log and restarts the in-flight peak from the present count. */
  clearRequests(): void {
    this.log.length = 0;
    this.inFlightPeak = this.inFlightNow;
  }

  /** Stops the server, ending hanging and delayed requests so the test process can exit. */
  async close(): Promise<void> {
    this.stopping.abort();
    const closed = new Promise<void>((resolve) => this.https.close(() => resolve()));
    this.https.closeAllConnections();
    await closed;
    await this.idle();
  }

  /** Resolves once no request is in flight (responses report 'close' a tick after the socket). */
  private idle(): Promise<void> {
    if (this.inFlightNow === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  // ---- Serving ----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.enterFlight(res);
    let record: RequestRecord | undefined;
    try {
      const request = await parseRequest(req, this.store);
      record = this.record(request);
      await sleep(this.latencyMs, undefined, { signal: this.stopping.signal });
      const fault = this.faults.take(request);
      if (fault) return this.applyFault(fault, request, record, res);
      if (!(await this.authenticated(request, req))) return this.send(res, record, this.statusAnswer(unauthorized(), request.accept));
      await this.beforeServe?.(request);
      const answer = route(this.store, request, { ignoreAs: this.ignoreAs });
      this.send(res, record, answer);
      this.afterServe?.(request, answer);
    } catch (error) {
      // Closing aborts the waits; there is nobody left to answer then.
      if (this.stopping.signal.aborted) res.destroy();
      else this.send(res, record, this.statusAnswer(internalError(String(error)), req.headers.accept));
    }
  }

  private enterFlight(res: ServerResponse): void {
    this.inFlightNow++;
    this.inFlightPeak = Math.max(this.inFlightPeak, this.inFlightNow);
    // 'close' comes after the answer, a reset, or the client giving up on a hanging request.
    res.once('close', () => {
      this.inFlightNow--;
      if (this.inFlightNow === 0) this.idleWaiters.splice(0).forEach((resolve) => resolve());
    });
  }

  private record(request: ParsedRequest): RequestRecord {
    const record: RequestRecord = {
      method: request.method,
      path: request.path,
      ...(request.verb ? { verb: request.verb } : {}),
      ...(request.kind ? { kind: request.kind } : {}),
      ...(request.namespace !== undefined ? { namespace: request.namespace } : {}),
      ...(request.name !== undefined ? { name: request.name } : {}),
      query: request.query,
      ...(request.page !== undefined ? { page: request.page } : {}),
      ...(request.preconditionUid !== undefined ? { preconditionUid: request.preconditionUid } : {}),
      ...(request.token !== undefined ? { token: request.token } : {}),
      ...(request.accept !== undefined ? { accept: request.accept } : {}),
    };
    this.log.push(record);
    return record;
  }

  private async authenticated(request: ParsedRequest, req: IncomingMessage): Promise<boolean> {
    if (!request.token) return false;
    if (this.options.authenticate) return this.options.authenticate(request.token, req);
    return request.token === this.token;
  }

  private applyFault(effect: FaultEffect, request: ParsedRequest, record: RequestRecord, res: ServerResponse): void {
    record.fault = effect.type;
    switch (effect.type) {
      case 'reset':
        res.socket?.destroy();
        return;
      case 'hang':
        return;
      case 'malformed-json':
        record.status = 200;
        this.write(res, record, 200, jsonHeaders(), `{"kind":"${request.kind ?? 'Status'}List","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[{"metadata":{"name":`);
        return;
      case 'status':
        this.sendFaultStatus(effect, request, record, res);
        return;
    }
  }

  private sendFaultStatus(effect: Extract<FaultEffect, { type: 'status' }>, request: ParsedRequest, record: RequestRecord, res: ServerResponse): void {
    const retryAfter = Number(Object.entries(effect.headers ?? {}).find(([k]) => k.toLowerCase() === 'retry-after')?.[1]);
    record.status = effect.code;
    if (typeof effect.body === 'string') {
      const headers = { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', ...effect.headers };
      this.write(res, record, effect.code, headers, `${effect.body}\n`);
      return;
    }
    if (effect.body) {
      this.write(res, record, effect.code, { ...jsonHeaders(), ...effect.headers }, JSON.stringify(effect.body));
      return;
    }
    const status = statusForCode(effect.code, {
        ...(request.info ? { info: request.info } : {}),
        verb: request.verb ?? request.method.toLowerCase(),
        ...(request.namespace !== undefined ? { namespace: request.namespace } : {}),
        ...(request.name !== undefined ? { name: request.name } : {}),
        user: this.options.userName ?? 'lab-reconciler',
        ...(Number.isFinite(retryAfter) ? { retryAfterSeconds: retryAfter } : {}),
      });
    // The real server writes its own errors as it writes any Status (see statusJson).
    const body = statusJson(status.body, request.accept, this.ignoreAs);
    this.write(res, record, effect.code, { ...jsonHeaders(), ...effect.headers }, body);
  }

  private statusAnswer(status: StatusResponse, accept: string | undefined): RouteResult {
    return statusAnswer(status, accept, this.ignoreAs);
  }

  private send(res: ServerResponse, record: RequestRecord | undefined, result: RouteResult): void {
    if (record) record.status = result.code;
    this.write(res, record, result.code, jsonHeaders(), result.json);
  }

  /** Writes the whole answer at once, counting its body's bytes in the log. */
  private write(res: ServerResponse, record: RequestRecord | undefined, code: number, headers: Record<string, string>, body: string): void {
    if (res.destroyed || res.headersSent) return;
    const bytes = Buffer.from(body);
    if (record) record.bytes = bytes.length;
    res.writeHead(code, headers).end(bytes);
  }
}

/** The headers the real server sends with JSON (Audit-Id lets a test tell answers apart). */
function jsonHeaders(): Record<string, string> {
  return { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Audit-Id': randomUUID() };
}
