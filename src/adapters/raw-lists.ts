/**
 * List calls whose pages are JSON.parse'd and nothing more. client-node's generated response
 * processors run every object through ObjectSerializer.deserialize, which walks the whole
 * type model (a Deployment's pod template, an Ingress's rules) to build class instances the
 * adapter then reduces to a name, a uid, a timestamp and an annotation: three quarters of
 * the time spent on a page, and a second copy of every object in memory. Requests, auth,
 * middleware and errors stay client-node's: only the decoding of 2xx list bodies changes.
 */
import { ApiException, AppsV1Api, CoreV1Api, DiscoveryV1Api, HttpInfo, NetworkingV1Api } from '@kubernetes/client-node';
import type { Configuration, ResponseContext } from '@kubernetes/client-node';
import type { EndpointSliceLike, MetadataLike } from './records.js';

/** An object of a list page, as plain JSON. */
export interface RawObject extends EndpointSliceLike {
  metadata?: MetadataLike;
}

export interface RawPage {
  metadata?: { _continue?: string; continue?: string };
  items: RawObject[];
}

async function rawList(response: ResponseContext): Promise<HttpInfo<RawPage>> {
  const code = response.httpStatusCode;
  if (code === 401) throw new ApiException(code, 'Unauthorized', undefined, response.headers);
  if (code < 200 || code > 299) throw new ApiException(code, 'Unknown API Status Code!', await response.getBodyAsAny(), response.headers);
  const page = JSON.parse(await response.body.text()) as RawPage;
  // The wire's `continue` is `_continue` in client-node's models; keep the adapter's reading.
  page.metadata = { ...page.metadata, _continue: page.metadata?.continue };
  page.items ??= [];
  return new HttpInfo(code, response.headers, response.body, page);
}

/** The four API groups, with their namespaced list calls answering plain JSON pages. */
export function rawListApis(configuration: Configuration) {
  // Only the list methods are replaced; these instances are used for nothing else.
  const processor = (name: string) => ({ [`${name}WithHttpInfo`]: rawList }) as never;
  return {
    apps: new AppsV1Api(configuration, undefined, processor('listNamespacedDeployment')),
    core: new CoreV1Api(configuration, undefined, { ...(processor('listNamespacedService') as object), ...(processor('listNamespacedConfigMap') as object) } as never),
    networking: new NetworkingV1Api(configuration, undefined, processor('listNamespacedIngress')),
    discovery: new DiscoveryV1Api(configuration, undefined, processor('listNamespacedEndpointSlice')),
  };
}
