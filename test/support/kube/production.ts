/**
 * Objects of a lab session shaped as a real API server returns them, for the bench and for
 * tests whose figures (memory, CPU, bytes) depend on what the objects weigh: a full pod
 * template (15 env vars, two probes, resources, volumes and mounts, security contexts),
 * `metadata.managedFields` with their `fieldsV1` (managed-fields.ts), the controllers'
 * annotations and status. The small builders of resources.ts stay the default for tests
 * about behaviour.
 *
 * As served in a list page (the store adds namespace, uid, resourceVersion and
 * creationTimestamp; list items carry no apiVersion or kind), for one session of
 * `jupyter-lab`: Deployment 7.1 KiB, ConfigMap 3.3 KiB, Service 1.2 KiB, Ingress 1.6 KiB,
 * EndpointSlice 1.7 KiB: 14.9 KiB a live session ({@link productionSizes} measures them).
 * More than the 4.4 KB Deployment and 10.5 KB session first estimated: a pod template with
 * all of the above is about 2.3 KB, and the lab-controller's Update owns every field of it,
 * defaults included, so its `fieldsV1` is as large again (the real server records the
 * defaulted fields of a create); inside the 4 to 8 KB of real Deployments. The content is
 * deterministic per session (suffixes and addresses are hashes of the names), except uids.
 */
import { randomUUID } from 'node:crypto';
import type { BuildOptions, KubeKind, KubeObject } from './resources.js';
import { KINDS } from './resources.js';
import { ObjectStore } from './store.js';
import { managed, shapeOf } from './managed-fields.js';
import { configMapData, deploymentSpec } from './production-content.js';

/** The session an object belongs to, and when the lab-controller created it. */
export interface LabSession {
  namespace: string;
  labType: string;
  sessionId: string;
  /** Creation time: managedFields' times and status conditions follow it. */
  created: Date;
}

/** The lab-controller's names of a session's objects (`{labType}-{role}-{sessionId}`). */
export function sessionNames(session: Pick<LabSession, 'labType' | 'sessionId'>) {
  const name = (role: string) => `${session.labType}-${role}-${session.sessionId}`;
  return { deployment: name('lab'), service: name('service'), ingress: name('ingress'), configMap: name('config') };
}

/** RFC 3339 to the second, `seconds` after `date`. */
function time(date: Date, seconds = 0): string {
  return new Date(date.getTime() + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `n` characters of generateName's alphabet, stable per seed (a pod-template-hash, a slice suffix). */
export function stableSuffix(seed: string, n: number): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  let hash = 2166136261;
  let out = '';
  for (let i = 0; i < n; i++) {
    for (const ch of `${seed}/${i}`) hash = Math.imul(hash ^ ch.charCodeAt(0), 16777619) >>> 0;
    out += alphabet[hash % alphabet.length];
  }
  return out;
}

function labelsOf(session: LabSession, options: BuildOptions): Record<string, string> {
  return { 'app.kubernetes.io/managed-by': 'lab-controller', 'lab.example.com/session': session.sessionId, ...options.labels };
}

/** The lab-controller's record of what it was asked for, as kubectl keeps its last-applied-configuration. */
function sessionSpecAnnotation(session: LabSession): string {
  return JSON.stringify({ user: `u-${stableSuffix(session.sessionId, 6)}`, image: `${session.labType}:2026.11`, at: time(session.created, -3) });
}

/** The session's Deployment after a healthy rollout: revision 1, Available and Progressing. */
export function productionDeployment(session: LabSession, options: BuildOptions = {}): KubeObject {
  const { deployment } = sessionNames(session);
  const labels = { app: deployment, ...labelsOf(session, options) };
  const annotations = { 'lab.example.com/request': sessionSpecAnnotation(session), ...options.annotations };
  const spec = deploymentSpec(session, sessionNames(session));
  const replicaSet = `${deployment}-${stableSuffix(deployment, 10)}`;
  const shape = shapeOf('Deployment', options);
  const ready = time(session.created, 24);
  const status = {
    observedGeneration: 1,
    replicas: 1,
    updatedReplicas: 1,
    readyReplicas: 1,
    availableReplicas: 1,
    conditions: [
      { type: 'Available', status: 'True', lastUpdateTime: ready, lastTransitionTime: ready, reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' },
      {
        type: 'Progressing',
        status: 'True',
        lastUpdateTime: ready,
        lastTransitionTime: time(session.created),
        reason: 'NewReplicaSetAvailable',
        message: `ReplicaSet "${replicaSet}" has successfully progressed.`,
      },
    ],
  };
  const created = time(session.created);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: deployment,
      generation: 1,
      labels,
      annotations: { 'deployment.kubernetes.io/revision': '1', ...annotations },
      managedFields: [
        managed('lab-controller', 'apps/v1', created, { metadata: { labels, annotations }, spec }, shape),
        managed('kube-controller-manager', 'apps/v1', created, { metadata: { annotations: { 'deployment.kubernetes.io/revision': '1' } } }, shape),
        managed('kube-controller-manager', 'apps/v1', ready, { status }, shape, 'status'),
      ],
    },
    spec,
    status,
  };
}

/** The session's ConfigMap: the notebook server's configuration files. */
export function productionConfigMap(session: LabSession, options: BuildOptions = {}): KubeObject {
  const labels = labelsOf(session, options);
  const data = configMapData(session);
  const annotations = options.annotations ? { ...options.annotations } : undefined;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: sessionNames(session).configMap,
      labels,
      ...(annotations ? { annotations } : {}),
      managedFields: [managed('lab-controller', 'v1', time(session.created), { data, metadata: { labels, ...(annotations ? { annotations } : {}) } }, shapeOf('ConfigMap', options))],
    },
    data,
  };
}

/** A stable 10.100.x.y cluster IP per name. */
function clusterIpFor(name: string): string {
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return `10.100.${(hash >>> 8) % 256}.${(hash % 254) + 1}`;
}

/** The session's ClusterIP Service, selecting its Deployment's pod. */
export function productionService(session: LabSession, options: BuildOptions = {}): KubeObject {
  const { service, deployment } = sessionNames(session);
  const labels = labelsOf(session, options);
  const annotations = { 'lab.example.com/port-name': 'http', ...options.annotations };
  const clusterIP = clusterIpFor(service);
  const owned = {
    internalTrafficPolicy: 'Cluster',
    ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'http' }],
    selector: { app: deployment },
    sessionAffinity: 'None',
    type: 'ClusterIP',
  };
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: service,
      labels,
      annotations,
      managedFields: [managed('lab-controller', 'v1', time(session.created), { metadata: { labels, annotations }, spec: owned }, shapeOf('Service', options))],
    },
    spec: { ...owned, clusterIP, clusterIPs: [clusterIP], ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack' },
    status: { loadBalancer: {} },
  };
}

/** The session's Ingress through ingress-nginx, with TLS and the controller's status. */
export function productionIngress(session: LabSession, options: BuildOptions = {}): KubeObject {
  const { ingress, service } = sessionNames(session);
  const labels = labelsOf(session, options);
  const host = `${session.sessionId}.${session.labType}.labs.example.com`;
  const annotations = {
    'nginx.ingress.kubernetes.io/proxy-body-size': '512m',
    'nginx.ingress.kubernetes.io/proxy-read-timeout': '3600',
    'nginx.ingress.kubernetes.io/proxy-send-timeout': '3600',
    ...options.annotations,
  };
  const spec = {
    ingressClassName: 'nginx',
    tls: [{ hosts: [host], secretName: 'labs-wildcard-tls' }],
    rules: [{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: service, port: { number: 80 } } } }] } }],
  };
  const status = { loadBalancer: { ingress: [{ hostname: 'k8s-ingressn-ingressn-3f8a1c2d4e-1a2b3c4d5e6f7a8b.elb.us-east-1.amazonaws.com' }] } };
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      name: ingress,
      generation: 1,
      labels,
      annotations,
      managedFields: [
        managed('lab-controller', 'networking.k8s.io/v1', time(session.created), { metadata: { labels, annotations }, spec }, shapeOf('Ingress', options)),
        managed('nginx-ingress-controller', 'networking.k8s.io/v1', time(session.created, 31), { status }, shapeOf('Ingress', options), 'status'),
      ],
    },
    spec,
    status,
  };
}

/** Options of {@link productionEndpointSlice}. */
export interface ProductionSliceOptions extends BuildOptions {
  /** The endpoint's `conditions.ready` (and `serving`). Default true. */
  ready?: boolean;
  /** The owning Service's uid, for `ownerReferences`. Default: a random one. */
  serviceUid?: string;
}

/** The EndpointSlice controller's slice of the session's Service: one endpoint, the lab's pod. */
export function productionEndpointSlice(session: LabSession, options: ProductionSliceOptions = {}): KubeObject {
  const { service, deployment } = sessionNames(session);
  const ready = options.ready ?? true;
  const hash = stableSuffix(deployment, 10);
  // The controller copies the Service's labels onto its slices, then adds its own two.
  const labels = {
    ...labelsOf(session, {}),
    'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
    'kubernetes.io/service-name': service,
    ...options.labels,
  };
  const annotations = { 'endpoints.kubernetes.io/last-change-trigger-time': time(session.created, 22), ...options.annotations };
  const ownerReferences = [{ apiVersion: 'v1', kind: 'Service', name: service, uid: options.serviceUid ?? randomUUID(), controller: true, blockOwnerDeletion: true }];
  const n = parseInt(hash.slice(0, 4), 36);
  const endpoints = [
    {
      addresses: [`10.42.${n % 250}.${(n >>> 8) % 250 + 2}`],
      conditions: { ready, serving: ready, terminating: false },
      nodeName: `ip-10-0-${n % 64}-${(n >>> 6) % 250 + 2}.ec2.internal`,
      targetRef: { kind: 'Pod', namespace: session.namespace, name: `${deployment}-${hash}-${stableSuffix(service, 5)}`, uid: randomUUID() },
      zone: ['us-east-1a', 'us-east-1b', 'us-east-1c'][n % 3],
    },
  ];
  const ports = [{ name: 'http', protocol: 'TCP', port: 8888 }];
  const fields = { addressType: 'IPv4', endpoints: [], metadata: { labels, annotations, generateName: '' }, ports: [] };
  const controllerFields = managed('kube-controller-manager', 'discovery.k8s.io/v1', time(session.created, 22), fields, shapeOf('EndpointSlice', options));
  // The owner's uid is part of its key in the field set: the one part that differs per slice.
  const ownerSet = { '.': {}, [`k:${JSON.stringify({ uid: ownerReferences[0]!.uid })}`]: {} };
  controllerFields.fieldsV1 = { ...controllerFields.fieldsV1, 'f:metadata': { ...(controllerFields.fieldsV1['f:metadata'] as object), 'f:ownerReferences': ownerSet } };
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${service}-${stableSuffix(service, 5)}`,
      generateName: `${service}-`,
      generation: 1,
      labels,
      annotations,
      ownerReferences,
      managedFields: [controllerFields],
    },
    addressType: 'IPv4',
    endpoints,
    ports,
  };
}

/** JSON bytes of one object of each kind as the server serves it in a list page, and their sum. */
export type ProductionSizes = Record<KubeKind, number> & { total: number };

/**
 * What each builder's object weighs on the wire, measured by putting one session's objects
 * through the local server's own store and serialising the list items it serves (a GET
 * answers some 40 bytes more: the object's apiVersion and kind).
 */
export function productionSizes(session: Omit<LabSession, 'created'> = { namespace: 'jupyter-lab', labType: 'jupyter', sessionId: 's1000' }): ProductionSizes {
  const full: LabSession = { ...session, created: new Date('2026-11-26T10:00:00Z') };
  const store = new ObjectStore();
  const objects: Record<KubeKind, KubeObject> = {
    Deployment: productionDeployment(full),
    Service: productionService(full),
    Ingress: productionIngress(full),
    ConfigMap: productionConfigMap(full),
    EndpointSlice: productionEndpointSlice(full),
  };
  const sizes = { total: 0 } as ProductionSizes;
  for (const [kind, object] of Object.entries(objects) as Array<[KubeKind, KubeObject]>) {
    store.create(KINDS[kind], session.namespace, object, { creationTimestamp: full.created });
    const [served] = store.listPage(KINDS[kind], session.namespace, {}).items;
    sizes[kind] = Buffer.byteLength(JSON.stringify(served));
    sizes.total += sizes[kind];
  }
  return sizes;
}
