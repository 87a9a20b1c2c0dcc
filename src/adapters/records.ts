/**
 * Kubernetes objects → the records the core keeps. Shared by the live adapter and the
 * snapshot adapter, so that both read annotations, timestamps and readiness the same way.
 */
import type { EndpointSliceRecord, ResourceKind, ResourceRecord } from '../ports.js';

/** The annotation that keeps a session's resources whatever else is true. */
export const KEEP_ANNOTATION = 'lab-reconciler/keep';
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
  endpoints?: { conditions?: { ready?: boolean | null } | null }[] | null;
}

/** The record of one object; `namespace` is the one it was listed in when metadata lacks it. */
export function toRecord(kind: ResourceKind, namespace: string, metadata: MetadataLike | undefined): ResourceRecord {
  const created = metadata?.creationTimestamp;
  const createdAt = created instanceof Date ? created.getTime() : typeof created === 'string' ? Date.parse(created) : undefined;
  return {
    kind,
    namespace: metadata?.namespace ?? namespace,
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
    // The API reads an unset `ready` as ready.
    readyEndpoints: (slice.endpoints ?? []).filter((e) => e?.conditions?.ready !== false).length,
  };
}
