/**
 * `Status` objects shaped like the real API server's (k8s.io/apimachinery/pkg/api/errors):
 * same field order, same messages, same `details`, so code that parses `ApiException.body`
 * meets what a cluster would send.
 */
import type { KindInfo } from './resources.js';
import { qualifiedResource } from './resources.js';

/** `metav1.StatusDetails`; `kind` holds the resource (plural), as the real server sets it. */
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: Array<{ reason?: string; message: string; field?: string }>;
  retryAfterSeconds?: number;
}

/** `metav1.Status` as JSON. */
export interface KubeStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: { continue?: string };
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code?: number;
}

/** A Status to send, with the HTTP code that goes with it. */
export interface StatusResponse {
  code: number;
  body: KubeStatus;
}

function failure(code: number, reason: string, message: string, details?: StatusDetails): StatusResponse {
  return {
    code,
    body: {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason,
      ...(details ? { details } : {}),
      code,
    },
  };
}

/** Details naming an object; `group` is omitted for the core group, as Go's omitempty does. */
function objectDetails(info: KindInfo, name: string | undefined): StatusDetails {
  return {
    ...(name ? { name } : {}),
    ...(info.group ? { group: info.group } : {}),
    kind: info.plural,
  };
}

/** 401: the authenticator rejected the bearer token. */
export function unauthorized(): StatusResponse {
  return failure(401, 'Unauthorized', 'Unauthorized');
}

/** 403, with the RBAC authorizer's wording. */
export function forbidden(info: KindInfo, verb: string, namespace: string, name: string | undefined, user: string): StatusResponse {
  const subject = name ? `${qualifiedResource(info)} "${name}"` : qualifiedResource(info);
  const why = `User "${user}" cannot ${verb} resource "${info.plural}" in API group "${info.group}" in the namespace "${namespace}"`;
  return failure(403, 'Forbidden', `${subject} is forbidden: ${why}`, objectDetails(info, name));
}

/** 404 for a named object. */
export function notFound(info: KindInfo, name: string): StatusResponse {
  return failure(404, 'NotFound', `${qualifiedResource(info)} "${name}" not found`, objectDetails(info, name));
}

/** 404 for a path no resource is served at. */
export function pathNotFound(): StatusResponse {
  return failure(404, 'NotFound', 'the server could not find the requested resource', {});
}

/** 409 on create of a name already taken. */
export function alreadyExists(info: KindInfo, name: string): StatusResponse {
  return failure(409, 'AlreadyExists', `${qualifiedResource(info)} "${name}" already exists`, objectDetails(info, name));
}

/** 409 when a delete precondition does not hold (the storage layer's "Precondition failed"). */
export function preconditionConflict(info: KindInfo, name: string, field: 'UID' | 'ResourceVersion', wanted: string, actual: string): StatusResponse {
  const why = `Precondition failed: ${field} in precondition: ${wanted}, ${field} in object meta: ${actual}`;
  return failure(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource(info)} "${name}": ${why}`, objectDetails(info, name));
}

/** 410 for a continue token whose snapshot was compacted away. */
export function continueExpired(): StatusResponse {
  return failure(
    410,
    'Expired',
    'The provided continue parameter is too old to display a consistent list result. ' +
      'You can start a new list without the continue parameter.',
  );
}

/** 400, e.g. for a continue token that does not decode. */
export function badRequest(message: string): StatusResponse {
  return failure(400, 'BadRequest', message);
}

/**
 * 422 as `apierrors.NewInvalid` builds it, for one field error; `kind` and `group` name
 * the type (`Service` and `''`, or `DeleteOptions` and `meta.k8s.io`).
 */
export function invalid(
  type: { kind: string; group: string },
  name: string,
  error: { field: string; reason: string; message: string },
): StatusResponse {
  const qualifiedKind = type.group ? `${type.kind}.${type.group}` : type.kind;
  return failure(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${error.field}: ${error.message}`, {
    ...(name ? { name } : {}),
    ...(type.group ? { group: type.group } : {}),
    kind: type.kind,
    causes: [{ reason: error.reason, message: error.message, field: error.field }],
  });
}

/** 405 for a verb this server does not implement on a resource. */
export function methodNotAllowed(info: KindInfo, method: string): StatusResponse {
  return failure(405, 'MethodNotAllowed', `${method} is not supported on resources of kind "${info.plural}"`, {
    ...(info.group ? { group: info.group } : {}),
    kind: info.plural,
  });
}

/**
 * 406 when the response cannot be given in a representation the `Accept` header allows:
 * negotiation found no range (the message lists the served media types), or the conversion
 * asked for does not fit the answer (a list asked as PartialObjectMetadata).
 */
export function notAcceptable(message: string): StatusResponse {
  return failure(406, 'NotAcceptable', message);
}

/** 415 for a body that is not JSON. */
export function unsupportedMediaType(contentType: string): StatusResponse {
  return failure(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got "${contentType}")`,
  );
}

/** 429 as `apierrors.NewTooManyRequests` builds it. */
export function tooManyRequests(retryAfterSeconds?: number): StatusResponse {
  return failure(
    429,
    'TooManyRequests',
    'Too many requests, please try again later.',
    retryAfterSeconds ? { retryAfterSeconds } : undefined,
  );
}

/** 500 as `apierrors.NewInternalError` builds it. */
export function internalError(cause: string): StatusResponse {
  return failure(500, 'InternalError', `Internal error occurred: ${cause}`, { causes: [{ message: cause }] });
}

/** A 200 `Success` for a delete, naming what was deleted (the registry's finalizeDelete). */
export function deleteSuccess(info: KindInfo, name: string, uid: string): KubeStatus {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    details: { ...objectDetails(info, name), uid },
  };
}

/** What a fault sends for a bare status code: the Status the real server would send. */
export function statusForCode(
  code: number,
  request: { info?: KindInfo; verb: string; namespace?: string; name?: string; user: string; retryAfterSeconds?: number },
): StatusResponse {
  const { info, name } = request;
  switch (code) {
    case 400:
      return badRequest('the server rejected our request for an unknown reason');
    case 401:
      return unauthorized();
    case 403:
      return info ? forbidden(info, request.verb, request.namespace ?? '', name, request.user) : failure(403, 'Forbidden', 'forbidden');
    case 404:
      return info && name ? notFound(info, name) : pathNotFound();
    case 409:
      return failure(409, 'Conflict', `Operation cannot be fulfilled on ${info ? qualifiedResource(info) : 'resource'} "${name ?? ''}": the object has been modified; please apply your changes to the latest version and try again`, info ? objectDetails(info, name) : {});
    case 410:
      return continueExpired();
    case 429:
      return tooManyRequests(request.retryAfterSeconds);
    case 500:
      return internalError('injected fault');
    case 503:
      return failure(503, 'ServiceUnavailable', 'the server is currently unable to handle the request');
    case 504:
      return failure(504, 'Timeout', 'Timeout: request did not complete within the allotted timeout', { retryAfterSeconds: 1 });
    default:
      return failure(code, code >= 500 ? 'InternalError' : 'BadRequest', `injected status ${code}`);
  }
}

/** Thrown by the object store; the HTTP layer sends its Status, the test API lets it surface. */
export class KubeStatusError extends Error {
  constructor(readonly response: StatusResponse) {
    super(response.body.message);
    this.name = 'KubeStatusError';
  }
}
