import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  NetworkingV1Api,
  ServerConfiguration,
  createConfiguration,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Configuration } from '@kubernetes/client-node';
import type { KubeApiServer, KubeObject, KubeStatus } from './kube-api-server.js';
import {
  deploymentObject,
  endpointSliceObject,
  ingressObject,
  serviceObject,
  startKubeApiServer,
} from './kube-api-server.js';

const NS = 'jupyter-lab';

/** What the adapter sends for a metadata-only list: the conversion, then the plain fallback. */
const METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
/** A metadata-only list without the fallback, as client-go's metadata client sends it. */
const METADATA_LIST_ONLY = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
/** A metadata-only get or delete. */
const METADATA_OBJECT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';
/** A conversion no server has (meta.k8s.io has no v1alpha1 PartialObjectMetadataList). */
const UNSATISFIABLE = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1alpha1';

/** The error a call rejects with; fails the test when the call succeeds. */
async function rejection(call: Promise<unknown>): Promise<unknown> {
  try {
    await call;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail, it succeeded');
}

function asApiException(error: unknown): ApiException<string> {
  expect(error).toBeInstanceOf(ApiException);
  return error as ApiException<string>;
}

function statusOf(error: unknown): KubeStatus {
  return JSON.parse(asApiException(error).body) as KubeStatus;
}

function kubeConfigFor(yaml: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(yaml);
  return kc;
}

/** A CoreV1Api whose requests abort after `ms`, the way an adapter would bound a call. */
function coreWithTimeout(kc: KubeConfig, ms: number): CoreV1Api {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('no cluster');
  return new CoreV1Api(
    createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: kc },
      promiseMiddleware: [
        {
          pre: async (context) => {
            context.setSignal(AbortSignal.timeout(ms));
            return context;
          },
          post: async (response) => response,
        },
      ],
    }),
  );
}

/** An API client of `Api` that sends `accept` as its Accept header on every request. */
function withAccept<T>(kc: KubeConfig, Api: new (configuration: Configuration) => T, accept: string): T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('no cluster');
  return new Api(
    createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: kc },
      promiseMiddleware: [
        {
          pre: async (context) => {
            context.setHeaderParam('Accept', accept);
            return context;
          },
          post: async (response) => response,
        },
      ],
    }),
  );
}

/** An answer as the wire carried it. */
interface RawAnswer {
  status: number;
  contentType: string | undefined;
  body: string;
  /** Body bytes received. */
  bytes: number;
}

/** A raw HTTPS request trusting only the test CA, with the headers and body given. */
function rawRequest(
  server: KubeApiServer,
  method: string,
  path: string,
  options: { accept?: string; body?: string } = {},
): Promise<RawAnswer> {
  const headers: Record<string, string> = { Authorization: `Bearer ${server.token}` };
  if (options.accept !== undefined) headers.Accept = options.accept;
  if (options.body !== undefined) {
    // A DELETE is not chunked by default: without a length its body would read as the next request.
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = String(Buffer.byteLength(options.body));
  }
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${server.url}${path}`, { method, ca: server.caCert, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], body: body.toString('utf8'), bytes: body.length });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The metadata a real Deployment carries: annotations of its controllers, three managedFields entries. */
function labDeployment(name: string): KubeObject {
  const object = deploymentObject(name, { annotations: { 'deployment.kubernetes.io/revision': '1', 'lab-reconciler/keep': 'false' } });
  const entry = (manager: string, fields: object, subresource?: string) => ({
    manager,
    operation: 'Update',
    apiVersion: 'apps/v1',
    time: '2024-01-02T03:04:05Z',
    fieldsType: 'FieldsV1',
    fieldsV1: fields,
    ...(subresource ? { subresource } : {}),
  });
  object.metadata.managedFields = [
    entry('lab-controller', { 'f:spec': { 'f:replicas': {}, 'f:template': {} } }),
    entry('kube-controller-manager', { 'f:metadata': { 'f:annotations': { 'f:deployment.kubernetes.io/revision': {} } } }),
    entry('kube-controller-manager', { 'f:status': { 'f:replicas': {} } }, 'status'),
  ];
  return object;
}

const listPath = (plural: string, query = '') => `/${plural === 'deployments' ? 'apis/apps/v1' : 'api/v1'}/namespaces/${NS}/${plural}${query}`;

/** A raw HTTPS GET trusting only the test CA, to see bodies the client drops. */
function rawGet(server: KubeApiServer, path: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${server.url}${path}`, { ca: server.caCert, headers: { Authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Runs tasks with at most `limit` at once. */
async function runBounded(tasks: Array<() => Promise<unknown>>, limit: number): Promise<void> {
  const queue = [...tasks];
  const worker = async () => {
    for (let task = queue.shift(); task; task = queue.shift()) await task();
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

describe('KubeApiServer', () => {
  let server: KubeApiServer;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let apps: AppsV1Api;

  beforeAll(async () => {
    server = await startKubeApiServer();
    kc = kubeConfigFor(server.kubeconfig());
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
  });

  afterAll(async () => {
    await server.close();
  });

  beforeEach(() => {
    server.reset();
  });

  describe('TLS and authentication', () => {
    it('is trusted only through the test CA', async () => {
      // Prepare: a client that knows the server but not its CA.
      const untrusting = new KubeConfig();
      untrusting.loadFromClusterAndUser(
        { name: 'no-ca', server: server.url, skipTLSVerify: false },
        { name: 'user', token: server.token },
      );

      // Act
      const error = await rejection(untrusting.makeApiClient(CoreV1Api).listNamespacedService({ namespace: NS }));

      // Assess: the handshake failed, so no request reached the server.
      expect(error).toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
      expect(server.requests).toHaveLength(0);
    });

    it('loads from a kubeconfig file with several contexts, and rejects a wrong token with 401', async () => {
      // Prepare
      const dir = await mkdtemp(join(tmpdir(), 'kube-api-server-'));
      const file = join(dir, 'config');
      await writeFile(file, server.kubeconfig({ contexts: [{ name: 'lab' }, { name: 'stale', token: 'expired-token' }] }));
      server.create('Service', NS, 'jupyter-service-abc');
      const fromFile = new KubeConfig();
      fromFile.loadFromFile(file);
      await rm(dir, { recursive: true });

      // Act
      const good = await fromFile.makeApiClient(CoreV1Api).readNamespacedService({ namespace: NS, name: 'jupyter-service-abc' });
      fromFile.setCurrentContext('stale');
      const error = await rejection(fromFile.makeApiClient(CoreV1Api).readNamespacedService({ namespace: NS, name: 'jupyter-service-abc' }));

      // Assess: client-node drops the body of a 401, so only the code is visible.
      expect(fromFile.getContexts().map((c) => c.name)).toEqual(['lab', 'stale']);
      expect(good.metadata?.name).toBe('jupyter-service-abc');
      expect(asApiException(error).code).toBe(401);
      expect(server.requests.map((r) => [r.token, r.status])).toEqual([
        [server.token, 200],
        ['expired-token', 401],
      ]);
    });

    it('answers 401 with the real Status body', async () => {
      // Act
      const answer = await rawGet(server, `/api/v1/namespaces/${NS}/services`, 'wrong');

      // Assess
      expect(answer.status).toBe(401);
      expect(answer.body).toBe(
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}',
      );
    });

    it('accepts a custom authenticate check', async () => {
      // Prepare: a check like the EKS one, keyed on the token's shape.
      const eks = await startKubeApiServer({ authenticate: (token) => token.startsWith('k8s-aws-v1.') });
      try {
        const accepted = kubeConfigFor(eks.kubeconfig({ token: 'k8s-aws-v1.aHR0cHM6Ly9zdHM' }));
        const refused = kubeConfigFor(eks.kubeconfig({ token: eks.token }));

        // Act
        const list = await accepted.makeApiClient(CoreV1Api).listNamespacedService({ namespace: NS });
        const error = await rejection(refused.makeApiClient(CoreV1Api).listNamespacedService({ namespace: NS }));

        // Assess
        expect(list.items).toEqual([]);
        expect(asApiException(error).code).toBe(401);
      } finally {
        await eks.close();
      }
    });
  });

  describe('list', () => {
    it('paginates in name order with limit and continue', async () => {
      // Prepare: created out of order, plus one in another namespace.
      for (const id of ['e', 'a', 'g', 'c', 'b', 'f', 'd']) server.create('Service', NS, `jupyter-service-${id}`);
      server.create('Service', 'ubuntu-lab', 'ubuntu-service-x');

      // Act
      const pages = [await core.listNamespacedService({ namespace: NS, limit: 3 })];
      for (let token = pages[0]?.metadata?._continue; token; token = pages.at(-1)?.metadata?._continue) {
        pages.push(await core.listNamespacedService({ namespace: NS, limit: 3, _continue: token }));
      }

      // Assess
      expect(pages.map((p) => p.items.map((s) => s.metadata?.name?.slice(-1)))).toEqual([['a', 'b', 'c'], ['d', 'e', 'f'], ['g']]);
      expect(pages.map((p) => p.metadata?.remainingItemCount)).toEqual([4, 1, undefined]);
      expect(pages[0]?.kind).toBe('ServiceList');
      // As on a real cluster, items inside a list carry no apiVersion/kind.
      expect(pages[0]?.items[0]?.kind).toBeUndefined();
      expect(server.requests.map((r) => [r.page, r.query.limit, r.query.continue === undefined])).toEqual([
        [1, 3, true],
        [2, 3, false],
        [3, 3, false],
      ]);
    });

    it('serves later pages from the snapshot of the first', async () => {
      // Prepare
      for (const id of ['a', 'b', 'c', 'd']) server.create('Service', NS, `jupyter-service-${id}`);
      const first = await core.listNamespacedService({ namespace: NS, limit: 2 });
      server.remove('Service', NS, 'jupyter-service-d');
      server.create('Service', NS, 'jupyter-service-e');

      // Act
      const second = await core.listNamespacedService({ namespace: NS, limit: 2, _continue: first.metadata?._continue });

      // Assess: the list is consistent at the first page's resourceVersion, as with etcd.
      expect(second.items.map((s) => s.metadata?.name)).toEqual(['jupyter-service-c', 'jupyter-service-d']);
      expect(second.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);
    });

    it('answers 410 Expired for an expired continue token, 400 for a malformed one', async () => {
      // Prepare
      for (const id of ['a', 'b', 'c']) server.create('Deployment', NS, `jupyter-lab-${id}`);
      const first = await apps.listNamespacedDeployment({ namespace: NS, limit: 1 });
      server.expireContinueTokens();

      // Act
      const expired = await rejection(apps.listNamespacedDeployment({ namespace: NS, limit: 1, _continue: first.metadata?._continue }));
      const malformed = await rejection(apps.listNamespacedDeployment({ namespace: NS, limit: 1, _continue: 'not a token!' }));

      // Assess
      expect(asApiException(expired).code).toBe(410);
      expect(statusOf(expired)).toEqual({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message:
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
        reason: 'Expired',
        code: 410,
      });
      expect(asApiException(malformed).code).toBe(400);
      expect(statusOf(malformed)).toMatchObject({ reason: 'BadRequest', message: expect.stringMatching(/^invalid continue token/) });
    });

    it('serves every kind at its API path, with realistic objects', async () => {
      // Prepare
      const old = new Date('2024-01-02T03:04:05.678Z');
      server.create('Deployment', NS, 'jupyter-lab-abc', { creationTimestamp: old });
      server.create('Service', NS, serviceObject('jupyter-service-abc', { selectorApp: 'jupyter-lab-abc' }));
      server.create('Ingress', NS, ingressObject('jupyter-ingress-abc', { serviceName: 'jupyter-service-abc' }));
      server.create('ConfigMap', NS, 'jupyter-config-abc', { annotations: { 'lab-reconciler/keep': 'true' } });
      server.create('EndpointSlice', NS, endpointSliceObject('jupyter-service-abc', { addresses: ['10.0.1.7'], ready: false }));
      server.create('EndpointSlice', NS, endpointSliceObject('jupyter-service-empty'));

      // Act
      const deployments = await apps.listNamespacedDeployment({ namespace: NS });
      const services = await core.listNamespacedService({ namespace: NS });
      const ingresses = await kc.makeApiClient(NetworkingV1Api).listNamespacedIngress({ namespace: NS });
      const configMaps = await core.listNamespacedConfigMap({ namespace: NS });
      const slices = await kc.makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({ namespace: NS });

      // Assess
      expect(deployments.items[0]?.metadata?.creationTimestamp).toEqual(new Date('2024-01-02T03:04:05Z'));
      expect(services.items[0]?.spec?.selector).toEqual({ app: 'jupyter-lab-abc' });
      expect(ingresses.items[0]?.spec?.rules?.[0]?.http?.paths[0]?.backend.service?.name).toBe('jupyter-service-abc');
      expect(configMaps.items[0]?.metadata?.annotations).toEqual({ 'lab-reconciler/keep': 'true' });
      const byService = new Map(slices.items.map((s) => [s.metadata?.labels?.['kubernetes.io/service-name'], s]));
      expect(byService.get('jupyter-service-abc')).toMatchObject({
        addressType: 'IPv4',
        endpoints: [{ addresses: ['10.0.1.7'], conditions: { ready: false } }],
      });
      expect(byService.get('jupyter-service-empty')?.endpoints ?? null).toBeNull();
      expect(server.countRequests({ verb: 'list', status: 200 })).toBe(5);
    });
    it('filters by label selector, without remainingItemCount', async () => {
      // Prepare
      for (const svc of ['jupyter-service-a', 'jupyter-service-b', 'jupyter-service-c']) {
        server.create('EndpointSlice', NS, endpointSliceObject(svc, { name: `${svc}-x1`, addresses: ['10.0.0.1'] }));
      }
      const discovery = kc.makeApiClient(DiscoveryV1Api);

      // Act
      const one = await discovery.listNamespacedEndpointSlice({ namespace: NS, labelSelector: 'kubernetes.io/service-name=jupyter-service-b' });
      const others = await discovery.listNamespacedEndpointSlice({ namespace: NS, labelSelector: 'kubernetes.io/service-name!=jupyter-service-b', limit: 1 });

      // Assess
      expect(one.items.map((s) => s.metadata?.name)).toEqual(['jupyter-service-b-x1']);
      expect(others.items.map((s) => s.metadata?.name)).toEqual(['jupyter-service-a-x1']);
      expect(others.metadata?._continue).toBeDefined();
      expect(others.metadata?.remainingItemCount).toBeUndefined();
    });
  });

  describe('delete', () => {
    it('deletes with a matching uid precondition and answers with the Service', async () => {
      // Prepare
      const uid = server.create('Service', NS, 'jupyter-service-abc').metadata.uid ?? '';

      // Act
      const deleted = await core.deleteNamespacedService({ namespace: NS, name: 'jupyter-service-abc', body: { preconditions: { uid } } });

      // Assess
      expect(deleted).toMatchObject({ kind: 'Service', metadata: { name: 'jupyter-service-abc', uid } });
      expect(server.get('Service', NS, 'jupyter-service-abc')).toBeUndefined();
      expect(server.requests[0]).toMatchObject({ method: 'DELETE', kind: 'Service', name: 'jupyter-service-abc', preconditionUid: uid, status: 200 });
    });

    it('answers a Deployment delete with a Success Status', async () => {
      // Prepare
      const uid = server.create('Deployment', NS, 'jupyter-lab-abc').metadata.uid;

      // Act
      const status = await apps.deleteNamespacedDeployment({ namespace: NS, name: 'jupyter-lab-abc' });

      // Assess
      expect(status).toMatchObject({ kind: 'Status', status: 'Success', details: { name: 'jupyter-lab-abc', group: 'apps', kind: 'deployments', uid } });
      expect(server.list('Deployment')).toEqual([]);
    });

    it('refuses a mismatching uid with 409 Conflict and keeps the object', async () => {
      // Prepare
      const actual = server.create('Service', NS, 'jupyter-service-abc').metadata.uid;

      // Act
      const error = await rejection(
        core.deleteNamespacedService({ namespace: NS, name: 'jupyter-service-abc', body: { preconditions: { uid: 'listed-uid' } } }),
      );

      // Assess
      expect(asApiException(error).code).toBe(409);
      expect(statusOf(error)).toEqual({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `Operation cannot be fulfilled on services "jupyter-service-abc": Precondition failed: UID in precondition: listed-uid, UID in object meta: ${actual}`,
        reason: 'Conflict',
        details: { name: 'jupyter-service-abc', kind: 'services' },
        code: 409,
      });
      expect(server.get('Service', NS, 'jupyter-service-abc')?.metadata.uid).toBe(actual);
    });

    it('leaves the object in place with dryRun=All', async () => {
      // Prepare
      const uid = server.create('ConfigMap', NS, 'jupyter-config-abc').metadata.uid ?? '';

      // Act
      const status = await core.deleteNamespacedConfigMap({ namespace: NS, name: 'jupyter-config-abc', dryRun: 'All', body: { preconditions: { uid } } });

      // Assess
      expect(status).toMatchObject({ status: 'Success', details: { name: 'jupyter-config-abc', kind: 'configmaps' } });
      expect(server.get('ConfigMap', NS, 'jupyter-config-abc')?.metadata.uid).toBe(uid);
      expect(server.requests[0]).toMatchObject({ query: { dryRun: 'All' }, preconditionUid: uid, status: 200 });
    });

    it('answers 404 NotFound for a missing object', async () => {
      // Act
      const error = await rejection(kc.makeApiClient(NetworkingV1Api).deleteNamespacedIngress({ namespace: NS, name: 'gone' }));

      // Assess
      expect(asApiException(error).code).toBe(404);
      expect(statusOf(error)).toEqual({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'ingresses.networking.k8s.io "gone" not found',
        reason: 'NotFound',
        details: { name: 'gone', group: 'networking.k8s.io', kind: 'ingresses' },
        code: 404,
      });
    });

    it('lets a beforeServe hook recreate an object between list and delete', async () => {
      // Prepare: the lab-controller recreates the Service just before the delete lands.
      server.create('Service', NS, 'jupyter-service-abc');
      const listed = await core.listNamespacedService({ namespace: NS });
      const listedUid = listed.items[0]?.metadata?.uid ?? '';
      server.beforeServe = (request) => {
        if (request.verb === 'delete' && request.name) server.replace('Service', NS, request.name);
      };

      // Act
      const error = await rejection(
        core.deleteNamespacedService({ namespace: NS, name: 'jupyter-service-abc', body: { preconditions: { uid: listedUid } } }),
      );

      // Assess
      expect(asApiException(error).code).toBe(409);
      const survivor = server.get('Service', NS, 'jupyter-service-abc');
      expect(survivor?.metadata.uid).toBeDefined();
      expect(survivor?.metadata.uid).not.toBe(listedUid);
    });

    it('calls an afterServe hook with the answer, the objects as the request left them', async () => {
      // Prepare
      const created = server.create('Service', NS, 'jupyter-service-abc');
      const seen: { verb: string | undefined; code: number; stillThere: boolean }[] = [];
      server.afterServe = (request, answer) => {
        seen.push({ verb: request.verb, code: answer.code, stillThere: server.get('Service', NS, 'jupyter-service-abc') !== undefined });
      };

      // Act
      await core.deleteNamespacedService({ namespace: NS, name: 'jupyter-service-abc', body: { preconditions: { uid: created.metadata.uid } } });
      await rejection(core.readNamespacedService({ namespace: NS, name: 'jupyter-service-abc' }));

      // Assess
      expect(seen).toEqual([
        { verb: 'delete', code: 200, stillThere: false },
        { verb: 'get', code: 404, stillThere: false },
      ]);
    });
  });

  describe('create', () => {
    it('creates over HTTP with 201 and refuses a taken name with 409 AlreadyExists', async () => {
      // Prepare
      const body = { metadata: { name: 'jupyter-config-abc', uid: 'client-chosen' }, data: { a: 'b' } };

      // Act
      const created = await core.createNamespacedConfigMap({ namespace: NS, body });
      const error = await rejection(core.createNamespacedConfigMap({ namespace: NS, body }));

      // Assess: the server, not the client, chooses the uid.
      expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
      expect(server.get('ConfigMap', NS, 'jupyter-config-abc')?.data).toEqual({ a: 'b' });
      expect(server.requests.map((r) => r.status)).toEqual([201, 409]);
      expect(statusOf(error)).toMatchObject({ reason: 'AlreadyExists', message: 'configmaps "jupyter-config-abc" already exists', code: 409 });
    });
    it('does not store a dryRun=All create, and refuses another dryRun value with 422', async () => {
      // Act
      const preview = await core.createNamespacedConfigMap({ namespace: NS, dryRun: 'All', body: { metadata: { name: 'jupyter-config-abc' } } });
      const error = await rejection(core.deleteNamespacedConfigMap({ namespace: NS, name: 'jupyter-config-abc', dryRun: 'Some' }));

      // Assess
      expect(preview.metadata?.uid).toBeDefined();
      expect(server.get('ConfigMap', NS, 'jupyter-config-abc')).toBeUndefined();
      expect(statusOf(error)).toMatchObject({
        reason: 'Invalid',
        message: 'DeleteOptions.meta.k8s.io "" is invalid: dryRun[0]: Unsupported value: "Some": supported values: "All"',
        code: 422,
      });
    });
  });

  describe('faults', () => {
    it('answers an injected 429 with Retry-After, then serves normally', async () => {
      // Prepare
      const fault = server.injectFault({ verb: 'list', kind: 'Service', effect: { type: 'status', code: 429, headers: { 'Retry-After': '1' } } });

      // Act
      const error = await rejection(core.listNamespacedService({ namespace: NS }));
      const retried = await core.listNamespacedService({ namespace: NS });

      // Assess
      const exception = asApiException(error);
      expect(exception.code).toBe(429);
      expect(exception.headers['retry-after']).toBe('1');
      expect(statusOf(error)).toMatchObject({ reason: 'TooManyRequests', details: { retryAfterSeconds: 1 }, code: 429 });
      expect(retried.kind).toBe('ServiceList');
      expect(fault.hits).toBe(1);
    });

    it('sends a plain-text body like the priority-and-fairness filter', async () => {
      // Prepare
      server.injectFault({ effect: { type: 'status', code: 429, headers: { 'Retry-After': '2' }, body: 'Too many requests, please try again later.' } });

      // Act
      const error = asApiException(await rejection(core.listNamespacedConfigMap({ namespace: NS })));

      // Assess
      expect(error.body).toBe('Too many requests, please try again later.\n');
      expect(error.headers['content-type']).toMatch(/^text\/plain/);
    });

    it('hits only the list page it names, as many times as asked', async () => {
      // Prepare
      for (const id of ['a', 'b', 'c']) server.create('Deployment', NS, `jupyter-lab-${id}`);
      server.injectFault({ kind: 'Deployment', page: 2, times: Infinity, effect: { type: 'status', code: 500 } });

      // Act
      const first = await apps.listNamespacedDeployment({ namespace: NS, limit: 2 });
      const token = first.metadata?._continue;
      const errors = [
        await rejection(apps.listNamespacedDeployment({ namespace: NS, limit: 2, _continue: token })),
        await rejection(apps.listNamespacedDeployment({ namespace: NS, limit: 2, _continue: token })),
      ];

      // Assess
      expect(first.items).toHaveLength(2);
      expect(errors.map((e) => statusOf(e))).toEqual([
        expect.objectContaining({ reason: 'InternalError', code: 500 }),
        expect.objectContaining({ reason: 'InternalError', code: 500 }),
      ]);
    });

    it('answers 403 with the RBAC wording for the request', async () => {
      // Prepare
      server.create('Service', NS, 'jupyter-service-abc');
      server.injectFault({ method: 'DELETE', kind: 'Service', name: 'jupyter-service-abc', effect: { type: 'status', code: 403 } });

      // Act
      const error = await rejection(core.deleteNamespacedService({ namespace: NS, name: 'jupyter-service-abc' }));

      // Assess
      expect(statusOf(error)).toEqual({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message:
          'services "jupyter-service-abc" is forbidden: User "lab-reconciler" cannot delete resource "services" in API group "" in the namespace "jupyter-lab"',
        reason: 'Forbidden',
        details: { name: 'jupyter-service-abc', kind: 'services' },
        code: 403,
      });
      expect(server.get('Service', NS, 'jupyter-service-abc')).toBeDefined();
    });

    it('resets the connection', async () => {
      // Prepare
      server.injectFault({ verb: 'list', effect: { type: 'reset' } });

      // Act
      const error = await rejection(core.listNamespacedService({ namespace: NS }));

      // Assess: a network error, not an ApiException.
      expect(error).not.toBeInstanceOf(ApiException);
      expect(error).toMatchObject({ name: 'FetchError', code: 'ECONNRESET' });
      expect(server.requests[0]).toMatchObject({ fault: 'reset' });
      expect(server.requests[0]?.status).toBeUndefined();
    });

    it('sends malformed JSON with 200', async () => {
      // Prepare
      server.injectFault({ verb: 'list', kind: 'ConfigMap', effect: { type: 'malformed-json' } });

      // Act
      const error = await rejection(core.listNamespacedConfigMap({ namespace: NS }));

      // Assess
      expect(error).toBeInstanceOf(SyntaxError);
      expect(server.requests[0]).toMatchObject({ fault: 'malformed-json', status: 200 });
    });

    it('hangs until the client gives up', async () => {
      // Prepare
      server.injectFault({ verb: 'list', kind: 'Service', effect: { type: 'hang' } });
      const started = Date.now();

      // Act
      const error = await rejection(coreWithTimeout(kc, 300).listNamespacedService({ namespace: NS }));

      // Assess
      expect(error).toMatchObject({ name: 'AbortError' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      await vi.waitFor(() => expect(server.inFlight).toBe(0));
      expect(server.requests[0]).toMatchObject({ fault: 'hang' });
      expect(server.requests[0]?.status).toBeUndefined();
    });

    it('ends hanging requests on close', async () => {
      // Prepare
      const other = await startKubeApiServer();
      other.injectFault({ effect: { type: 'hang' } });
      const pending = rejection(kubeConfigFor(other.kubeconfig()).makeApiClient(CoreV1Api).listNamespacedService({ namespace: NS }));
      await vi.waitFor(() => expect(other.inFlight).toBe(1));

      // Act
      await other.close();

      // Assess
      expect(await pending).toMatchObject({ name: 'FetchError' });
      expect(other.inFlight).toBe(0);
    });
  });

  describe('log and concurrency', () => {
    it('tracks the peak of requests in flight', async () => {
      // Prepare: a gate holds every request until six have arrived, so that the peak does not
      // depend on how fast this (shared, noisy) machine makes TLS connections.
      server.create('Service', NS, 'jupyter-service-abc');
      let arrived = 0;
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      server.beforeServe = async () => {
        if (++arrived === 6) open();
        await gate;
      };
      const read = () => core.readNamespacedService({ namespace: NS, name: 'jupyter-service-abc' });

      // Act
      await Promise.all(Array.from({ length: 6 }, read));
      const unbounded = server.peakInFlight;
      server.beforeServe = undefined;
      server.latencyMs = 50;
      // The server counts a request done when its socket closes, a moment after the client has its answer.
      while (server.inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 5));
      server.clearRequests();
      await runBounded(Array.from({ length: 6 }, () => read), 2);

      // Assess
      expect(unbounded).toBe(6);
      expect(server.peakInFlight).toBeLessThanOrEqual(2);
      expect(server.peakInFlight).toBeGreaterThanOrEqual(1);
      expect(server.countRequests({ method: 'GET', kind: 'Service', verb: 'get' })).toBe(6);
      expect(server.countRequests({ method: 'DELETE' })).toBe(0);
    });
  });

  describe('metadata-only representation', () => {
    it('lists PartialObjectMetadataList pages, paginated like the full list, with the whole metadata and no spec or status', async () => {
      // Prepare
      for (const id of ['c', 'a', 'e', 'b', 'd']) server.create('Deployment', NS, labDeployment(`jupyter-lab-${id}`));

      // Act
      const full: RawAnswer[] = [];
      const partial: RawAnswer[] = [];
      for (const [accept, pages] of [['application/json', full], [METADATA_LIST, partial]] as const) {
        let token: string | undefined;
        do {
          const answer = await rawRequest(server, 'GET', listPath('deployments', `?limit=2${token ? `&continue=${token}` : ''}`), { accept });
          pages.push(answer);
          token = (JSON.parse(answer.body) as { metadata: { continue?: string } }).metadata.continue;
        } while (token);
      }

      // Assess: the same pages, names and counts, as the real server's transform keeps ListMeta.
      const lists = partial.map((p) => JSON.parse(p.body) as { kind: string; apiVersion: string; metadata: Record<string, unknown>; items: KubeObject[] });
      const names = (pages: RawAnswer[]) => pages.map((p) => (JSON.parse(p.body) as { items: KubeObject[] }).items.map((i) => i.metadata.name.slice(-1)));
      expect(names(partial)).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
      expect(names(full)).toEqual(names(partial));
      expect(lists.map((l) => [l.kind, l.apiVersion, l.metadata.remainingItemCount])).toEqual([
        ['PartialObjectMetadataList', 'meta.k8s.io/v1', 3],
        ['PartialObjectMetadataList', 'meta.k8s.io/v1', 1],
        ['PartialObjectMetadataList', 'meta.k8s.io/v1', undefined],
      ]);
      expect(partial.map((p) => [p.status, p.contentType])).toEqual(Array(3).fill([200, 'application/json']));
      const item = lists[0]!.items[0]!;
      const stored = server.get('Deployment', NS, 'jupyter-lab-a')!;
      expect(Object.keys(item)).toEqual(['kind', 'apiVersion', 'metadata']);
      expect(item).toEqual({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: stored.metadata });
      expect(item.metadata).toMatchObject({ uid: expect.any(String), creationTimestamp: expect.any(String), resourceVersion: expect.any(String) });
      expect(item.metadata.annotations).toEqual({ 'deployment.kubernetes.io/revision': '1', 'lab-reconciler/keep': 'false' });
      expect(item.metadata.managedFields).toHaveLength(3);
      expect(partial[0]!.bytes).toBeLessThan(full[0]!.bytes);
      expect(server.requests.filter((r) => r.accept === METADATA_LIST).map((r) => r.page)).toEqual([1, 2, 3]);
    });

    it('pages through metadata with client-node, which reads the lists as typed lists', async () => {
      // Prepare
      for (const id of ['a', 'b', 'c']) server.create('Service', NS, serviceObject(`jupyter-service-${id}`, { annotations: { 'lab-reconciler/keep': id } }));
      const metadataCore = withAccept(kc, CoreV1Api, METADATA_LIST);

      // Act
      const first = await metadataCore.listNamespacedService({ namespace: NS, limit: 2 });
      const second = await metadataCore.listNamespacedService({ namespace: NS, limit: 2, _continue: first.metadata?._continue });

      // Assess
      expect(first.kind).toBe('PartialObjectMetadataList');
      expect([...first.items, ...second.items].map((s) => [s.metadata?.name, s.metadata?.annotations?.['lab-reconciler/keep']])).toEqual([
        ['jupyter-service-a', 'a'],
        ['jupyter-service-b', 'b'],
        ['jupyter-service-c', 'c'],
      ]);
      expect(first.items[0]?.spec).toBeUndefined();
      expect(first.items[0]?.metadata?.creationTimestamp).toBeInstanceOf(Date);
      expect(second.metadata?._continue).toBeUndefined();
      expect(server.requests.map((r) => [r.page, r.accept, r.status])).toEqual([
        [1, METADATA_LIST, 200],
        [2, METADATA_LIST, 200],
      ]);
    });

    it('gets and deletes as PartialObjectMetadata; a delete answered with a Status stays a Status', async () => {
      // Prepare
      const service = server.create('Service', NS, 'jupyter-service-abc');
      const deployment = server.create('Deployment', NS, labDeployment('jupyter-lab-abc'));

      // Act
      const got = await rawRequest(server, 'GET', listPath('services', '/jupyter-service-abc'), { accept: METADATA_OBJECT });
      const deletedService = await rawRequest(server, 'DELETE', listPath('services', '/jupyter-service-abc'), { accept: METADATA_OBJECT });
      const deletedDeployment = await withAccept(kc, AppsV1Api, METADATA_OBJECT).deleteNamespacedDeployment({ namespace: NS, name: 'jupyter-lab-abc' });

      // Assess
      expect(got.status).toBe(200);
      expect(JSON.parse(got.body)).toEqual({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: service.metadata });
      expect(deletedService.status).toBe(200);
      expect(JSON.parse(deletedService.body)).toEqual({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: service.metadata });
      expect(deletedDeployment).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Success', details: { name: 'jupyter-lab-abc', uid: deployment.metadata.uid } });
      expect(server.list('Service')).toEqual([]);
      expect(server.list('Deployment')).toEqual([]);
    });

    it('answers 406 NotAcceptable when no range of the Accept header can be served, before acting', async () => {
      // Prepare
      server.create('Deployment', NS, 'jupyter-lab-abc');

      // Act
      const list = await rawRequest(server, 'GET', listPath('deployments'), { accept: UNSATISFIABLE });
      const deletion = await rawRequest(server, 'DELETE', listPath('deployments', '/jupyter-lab-abc'), { accept: `${UNSATISFIABLE}, text/html` });

      // Assess: the Status is indented, as WriteRawJSON writes it when even a Status cannot be negotiated.
      expect([list.status, list.contentType]).toEqual([406, 'application/json']);
      expect(list.body).toBe(
        JSON.stringify(
          {
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Failure',
            message: 'only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf',
            reason: 'NotAcceptable',
            code: 406,
          },
          null,
          2,
        ),
      );
      expect(deletion.status).toBe(406);
      expect(server.get('Deployment', NS, 'jupyter-lab-abc')).toBeDefined();
    });

    it('answers 406 for a conversion that does not fit the answer, compact when the header has a plain range', async () => {
      // Prepare
      server.create('Service', NS, 'jupyter-service-abc');
      server.create('Deployment', NS, 'jupyter-lab-abc');

      // Act: a list asked as one object, an object asked as a list.
      const list = await rawRequest(server, 'GET', listPath('deployments'), { accept: METADATA_OBJECT });
      const get = await rawRequest(server, 'GET', listPath('services', '/jupyter-service-abc'), { accept: METADATA_LIST });

      // Assess
      expect([list.status, JSON.parse(list.body).message]).toEqual([406, 'you requested PartialObjectMetadata, but the requested object is a list (*apps.DeploymentList)']);
      expect(list.body).toContain('\n  "kind": "Status"');
      expect([get.status, JSON.parse(get.body).message]).toEqual([406, 'you requested PartialObjectMetadataList, but the requested object is not a list (*core.Service)']);
      expect(get.body).not.toContain('\n');
    });

    it('reads the Accept header order-insensitively and whitespace-tolerantly, and falls back to a plain range', async () => {
      // Prepare
      server.create('Deployment', NS, labDeployment('jupyter-lab-abc'));

      // Act
      const spaced = await rawRequest(server, 'GET', listPath('deployments'), { accept: ' application/json ; v=v1 ;g=meta.k8s.io;  as=PartialObjectMetadataList , application/json' });
      const weighted = await rawRequest(server, 'GET', listPath('deployments'), { accept: `*/*;q=0.5, ${METADATA_LIST_ONLY}` });
      const fallback = await rawRequest(server, 'GET', listPath('deployments'), { accept: `${UNSATISFIABLE}, application/json` });
      const wildcard = await rawRequest(server, 'GET', listPath('deployments'), { accept: `${UNSATISFIABLE}, */*` });

      // Assess
      expect(JSON.parse(spaced.body).kind).toBe('PartialObjectMetadataList');
      expect(JSON.parse(weighted.body).kind).toBe('PartialObjectMetadataList');
      expect(JSON.parse(fallback.body)).toMatchObject({ kind: 'DeploymentList', apiVersion: 'apps/v1', items: [{ spec: { replicas: 1 } }] });
      expect(JSON.parse(wildcard.body).kind).toBe('DeploymentList');
    });

    it('answers the full list as application/json on an ignoreAs server, until reset back to how it was started', async () => {
      // Prepare
      const old = await startKubeApiServer({ ignoreAs: true });
      try {
        old.create('Deployment', NS, labDeployment('jupyter-lab-abc'));
        server.create('Deployment', NS, labDeployment('jupyter-lab-abc'));
        server.ignoreAs = true;

        // Act
        const fromOption = await rawRequest(old, 'GET', listPath('deployments'), { accept: METADATA_LIST });
        const fromProperty = await withAccept(kc, AppsV1Api, METADATA_LIST).listNamespacedDeployment({ namespace: NS });
        const object = await rawRequest(server, 'GET', listPath('deployments', '/jupyter-lab-abc'), { accept: METADATA_OBJECT });
        server.reset();
        old.reset();
        const afterReset = [server.ignoreAs, old.ignoreAs];

        // Assess
        expect([fromOption.status, fromOption.contentType]).toEqual([200, 'application/json']);
        expect(JSON.parse(fromOption.body)).toMatchObject({ kind: 'DeploymentList', items: [{ spec: { replicas: 1 }, status: { readyReplicas: 1 } }] });
        expect(fromProperty.kind).toBe('DeploymentList');
        expect(fromProperty.items[0]?.spec?.template.spec?.containers[0]?.name).toBe('lab');
        expect(JSON.parse(object.body)).toMatchObject({ kind: 'Deployment', spec: { replicas: 1 } });
        // reset() goes back to how each server was started.
        expect(afterReset).toEqual([false, true]);
      } finally {
        await old.close();
      }
    });

    it('counts the body bytes of every answer as the client received them, faults included', async () => {
      // Prepare
      for (const id of ['a', 'b', 'c']) server.create('Deployment', NS, labDeployment(`jupyter-lab-${id}`));
      server.injectFault({ verb: 'get', effect: { type: 'status', code: 429, headers: { 'Retry-After': '1' } } });
      server.injectFault({ verb: 'delete', effect: { type: 'reset' } });

      // Act
      const full = await rawRequest(server, 'GET', listPath('deployments', '?limit=2'), { accept: 'application/json' });
      const partial = await rawRequest(server, 'GET', listPath('deployments', '?limit=2'), { accept: METADATA_LIST });
      const refused = await rawRequest(server, 'GET', listPath('deployments'), { accept: UNSATISFIABLE });
      const faulted = await rawRequest(server, 'GET', listPath('deployments', '/jupyter-lab-a'), { accept: METADATA_OBJECT });
      await rejection(rawRequest(server, 'DELETE', listPath('deployments', '/jupyter-lab-a')));

      // Assess
      expect(server.requests.map((r) => r.bytes)).toEqual([full.bytes, partial.bytes, refused.bytes, faulted.bytes, undefined]);
      expect(faulted.status).toBe(429);
      expect(server.bytesSent()).toBe(full.bytes + partial.bytes + refused.bytes + faulted.bytes);
      expect(server.bytesSent({ accept: METADATA_LIST })).toBe(partial.bytes);
      expect(server.bytesSent({ verb: 'list', status: 200 })).toBe(full.bytes + partial.bytes);
      expect(server.bytesSent({ fault: 'reset' })).toBe(0);
    });

    it('keeps continue expiry (410), preconditions, dry run and faults under the metadata representation', async () => {
      // Prepare
      for (const id of ['a', 'b', 'c']) server.create('Service', NS, `jupyter-service-${id}`);
      const metadataCore = withAccept(kc, CoreV1Api, METADATA_LIST);
      const first = await metadataCore.listNamespacedService({ namespace: NS, limit: 1 });
      server.injectFault({ kind: 'Service', page: 2, effect: { type: 'status', code: 500 } });
      const token = first.metadata?._continue ?? '';

      // Act
      const faulted = await rejection(metadataCore.listNamespacedService({ namespace: NS, limit: 1, _continue: token }));
      server.expireContinueTokens();
      const expired = await rejection(metadataCore.listNamespacedService({ namespace: NS, limit: 1, _continue: token }));
      const expiredRaw = await rawRequest(server, 'GET', listPath('services', `?limit=1&continue=${token}`), { accept: METADATA_LIST_ONLY });
      const conflict = await rawRequest(server, 'DELETE', listPath('services', '/jupyter-service-a'), {
        accept: METADATA_OBJECT,
        body: JSON.stringify({ preconditions: { uid: 'listed-uid' } }),
      });
      const dryRun = await rawRequest(server, 'DELETE', listPath('services', '/jupyter-service-b?dryRun=All'), { accept: METADATA_OBJECT });

      // Assess
      expect(statusOf(faulted)).toMatchObject({ reason: 'InternalError', code: 500 });
      expect(asApiException(expired).code).toBe(410);
      expect(statusOf(expired)).toMatchObject({ kind: 'Status', reason: 'Expired', code: 410 });
      expect(expiredRaw.status).toBe(410);
      expect(JSON.parse(expiredRaw.body)).toEqual(statusOf(expired));
      expect(expiredRaw.body).toContain('\n  "reason": "Expired"');
      expect(conflict.status).toBe(409);
      expect(JSON.parse(conflict.body)).toMatchObject({ reason: 'Conflict', message: expect.stringContaining('Precondition failed: UID in precondition: listed-uid') });
      expect(JSON.parse(dryRun.body)).toMatchObject({ kind: 'PartialObjectMetadata', metadata: { name: 'jupyter-service-b' } });
      expect(server.list('Service').map((s) => s.metadata.name)).toEqual(['jupyter-service-a', 'jupyter-service-b', 'jupyter-service-c']);
    });
  });
});
