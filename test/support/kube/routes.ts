/**
 * From an HTTP request to the answer of the API server: which resource the path names,
 * which verb the method means, and what list, get, create and delete return.
 */
import type { IncomingMessage } from 'node:http';
import type { KubeVerb } from './faults.js';
import type { KindInfo, KubeKind, KubeObject } from './resources.js';
import { apiVersionOf, kindAt } from './resources.js';
import type { ObjectStore } from './store.js';
import type { StatusResponse } from './status.js';
import {
  KubeStatusError,
  badRequest,
  deleteSuccess,
  invalid,
  methodNotAllowed,
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
  /** The raw request body ('' when none was sent). */
  rawBody: string;
  /** `preconditions.uid` of a DELETE's DeleteOptions, if any. */
  preconditionUid?: string;
}

/** An answer: a status code and a JSON body. */
export interface RouteResult {
  code: number;
  body: unknown;
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
    rawBody,
    ...preconditionField(verb, rawBody),
  };
}

/** Serves a parsed, authenticated request from the store. */
export function route(store: ObjectStore, request: ParsedRequest): RouteResult {
  try {
    const { info, namespace } = request;
    if (!info || namespace === undefined) return fromStatus(pathNotFound());
    switch (request.verb) {
      case 'list':
        return list(store, info, namespace, request);
      case 'get':
        return get(store, info, namespace, request.name ?? '');
      case 'create':
        return create(store, info, namespace, request);
      case 'delete':
        return remove(store, info, namespace, request);
      default:
        return fromStatus(methodNotAllowed(info, request.method));
    }
  } catch (error) {
    if (error instanceof KubeStatusError) return fromStatus(error.response);
    throw error;
  }
}

function list(store: ObjectStore, info: KindInfo, namespace: string, request: ParsedRequest): RouteResult {
  const page = store.listPage(info, namespace, {
    ...(request.query.limit !== undefined ? { limit: request.query.limit } : {}),
    ...(request.query.continue ? { continueToken: request.query.continue } : {}),
    ...(request.query.labelSelector ? { labelSelector: request.query.labelSelector } : {}),
  });
  return { code: 200, body: { kind: `${info.kind}List`, apiVersion: apiVersionOf(info), ...page } };
}

function get(store: ObjectStore, info: KindInfo, namespace: string, name: string): RouteResult {
  const found = store.get(info, namespace, name);
  if (!found) return fromStatus(notFound(info, name));
  return { code: 200, body: found };
}

function create(store: ObjectStore, info: KindInfo, namespace: string, request: ParsedRequest): RouteResult {
  const object = jsonBody(request) as KubeObject | undefined;
  if (!object || typeof object !== 'object') return fromStatus(badRequest('the body of the request was empty'));
  const mismatch = typeMismatch(info, object);
  if (mismatch) return fromStatus(badRequest(mismatch));
  const name = object.metadata?.name;
  if (!name) {
    return fromStatus(
      invalid({ kind: info.kind, group: info.group }, '', {
        field: 'metadata.name',
        reason: 'FieldValueRequired',
        message: 'Required value: name or generateName is required',
      }),
    );
  }
  if (object.metadata.namespace && object.metadata.namespace !== namespace) {
    return fromStatus(badRequest('the namespace of the provided object does not match the namespace sent on the request'));
  }
  const dryRun = dryRunOf(request, undefined);
  return { code: 201, body: store.create(info, namespace, object, {}, { trusted: false, dryRun }) };
}

function remove(store: ObjectStore, info: KindInfo, namespace: string, request: ParsedRequest): RouteResult {
  const options = (jsonBody(request) ?? {}) as DeleteOptionsBody;
  const name = request.name ?? '';
  const deleted = store.delete(info, namespace, name, {
    ...(options.preconditions?.uid !== undefined ? { uid: options.preconditions.uid } : {}),
    ...(options.preconditions?.resourceVersion !== undefined ? { resourceVersion: options.preconditions.resourceVersion } : {}),
    dryRun: dryRunOf(request, options.dryRun),
  });
  return { code: 200, body: info.deleteReturnsObject ? deleted : deleteSuccess(info, name, deleted.metadata.uid ?? '') };
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

function fromStatus(status: StatusResponse): RouteResult {
  return { code: status.code, body: status.body };
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
