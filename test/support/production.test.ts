/**
 * The production-shaped builders (test/support/kube/production.ts): objects of the weight a
 * real API server serves, that the local server accepts over HTTP, named as the lab-controller
 * names them.
 */
import { request } from 'node:https';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseName } from '../../src/core/naming.js';
import type { KubeApiServer, KubeObject } from './kube-api-server.js';
import { startKubeApiServer } from './kube-api-server.js';
import type { LabSession } from './kube/production.js';
import {
  productionConfigMap,
  productionDeployment,
  productionEndpointSlice,
  productionIngress,
  productionService,
  productionSizes,
} from './kube/production.js';
import { seedSession } from './lab.js';

const SESSION: LabSession = { namespace: 'jupyter-lab', labType: 'jupyter', sessionId: 's1000', created: new Date('2026-11-26T10:00:00Z') };

/** POSTs an object as JSON; resolves to the status code and the parsed answer. */
function post(server: KubeApiServer, path: string, object: KubeObject): Promise<{ code: number; body: KubeObject }> {
  return new Promise((resolve, reject) => {
    const headers = { Authorization: `Bearer ${server.token}`, 'Content-Type': 'application/json' };
    const req = request(`${server.url}${path}`, { method: 'POST', ca: server.caCert, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body: JSON.parse(text) as KubeObject }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(object));
  });
}

describe('production-shaped objects', () => {
  let server: KubeApiServer;
  beforeAll(async () => {
    server = await startKubeApiServer();
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => server.reset());

  it('weigh what a real API server serves', () => {
    // Act
    const sizes = productionSizes();

    // Assess: bytes of JSON of each object as a list page serves it.
    expect(sizes.Deployment).toBeGreaterThan(6_000);
    expect(sizes.Deployment).toBeLessThan(8_000);
    expect(sizes.ConfigMap).toBeGreaterThan(3_000);
    expect(sizes.ConfigMap).toBeLessThan(3_800);
    for (const kind of ['Service', 'Ingress', 'EndpointSlice'] as const) {
      expect(sizes[kind]).toBeGreaterThan(1_000);
      expect(sizes[kind]).toBeLessThan(2_000);
    }
    expect(sizes.total).toBe(sizes.Deployment + sizes.Service + sizes.Ingress + sizes.ConfigMap + sizes.EndpointSlice);
  });

  it('carry managedFields, the controllers annotations and status', () => {
    // Act
    const deployment = productionDeployment(SESSION);
    const slice = productionEndpointSlice(SESSION, { serviceUid: 'service-uid' });

    // Assess
    const managers = (deployment.metadata.managedFields as Array<{ manager: string; operation: string; subresource?: string }>).map((m) => [m.manager, m.operation, m.subresource]);
    expect(managers).toEqual([
      ['lab-controller', 'Update', undefined],
      ['kube-controller-manager', 'Update', undefined],
      ['kube-controller-manager', 'Update', 'status'],
    ]);
    expect(deployment.metadata.annotations).toHaveProperty(['deployment.kubernetes.io/revision'], '1');
    const spec = deployment.spec as { template: { spec: { containers: Array<{ env: unknown[]; livenessProbe: unknown; readinessProbe: unknown }> } } };
    expect(spec.template.spec.containers[0]!.env).toHaveLength(15);
    expect((deployment.status as { conditions: Array<{ type: string }> }).conditions.map((c) => c.type)).toEqual(['Available', 'Progressing']);
    expect(slice.metadata.labels).toHaveProperty(['kubernetes.io/service-name'], 'jupyter-service-s1000');
    expect(slice.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Service', uid: 'service-uid' })]);
    expect(JSON.stringify(slice.metadata.managedFields)).toContain('k:{\\"uid\\":\\"service-uid\\"}');
    // Two sessions of one shape share a field set, never a value.
    const other = productionDeployment({ ...SESSION, sessionId: 's1001' });
    expect(JSON.stringify(other)).not.toContain('s1000');
  });

  it('are accepted by the API server over HTTP, and served back unchanged', async () => {
    // Prepare
    const objects: Array<[string, KubeObject]> = [
      ['/apis/apps/v1/namespaces/jupyter-lab/deployments', productionDeployment(SESSION)],
      ['/api/v1/namespaces/jupyter-lab/services', productionService(SESSION)],
      ['/apis/networking.k8s.io/v1/namespaces/jupyter-lab/ingresses', productionIngress(SESSION)],
      ['/api/v1/namespaces/jupyter-lab/configmaps', productionConfigMap(SESSION)],
      ['/apis/discovery.k8s.io/v1/namespaces/jupyter-lab/endpointslices', productionEndpointSlice(SESSION)],
    ];

    for (const [path, object] of objects) {
      // Act
      const { code, body } = await post(server, path, object);

      // Assess
      expect(code, `${object.kind} ${object.metadata.name}`).toBe(201);
      const { managedFields, ...metadata } = object.metadata;
      expect(body.metadata).toMatchObject(metadata);
      expect(body.metadata.managedFields).toEqual(managedFields);
    }
  });

  it('are named by the lab-controller convention, when seeded as a session', () => {
    // Act
    seedSession(server, 'ubuntu-lab', 'ubuntu', 'a1b2c3', { deployment: true, shape: 'production' });

    // Assess
    const one = (kind: 'Deployment' | 'Service' | 'Ingress' | 'ConfigMap') => {
      const [object, ...more] = server.list(kind, 'ubuntu-lab');
      expect(more).toEqual([]);
      return object!;
    };
    for (const kind of ['Deployment', 'Service', 'Ingress', 'ConfigMap'] as const) {
      expect(parseName(kind, one(kind).metadata.name), kind).toEqual({ labType: 'ubuntu', sessionId: 'a1b2c3' });
    }
    const [slice] = server.list('EndpointSlice', 'ubuntu-lab');
    expect(slice?.metadata.labels?.['kubernetes.io/service-name']).toBe('ubuntu-service-a1b2c3');
    expect(slice?.metadata.ownerReferences).toEqual([expect.objectContaining({ uid: one('Service').metadata.uid })]);
    expect(JSON.stringify(one('Deployment')).length).toBeGreaterThan(6_000);
  });
});
