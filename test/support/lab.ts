/**
 * Lab sessions on the local API server, and the product's adapters wired to it and to the
 * Upstash bridge: what the integration tests share.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { KubernetesCluster } from '../../src/adapters/kubernetes.js';
import type { RetryPolicy } from '../../src/adapters/retry.js';
import { UpstashSessionStore, createUpstashClient } from '../../src/adapters/upstash.js';
import type { RunSettings } from '../../src/reconcile.js';
import type { KubeApiServer, KubeKind } from './kube-api-server.js';
import { configMapObject, deploymentObject, endpointSliceObject, ingressObject, serviceObject } from './kube-api-server.js';
import type { LabSession } from './kube/production.js';
import { productionConfigMap, productionDeployment, productionEndpointSlice, productionIngress, productionService } from './kube/production.js';
import type { UpstashBridge } from './upstash-bridge.js';

export const HOUR = 3_600_000;

export interface SessionSpec {
  /** Which resources exist; default: Service, Ingress and ConfigMap, no Deployment. */
  deployment?: boolean;
  service?: boolean;
  ingress?: boolean;
  configMap?: boolean;
  /** Age of every resource, in ms before `now`; default two hours. */
  ageMs?: number;
  /** The Service's EndpointSlice: ready endpoints, not ready, or none at all. */
  endpoints?: 'ready' | 'not-ready' | 'none';
  /** Annotate the Service with `lab-reconciler/keep: "true"`. */
  keep?: boolean;
  now?: number;
  /**
   * `small` (the default): the few fields the tests need. `production`: objects shaped as a
   * real API server returns them (test/support/kube/production.ts: pod template,
   * managedFields, status; about 15 KB a session), for figures that depend on their weight.
   */
  shape?: 'small' | 'production';
}

/** Creates one session's resources on the server, named by the lab-controller's convention. */
export function seedSession(server: KubeApiServer, namespace: string, labType: string, sessionId: string, spec: SessionSpec = {}): void {
  const created = new Date((spec.now ?? Date.now()) - (spec.ageMs ?? 2 * HOUR));
  if (spec.shape === 'production') return seedProductionSession(server, { namespace, labType, sessionId, created }, spec);
  const options = { creationTimestamp: created };
  const name = (role: string) => `${labType}-${role}-${sessionId}`;
  if (spec.deployment) server.create('Deployment', namespace, deploymentObject(name('lab')), options);
  if (spec.service ?? true) {
    const annotations = spec.keep ? { 'lab-reconciler/keep': 'true' } : undefined;
    server.create('Service', namespace, serviceObject(name('service'), annotations ? { annotations } : {}), options);
    const endpoints = spec.endpoints ?? (spec.deployment ? 'ready' : 'none');
    if (endpoints !== 'none') {
      server.create('EndpointSlice', namespace, endpointSliceObject(name('service'), { ready: endpoints === 'ready', addresses: ['10.0.0.1'] }), options);
    }
  }
  if (spec.ingress ?? true) server.create('Ingress', namespace, ingressObject(name('ingress'), { serviceName: name('service') }), options);
  if (spec.configMap ?? true) server.create('ConfigMap', namespace, configMapObject(name('config')), options);
}

/** {@link seedSession} with production-shaped objects; the slice is owned by the Service's uid. */
function seedProductionSession(server: KubeApiServer, session: LabSession, spec: SessionSpec): void {
  const { namespace, created } = session;
  const options = { creationTimestamp: created };
  if (spec.deployment) server.create('Deployment', namespace, productionDeployment(session), options);
  if (spec.service ?? true) {
    const annotations = spec.keep ? { 'lab-reconciler/keep': 'true' } : undefined;
    const service = server.create('Service', namespace, productionService(session, annotations ? { annotations } : {}), options);
    const endpoints = spec.endpoints ?? (spec.deployment ? 'ready' : 'none');
    if (endpoints !== 'none') {
      const slice = productionEndpointSlice(session, { ready: endpoints === 'ready', ...(service.metadata.uid ? { serviceUid: service.metadata.uid } : {}) });
      server.create('EndpointSlice', namespace, slice, options);
    }
  }
  if (spec.ingress ?? true) server.create('Ingress', namespace, productionIngress(session), options);
  if (spec.configMap ?? true) server.create('ConfigMap', namespace, productionConfigMap(session), options);
}

/** The names of a kind's objects left in a namespace. */
export function names(server: KubeApiServer, kind: KubeKind, namespace: string): string[] {
  return server.list(kind, namespace).map((o) => o.metadata.name);
}

/** Retries that do not slow tests down. */
export const FAST_RETRY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 2_000, budgetMs: 5_000 };

/** The product's Kubernetes adapter, talking to the local server over HTTPS with its CA. */
export function clusterFor(
  server: KubeApiServer,
  options: {
    concurrency?: number;
    pageSize?: number;
    retry?: RetryPolicy;
    requestTimeoutMs?: number;
    /** Bearer token of the kubeconfig (default: the server's), e.g. to tell runs apart in the request log. */
    token?: string;
  } = {},
): KubernetesCluster {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(server.kubeconfig(options.token === undefined ? {} : { token: options.token }));
  return new KubernetesCluster({
    kubeConfig,
    concurrency: options.concurrency ?? 8,
    pageSize: options.pageSize ?? 500,
    retry: options.retry ?? FAST_RETRY,
    requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
  });
}

/** The product's session store, through the real @upstash/redis client and the bridge. */
export function storeFor(bridge: UpstashBridge, prefix = 'lab_session:'): UpstashSessionStore {
  return new UpstashSessionStore(createUpstashClient({ url: bridge.url, token: bridge.token, timeoutMs: 5_000 }), prefix);
}

/** Run settings as the contract's defaults, with the given changes. */
export function settings(changes: Partial<RunSettings> = {}): RunSettings {
  return {
    enabled: true,
    namespaces: ['jupyter-lab', 'ubuntu-lab', 'vscode-lab', 'postgresql-lab'],
    dryRun: false,
    minAgeSeconds: 300,
    confirmSeconds: 0,
    maxDeletions: 50,
    concurrency: 8,
    intervalSeconds: 300,
    staleKeys: 'report',
    narrowed: false,
    ...changes,
  };
}

/** Writes text to a new temporary file and returns its path. */
export function tempFile(name: string, content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'lab-reconciler-')), name);
  writeFileSync(path, content);
  return path;
}
