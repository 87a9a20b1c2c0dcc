/**
 * Kubernetes objects → the records the core keeps. Shared by the live adapter and the
 * snapshot adapter, so that both read annotations, timestamps and readiness the same way.
 */
import type { EndpointSliceRecord, ResourceKind, ResourceRecord } from '../ports.js';
import { KEEP_ANNOTATION } from '../core/naming.js';

export { KEEP_ANNOTATION };

/** The label that ties an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** The metadata fields read, as client-node (Date) or raw JSON (string) gives them. */
export interface MetadataLike {
  name?: string;
  namespace?: string;
  uid?: string;
  creationTimestamp?: Date | string;
  annotations?: Record<string, string> | null;
  labels?: Record<string, string> | null;
}

export interface EndpointSliceLike {
  metadata?: MetadataLike;
  /** An array from the API; anything else can only come from a hand-made dump. */
  endpoints?: unknown;
}

/** The record of one object; `namespace` is the one it was listed in when metadata lacks it. */
export function toRecord(kind: ResourceKind, namespace: string, metadata: MetadataLike | undefined): ResourceRecord {
  const created = metadata?.creationTimestamp;
  const createdAt = created instanceof Date ? created.getTime() : typeof created === 'string' ? Date.parse(created) : undefined;
  return {
    kind,
    // The namespace listed in, not the parsed copy of the same text: one string for all records.
    namespace: metadata?.namespace === undefined || metadata.namespace === namespace ? namespace : metadata.namespace,
    name: metadata?.name ?? '',
    uid: metadata?.uid ?? '',
    createdAt: createdAt === undefined || Number.isNaN(createdAt) ? undefined : createdAt,
    keep: metadata?.annotations?.[KEEP_ANNOTATION] === 'true',
  };
}

export function toEndpointSliceRecord(namespace: string, slice: EndpointSliceLike): EndpointSliceRecord {
  return {
    namespace: slice.metadata?.namespace ?? namespace,
    name: slice.metadata?.name ?? '',
    serviceName: slice.metadata?.labels?.[SERVICE_NAME_LABEL],
    readyEndpoints: readyEndpoints(slice.endpoints),
  };
}

/**
 * Endpoints not known to be unready. The API reads an unset `ready` as ready; an `endpoints`
 * that is not a list cannot be read, and counts as one ready endpoint, so that it spares its
 * Service rather than letting it look unused.
 */
function readyEndpoints(endpoints: unknown): number {
  if (endpoints === undefined || endpoints === null) return 0;
  if (!Array.isArray(endpoints)) return 1;
  return endpoints.filter((e) => (e as { conditions?: { ready?: unknown } } | null)?.conditions?.ready !== false).length;
}
