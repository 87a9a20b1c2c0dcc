/**
 * Bytes received: what a run's answers weighed, from the API server's request log, and the
 * limit's bytes, measured by listing the seeded server the way the least costly correct run
 * would.
 */
import { Agent, request } from 'node:https';
import type { KubeApiServer, KubeKind, RequestRecord } from '../test/support/kube-api-server.js';
import { KINDS } from '../test/support/kube/resources.js';
import type { Scenario } from './scenarios.js';
import { orphanObjects } from './seed.js';

/**
 * A logged request with the fields the API server logs for bytes: `bytes`, the response body
 * written, and the `Accept` header received (spelt out here so that the bench reads them
 * whether or not the server of this checkout logs them: missing, they count 0).
 */
type Logged = RequestRecord & { bytes?: number; accept?: string };

/** Response body bytes of the logged requests. */
export function bytesOf(log: readonly RequestRecord[]): number {
  return (log as readonly Logged[]).reduce((sum, r) => sum + (r.bytes ?? 0), 0);
}

/** The media type asking for a metadata-only list, with the fallback to the full list (as the product sends it). */
export const METADATA_ACCEPT = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';

/** The same for one object (a delete that answers with the object: a Service's). */
const METADATA_OBJECT_ACCEPT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';

/** How many of the logged list requests asked for metadata only. */
export function metadataListRequests(log: readonly RequestRecord[]): { metadata: number; lists: number } {
  const lists = (log as readonly Logged[]).filter((r) => r.verb === 'list');
  return { metadata: lists.filter((r) => r.accept?.includes('as=PartialObjectMetadataList')).length, lists: lists.length };
}

/** The limit's bytes, and what they are made of. */
export interface LimitBytes {
  /**
   * Every page of the Deployments, Services, Ingresses and ConfigMaps, as PartialObjectMetadataList
   * (or in full where that weighs less: with tiny objects, since each metadata-only item carries
   * its own kind and apiVersion).
   */
  metadataLists: number;
  /** Every page of the EndpointSlices, in full (readiness is in the body). */
  sliceLists: number;
  /** The answers to the three deletes of each orphan. */
  deletes: number;
  total: number;
  /** The same four lists in full: what metadata-only lists save. */
  fullLists: number;
  /** Whether the server answered the metadata-only lists as such (false: it sent full lists instead). */
  metadataServed: boolean;
}

/**
 * Measures the limit's bytes on the seeded server (orphans included), at `pageSize`.
 *
 * The least any correct run receives: it reads every object of the five kinds (the cap
 * counts the sessions of all namespaces, so nothing can be skipped), the four kinds it reads
 * by name (Deployments, Services, Ingresses, ConfigMaps) in the leanest representation the
 * server has for them, a PartialObjectMetadataList, the EndpointSlices in full (readiness is
 * in their body, not their metadata), and whatever the server answers its deletes. Not
 * counted, as in the request limit: the product's GET of a Deployment before its deletes.
 *
 * So this lists every page of those lists of every namespace, with the metadata-only Accept
 * header (and its fallback) for the four, then sends each orphan's three deletes with
 * `dryRun=All`, answered as a real delete is (the Service itself, as metadata only when asked
 * so, which is the least; a Status for the others) with nothing deleted. Listed rather than computed from object sizes because what a page
 * weighs is the server's to decide: its envelope and continue token per page (hence the
 * product's page size), the metadata it keeps (managedFields stay in it). The four lists are
 * listed in full too, to show what metadata-only lists save. Requests go over one keep-alive
 * connection with the server's latency off; the caller clears the server's log of them.
 */
export async function measureLimitBytes(server: KubeApiServer, scenario: Scenario, pageSize: number): Promise<LimitBytes> {
  const latency = server.latencyMs;
  server.latencyMs = 0;
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: server.caCert });
  try {
    const bytes: LimitBytes = { metadataLists: 0, sliceLists: 0, deletes: 0, total: 0, fullLists: 0, metadataServed: true };
    const list = (kind: KubeKind, namespace: string, accept: string) => listAll(server, agent, kind, namespace, pageSize, accept);
    for (const namespace of scenario.namespaces) {
      for (const kind of ['Deployment', 'Service', 'Ingress', 'ConfigMap'] as const) {
        const metadata = await list(kind, namespace, METADATA_ACCEPT);
        const full = await list(kind, namespace, 'application/json');
        bytes.metadataLists += Math.min(metadata.bytes, full.bytes);
        bytes.metadataServed &&= metadata.kinds.every((k) => k === 'PartialObjectMetadataList');
        bytes.fullLists += full.bytes;
      }
      bytes.sliceLists += (await list('EndpointSlice', namespace, 'application/json')).bytes;
    }
    for (const { namespace, kind, name } of orphanObjects(scenario)) {
      const path = `${pathOf(kind, namespace)}/${encodeURIComponent(name)}?dryRun=All`;
      bytes.deletes += (await call(server, agent, 'DELETE', path, METADATA_OBJECT_ACCEPT)).bytes;
    }
    bytes.total = bytes.metadataLists + bytes.sliceLists + bytes.deletes;
    return bytes;
  } finally {
    agent.destroy();
    server.latencyMs = latency;
  }
}

/** `/api/v1/namespaces/{ns}/services`, `/apis/apps/v1/namespaces/{ns}/deployments`. */
function pathOf(kind: KubeKind, namespace: string): string {
  const info = KINDS[kind];
  const prefix = info.group === '' ? `/api/${info.version}` : `/apis/${info.group}/${info.version}`;
  return `${prefix}/namespaces/${encodeURIComponent(namespace)}/${info.plural}`;
}

/** Every page of a list; the bytes of all their bodies, and the `kind` of each page. */
async function listAll(server: KubeApiServer, agent: Agent, kind: KubeKind, namespace: string, pageSize: number, accept: string) {
  let bytes = 0;
  const kinds: string[] = [];
  let token: string | undefined;
  do {
    const query = `?limit=${pageSize}${token ? `&continue=${encodeURIComponent(token)}` : ''}`;
    const answer = await call(server, agent, 'GET', `${pathOf(kind, namespace)}${query}`, accept);
    const page = JSON.parse(answer.body) as { kind?: string; metadata?: { continue?: string } };
    bytes += answer.bytes;
    kinds.push(page.kind ?? '');
    token = page.metadata?.continue || undefined;
  } while (token);
  return { bytes, kinds };
}

/** One request; rejects on a status other than 2xx. */
function call(server: KubeApiServer, agent: Agent, method: string, path: string, accept: string): Promise<{ bytes: number; body: string }> {
  const url = new URL(path, server.url);
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent, headers: { Authorization: `Bearer ${server.token}`, Accept: accept } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        if ((res.statusCode ?? 0) >= 300) reject(new Error(`${method} ${path} answered ${res.statusCode}: ${body.toString('utf8').slice(0, 300)}`));
        else resolve({ bytes: body.length, body: body.toString('utf8') });
      });
    });
    req.on('error', reject);
    req.end();
  });
}
