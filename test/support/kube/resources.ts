/**
 * The resource kinds the local API server knows, where they live in the REST API, and
 * builders of realistic objects of each kind.
 */

/** The kinds the local API server serves, all namespaced. */
export type KubeKind = 'Deployment' | 'Service' | 'ConfigMap' | 'Ingress' | 'EndpointSlice';

/** Where a kind lives in the REST API, and how the real API server answers a DELETE of it. */
export interface KindInfo {
  readonly kind: KubeKind;
  /** API group; `''` is the core group, served under `/api` instead of `/apis/{group}`. */
  readonly group: string;
  readonly version: string;
  /** The resource name in URLs, and in the `details.kind` of Status objects. */
  readonly plural: string;
  /**
   * The real registry of Services sets `ReturnDeletedObject`, so a DELETE answers with the
   * Service itself; the other kinds answer with a Status `Success`.
   */
  readonly deleteReturnsObject: boolean;
}

export const KINDS: Readonly<Record<KubeKind, KindInfo>> = {
  Deployment: { kind: 'Deployment', group: 'apps', version: 'v1', plural: 'deployments', deleteReturnsObject: false },
  Service: { kind: 'Service', group: '', version: 'v1', plural: 'services', deleteReturnsObject: true },
  ConfigMap: { kind: 'ConfigMap', group: '', version: 'v1', plural: 'configmaps', deleteReturnsObject: false },
  Ingress: { kind: 'Ingress', group: 'networking.k8s.io', version: 'v1', plural: 'ingresses', deleteReturnsObject: false },
  EndpointSlice: { kind: 'EndpointSlice', group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', deleteReturnsObject: false },
};

/** `apps/v1`, or `v1` for the core group. */
export function apiVersionOf(info: KindInfo): string {
  return info.group === '' ? info.version : `${info.group}/${info.version}`;
}

/** The name the real server uses in messages: `deployments.apps`, `services`. */
export function qualifiedResource(info: KindInfo): string {
  return info.group === '' ? info.plural : `${info.plural}.${info.group}`;
}

/** Finds the kind served at `/api[s]/{group}/{version}/namespaces/{ns}/{plural}`. */
export function kindAt(group: string, version: string, plural: string): KindInfo | undefined {
  return Object.values(KINDS).find((k) => k.group === group && k.version === version && k.plural === plural);
}

/** Object metadata as the API server stores it (timestamps are RFC 3339 strings, to the second). */
export interface KubeObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

/** A Kubernetes object as plain JSON, the way it travels on the wire. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: KubeObjectMeta;
  [field: string]: unknown;
}

/** Options shared by the object builders. */
export interface BuildOptions {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

function meta(name: string, options: BuildOptions, extraLabels: Record<string, string> = {}): KubeObjectMeta {
  const labels = { ...extraLabels, ...options.labels };
  return {
    name,
    ...(Object.keys(labels).length > 0 ? { labels } : {}),
    ...(options.annotations ? { annotations: { ...options.annotations } } : {}),
  };
}

/** A Deployment of one lab container, with the status of a healthy rollout. */
export function deploymentObject(
  name: string,
  options: BuildOptions & { replicas?: number; image?: string; containerPort?: number } = {},
): KubeObject {
  const replicas = options.replicas ?? 1;
  const selector = { app: name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { ...meta(name, options, selector), generation: 1 },
    spec: {
      replicas,
      selector: { matchLabels: selector },
      template: {
        metadata: { labels: selector },
        spec: {
          containers: [
            {
              name: 'lab',
              image: options.image ?? 'registry.example.com/lab:latest',
              ports: [{ containerPort: options.containerPort ?? 8888, protocol: 'TCP' }],
            },
          ],
        },
      },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } },
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
    },
    status: { observedGeneration: 1, replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas },
  };
}

/** A ClusterIP Service selecting the pods of `selectorApp` (default: the Service's own name). */
export function serviceObject(
  name: string,
  options: BuildOptions & { selectorApp?: string; port?: number; targetPort?: number } = {},
): KubeObject {
  const clusterIP = clusterIpFor(name);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(name, options),
    spec: {
      type: 'ClusterIP',
      selector: { app: options.selectorApp ?? name },
      ports: [{ name: 'http', protocol: 'TCP', port: options.port ?? 80, targetPort: options.targetPort ?? 8888 }],
      clusterIP,
      clusterIPs: [clusterIP],
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      sessionAffinity: 'None',
      internalTrafficPolicy: 'Cluster',
    },
    status: { loadBalancer: {} },
  };
}

/** An Ingress routing `/` of `host` to `serviceName` (default: the Ingress's own name). */
export function ingressObject(
  name: string,
  options: BuildOptions & { serviceName?: string; host?: string; port?: number } = {},
): KubeObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { ...meta(name, options), generation: 1 },
    spec: {
      ingressClassName: 'nginx',
      rules: [
        {
          host: options.host ?? `${name}.labs.example.com`,
          http: {
            paths: [
              {
                path: '/',
                pathType: 'Prefix',
                backend: { service: { name: options.serviceName ?? name, port: { number: options.port ?? 80 } } },
              },
            ],
          },
        },
      ],
    },
    status: { loadBalancer: {} },
  };
}

/** A ConfigMap with the given data. */
export function configMapObject(name: string, options: BuildOptions & { data?: Record<string, string> } = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(name, options),
    data: { ...(options.data ?? { 'lab.conf': 'mode=lab\n' }) },
  };
}

/** Options of {@link endpointSliceObject}. */
export interface EndpointSliceOptions extends BuildOptions {
  /** Pod IPs, one endpoint each (as the EndpointSlice controller writes them). */
  addresses?: string[];
  /** The `conditions.ready` of every endpoint. Default true. */
  ready?: boolean;
  /** Slice name; default `{serviceName}-` plus five random characters, like generateName. */
  name?: string;
  port?: number;
}

/**
 * An EndpointSlice of `serviceName`, labelled `kubernetes.io/service-name` as the controller
 * does. Without addresses, `endpoints` is `null`, not `[]`: the server stores objects as
 * protobuf, where an empty list comes back as nil, and that is what a Service without pods
 * looks like on the wire.
 */
export function endpointSliceObject(serviceName: string, options: EndpointSliceOptions = {}): KubeObject {
  const ready = options.ready ?? true;
  const addresses = options.addresses ?? [];
  const endpoints = addresses.map((ip) => ({
    addresses: [ip],
    conditions: { ready, serving: ready, terminating: false },
  }));
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: meta(options.name ?? `${serviceName}-${randomSuffix()}`, options, {
      'kubernetes.io/service-name': serviceName,
      'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
    }),
    addressType: 'IPv4',
    endpoints: endpoints.length > 0 ? endpoints : null,
    ports: [{ name: 'http', protocol: 'TCP', port: options.port ?? 8888 }],
  };
}

/** The builder used when a test creates an object by name only. */
export function defaultObject(kind: KubeKind, name: string): KubeObject {
  switch (kind) {
    case 'Deployment':
      return deploymentObject(name);
    case 'Service':
      return serviceObject(name);
    case 'ConfigMap':
      return configMapObject(name);
    case 'Ingress':
      return ingressObject(name);
    case 'EndpointSlice':
      // By name, the slice is named exactly so, and belongs to the Service of the same name.
      return endpointSliceObject(name, { name });
  }
}

/** A stable 10.100.x.y address per name, so objects look alike between runs. */
function clusterIpFor(name: string): string {
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return `10.100.${(hash >>> 8) % 256}.${(hash % 254) + 1}`;
}

/** generateName's suffix alphabet: no vowels, no look-alike digits. */
function randomSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  let out = '';
  for (let i = 0; i < 5; i++) out += alphabet[Math.floor(Math.random() * alphabet.length)];
  return out;
}
