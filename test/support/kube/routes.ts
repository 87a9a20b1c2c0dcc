/**
 * From an HTTP request to the answer of the API server: which resource the path names,
 * which verb the method means, and what list, get, create and delete return.
 */
import type { IncomingMessage } from 'node:http';
import type { KubeVerb } from './faults.js';
import type { Negotiated } from './negotiation.js';
import { NOT_ACCEPTABLE_MESSAGE, negotiate, statusJson } from './negotiation.js';
import type { KindInfo, KubeKind, KubeObject } from './resources.js';
import { apiVersionOf, kindAt } from './resources.js';
import type { ObjectStore, StoredPage } from './store.js';
import { StoredObject } from './store.js';
import type { KubeStatus, StatusResponse } from './status.js';
import {
  KubeStatusError,
  badRequest,
  deleteSuccess,
  internalError,
  invalid,
  methodNotAllowed,
  notAcceptable,
  notFound,
  pathNotFound,
  unsupportedMediaType,
} from './status.js';

/** The query parameters the server reads (and logs). */
export interface KubeQuery {
  limit?: number;
  continue?: string;
  dryRun?: string;
  labelSelector?: string;
}

/** A request as the server understood it; what `beforeServe` hooks receive. */
export interface ParsedRequest {
  method: string;
  path: string;
  /** Undefined when the path names no resource this server serves. */
  info?: KindInfo;
  kind?: KubeKind;
  verb?: KubeVerb;
  namespace?: string;
  name?: string;
  query: KubeQuery;
  /** The list page (1 without continue); undefined for other verbs and unknown tokens. */
  page?: number;
  /** The bearer token sent, if any. */
  token?: string;
  contentType?: string;
  /** The `Accept` header, if sent. */
  accept?: string;
  /** The raw request body ('' when none was sent). */
  rawBody: string;
  /** `preconditions.uid` of a DELETE's DeleteOptions, if any. */
  preconditionUid?: string;
}

/** An answer: a status code and a JSON body. */
export interface RouteResult {
  code: number;
  /** The body as sent. */
  json: string;
  /** The body parsed, on first read (a list page is never parsed unless a hook reads it). */
  readonly body: unknown;
}

/** How {@link route} answers. */
export interface RouteOptions {
  /**
   * Answer the full object as `application/json` whatever the `Accept` header asks, as an
   * old or aggregated API server does (when the client's header ends in that fallback).
   */
  ignoreAs?: boolean;
}

/** An answer with the given body; `body` parses it on first read. */
export function answer(code: number, json: string): RouteResult {
  let parsed: { value: unknown } | undefined;
  return {
    code,
    json,
    get body() {
      parsed ??= { value: JSON.parse(json) };
      return parsed.value;
    },
  };
}

/** A Status answer, written as the real server writes errors for this `Accept` header. */
export function statusAnswer(status: StatusResponse, accept: string | undefined, ignoreAs = false): RouteResult {
  return answer(status.code, statusJson(status.body, accept, ignoreAs));
}

const NAMESPACED_PATH = /^\/(?:api\/(?<coreVersion>[^/]+)|apis\/(?<group>[^/]+)\/(?<version>[^/]+))\/namespaces\/(?<namespace>[^/]+)\/(?<plural>[^/]+)(?:\/(?<name>[^/]+))?\/?$/;

/** Reads and interprets a request; never throws for a bad request (the route answers it). */
export async function parseRequest(req: IncomingMessage, store: ObjectStore): Promise<ParsedRequest> {
  const url = new URL(req.url ?? '/', 'https://kube.invalid');
  const rawBody = await readBody(req);
  const method = (req.method ?? 'GET').toUpperCase();
  const match = NAMESPACED_PATH.exec(url.pathname)?.groups;
  const info = match ? kindAt(match.group ?? '', match.version ?? match.coreVersion ?? '', match.plural ?? '') : undefined;
  const name = match?.name === undefined ? undefined : decodeURIComponent(match.name);
  const query = parseQuery(url.searchParams);
  const verb = info ? verbOf(method, name) : undefined;
  const auth = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  return {
    method,
    path: url.pathname,
    ...(info ? { info, kind: info.kind } : {}),
    ...(verb ? { verb } : {}),
    ...(match?.namespace ? { namespace: decodeURIComponent(match.namespace) } : {}),
    ...(name !== undefined ? { name } : {}),
    query,
    ...(verb === 'list' ? pageField(store.pageOf(query.continue)) : {}),
    ...(auth?.[1] ? { token: auth[1].trim() } : {}),
    ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}),
    ...(req.headers.accept !== undefined ? { accept: req.headers.accept } : {}),
    rawBody,
    ...preconditionField(verb, rawBody),
  };
}

/**
 * Serves a parsed, authenticated request from the store, in the representation its `Accept`
 * header negotiates (the full object, or its PartialObjectMetadata[List]).
 */
export function route(store: ObjectStore, request: ParsedRequest, options: RouteOptions = {}): RouteResult {
  const ignoreAs = options.ignoreAs ?? false;
  const accept = ignoreAs ? undefined : request.accept;
  try {
    const { info, namespace } = request;
    if (!info || namespace === undefined) return statusAnswer(pathNotFound(), accept, ignoreAs);
    if (!request.verb) return statusAnswer(methodNotAllowed(info, request.method), accept, ignoreAs);
    // The handlers negotiate first: a 406 leaves the objects untouched.
    const negotiated = negotiate(accept, 'resource');
    if (!negotiated) return statusAnswer(notAcceptable(NOT_ACCEPTABLE_MESSAGE), accept, ignoreAs);
    const render = new Renderer(info, negotiated);
    switch (request.verb) {
      case 'list':
        return answer(200, render.list(list(store, info, namespace, request)));
      case 'get':
        return answer(200, render.object(get(store, info, namespace, request.name ?? '')));
      case 'create':
        return answer(201, render.object(create(store, info, namespace, request)));
      case 'delete':
        return answer(200, render.object(remove(store, info, namespace, request)));
    }
  } catch (error) {
    if (error instanceof KubeStatusError) return statusAnswer(error.response, accept, ignoreAs);
    throw error;
  }
}

/**
 * The answer's JSON in the negotiated representation (handlers/response.go,
 * transformResponseObject): the object itself, or its metadata as PartialObjectMetadata, a
 * list as PartialObjectMetadataList. A Status stays a Status; a conversion that does not fit
 * the answer (a list as PartialObjectMetadata, an object as a List) is a 406.
 */
class Renderer {
  constructor(
    private readonly info: KindInfo,
    private readonly negotiated: Negotiated,
  ) {}

  list(page: StoredPage): string {
    const { convert } = this.negotiated;
    if (convert?.kind === 'PartialObjectMetadata') {
      throw new KubeStatusError(notAcceptable(`you requested PartialObjectMetadata, but the requested object is a list (${internalType(this.info)}List)`));
    }
    const metadata = JSON.stringify(page.metadata);
    if (convert) {
      const items = page.items.map((o) => o.metadataOnlyJson(convert.apiVersion)).join(',');
      return `{"kind":"PartialObjectMetadataList","apiVersion":"${convert.apiVersion}","metadata":${metadata},"items":[${items}]}`;
    }
    const items = page.items.map((o) => o.itemJson()).join(',');
    return `{"kind":"${this.info.kind}List","apiVersion":"${apiVersionOf(this.info)}","metadata":${metadata},"items":[${items}]}`;
  }

  object(result: StoredObject | KubeStatus): string {
    if (!(result instanceof StoredObject)) return JSON.stringify(result);
    const { convert } = this.negotiated;
    if (convert?.kind === 'PartialObjectMetadataList') {
      throw new KubeStatusError(notAcceptable(`you requested PartialObjectMetadataList, but the requested object is not a list (${internalType(this.info)})`));
    }
    return convert ? result.metadataOnlyJson(convert.apiVersion) : result.objectJson();
  }
}

/** The Go type the handlers hold (the internal version), as `%T` prints it in their messages. */
function internalType(info: KindInfo): string {
  const pkg = info.group === '' ? 'core' : info.group.split('.')[0]!;
  return `*${pkg}.${info.kind}`;
}

function list(store: ObjectStore, info: KindInfo, namespace: string, request: ParsedRequest): StoredPage {
  return store.listStored(info, namespace, {
    ...(request.query.limit !== undefined ? { limit: request.query.limit } : {}),
    ...(request.query.continue ? { continueToken: request.query.continue } : {}),
    ...(request.query.labelSelector ? { labelSelector: request.query.labelSelector } : {}),
  });
}

function get(store: ObjectStore, info: KindInfo, namespace: string, name: string): StoredObject {
  const found = store.getStored(info, namespace, name);
  if (!found) throw new KubeStatusError(notFound(info, name));
  return found;
}

function create(store: ObjectStore, info: KindInfo, namespace: string, request: ParsedRequest): StoredObject {
  const object = jsonBody(request) as KubeObject | undefined;
  if (!object || typeof object !== 'object') throw new KubeStatusError(badRequest('the body of the request was empty'));
  const mismatch = typeMismatch(info, object);
  if (mismatch) throw new KubeStatusError(badRequest(mismatch));
  const name = object.metadata?.name;
  if (!name) {
    throw new KubeStatusError(
      invalid({ kind: info.kind, group: info.group }, '', {
        field: 'metadata.name',
        reason: 'FieldValueRequired',
        message: 'Required value: name or generateName is required',
      }),
    );
  }
  if (object.metadata.namespace && object.metadata.namespace !== namespace) {
    throw new KubeStatusError(badRequest('the namespace of the provided object does not match the namespace sent on the request'));
  }
  // As etcd3's store refuses it: an object copied from a GET carries its resourceVersion.
  if (object.metadata.resourceVersion) throw new KubeStatusError(internalError('resourceVersion should not be set on objects to be created'));
  const dryRun = dryRunOf(request, undefined);
  return store.createStored(info, namespace, info.kind === 'Service' ? withClusterIp(store, info, name, object) : object, {}, { trusted: false, dryRun });
}

let allocatedIps = 0;

/**
 * A Service's clusterIP as the real allocator treats it: a given one must be free (a Service
 * restored with the address it had when archived collides with whoever holds it now, 422); none
 * given, one is allocated; `None` (headless) stays.
 */
function withClusterIp(store: ObjectStore, info: KindInfo, name: string, object: KubeObject): KubeObject {
  const spec = ((object as { spec?: Record<string, unknown> }).spec ?? {}) as { clusterIP?: string; clusterIPs?: string[] };
  const wanted = spec.clusterIP ?? spec.clusterIPs?.[0];
  if (wanted === 'None') return object;
  if (wanted) {
    const taken = store.all(info).some((s) => (s as { spec?: { clusterIP?: string } }).spec?.clusterIP === wanted);
    if (taken) {
      throw new KubeStatusError(
        invalid({ kind: 'Service', group: '' }, name, {
          field: 'spec.clusterIPs',
          reason: 'FieldValueInvalid',
          message: `Invalid value: []string{"${wanted}"}: failed to allocate IP ${wanted}: provided IP is already allocated`,
        }),
      );
    }
    return object;
  }
  allocatedIps += 1;
  const ip = `10.101.${Math.floor(allocatedIps / 254) % 256}.${(allocatedIps % 254) + 1}`;
  return { ...object, spec: { ...spec, clusterIP: ip, clusterIPs: [ip] } } as KubeObject;
}

function remove(store: ObjectStore, info: KindInfo, namespace: string, request: ParsedRequest): StoredObject | KubeStatus {
  const options = (jsonBody(request) ?? {}) as DeleteOptionsBody;
  const name = request.name ?? '';
  const deleted = store.deleteStored(info, namespace, name, {
    ...(options.preconditions?.uid !== undefined ? { uid: options.preconditions.uid } : {}),
    ...(options.preconditions?.resourceVersion !== undefined ? { resourceVersion: options.preconditions.resourceVersion } : {}),
    dryRun: dryRunOf(request, options.dryRun),
  });
  return info.deleteReturnsObject ? deleted : deleteSuccess(info, name, deleted.uid);
}

/** The fields of DeleteOptions this server acts on. */
interface DeleteOptionsBody {
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: string[];
}

/** True for `dryRun=All` in the query or `dryRun: ["All"]` in the body; 422 for other values. */
function dryRunOf(request: ParsedRequest, fromBody: string[] | undefined): boolean {
  const values = [...(request.query.dryRun ? [request.query.dryRun] : []), ...(fromBody ?? [])];
  const bad = values.findIndex((v) => v !== 'All');
  if (bad >= 0) {
    const message = `Unsupported value: "${values[bad]}": supported values: "All"`;
    throw new KubeStatusError(
      invalid({ kind: 'DeleteOptions', group: 'meta.k8s.io' }, '', { field: `dryRun[${bad}]`, reason: 'FieldValueNotSupported', message }),
    );
  }
  return values.length > 0;
}

/** The JSON body, undefined when empty; 415 for another media type, 400 when it does not parse. */
function jsonBody(request: ParsedRequest): unknown {
  if (request.rawBody.trim() === '') return undefined;
  const type = (request.contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type !== 'application/json') throw new KubeStatusError(unsupportedMediaType(type));
  try {
    return JSON.parse(request.rawBody);
  } catch (error) {
    throw new KubeStatusError(badRequest(`couldn't get version/kind; json parse error: ${(error as Error).message}`));
  }
}

/** The real server refuses a body of another kind or version than the URL's. */
function typeMismatch(info: KindInfo, object: KubeObject): string | undefined {
  const expected = apiVersionOf(info);
  if (object.apiVersion && object.apiVersion !== expected) {
    return `the API version in the data (${object.apiVersion}) does not match the expected API version (${expected})`;
  }
  if (object.kind && object.kind !== info.kind) {
    return `the kind in the data (${object.kind}) does not match the expected kind (${info.kind})`;
  }
  return undefined;
}

function verbOf(method: string, name: string | undefined): KubeVerb | undefined {
  if (method === 'GET') return name === undefined ? 'list' : 'get';
  if (method === 'POST' && name === undefined) return 'create';
  if (method === 'DELETE' && name !== undefined) return 'delete';
  return undefined;
}

function parseQuery(params: URLSearchParams): KubeQuery {
  const limit = params.get('limit');
  const query: KubeQuery = {};
  if (limit !== null && limit !== '') query.limit = Number.parseInt(limit, 10);
  for (const key of ['continue', 'dryRun', 'labelSelector'] as const) {
    const value = params.get(key);
    if (value !== null && value !== '') query[key] = value;
  }
  return query;
}

function pageField(page: number | undefined): { page?: number } {
  return page === undefined ? {} : { page };
}

/** The precondition uid, read leniently: a body that does not parse is the route's business. */
function preconditionField(verb: KubeVerb | undefined, rawBody: string): { preconditionUid?: string } {
  if (verb !== 'delete' || rawBody.trim() === '') return {};
  try {
    const uid = (JSON.parse(rawBody) as DeleteOptionsBody | null)?.preconditions?.uid;
    return typeof uid === 'string' ? { preconditionUid: uid } : {};
  } catch {
    return {};
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
