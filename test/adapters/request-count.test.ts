/**
 * The cost on the API server: a run over 4 namespaces of 1,000 sessions each sends list
 * requests only (a handful of pages per kind), whatever the number of Services.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcile } from '../../src/reconcile.js';
import { silentLogger } from '../../src/ports.js';
import type { KubeApiServer } from '../support/kube-api-server.js';
import { startKubeApiServer } from '../support/kube-api-server.js';
import { clusterFor, seedSession, settings } from '../support/lab.js';

const NAMESPACES = ['jupyter-lab', 'ubuntu-lab', 'vscode-lab', 'postgresql-lab'];
const KINDS = ['Deployment', 'Service', 'Ingress', 'ConfigMap', 'EndpointSlice'] as const;

let server: KubeApiServer;
beforeAll(async () => {
  server = await startKubeApiServer();
});
afterAll(async () => {
  await server.close();
});

async function countFor(sessionsPerNamespace: number): Promise<{ total: number; byKind: Record<string, number> }> {
  server.clear();
  for (const ns of NAMESPACES) {
    const lab = ns.split('-')[0]!;
    for (let i = 0; i < sessionsPerNamespace; i++) seedSession(server, ns, lab, `s${i}`, { deployment: true });
  }
  server.clearRequests();
  const summary = await reconcile(settings({ namespaces: NAMESPACES }), { cluster: clusterFor(server), store: undefined, logger: silentLogger });
  expect(summary.status).toBe('ok');
  expect(summary.totals.servicesChecked).toBe(4 * sessionsPerNamespace);
  const byKind = Object.fromEntries(KINDS.map((kind) => [kind, server.countRequests({ kind })]));
  return { total: server.requests.length, byKind };
}

describe('requests per run', () => {
  it('are list pages only: 4 namespaces x 1,000 live sessions cost 5 kinds x 2 pages x 4 namespaces', async () => {
    // Act
    const { total, byKind } = await countFor(1000);

    // Assess: 1,000 objects at 500 a page is 2 pages per kind and namespace.
    expect(server.requests.every((r) => r.verb === 'list')).toBe(true);
    expect(byKind).toEqual({ Deployment: 8, Service: 8, Ingress: 8, ConfigMap: 8, EndpointSlice: 8 });
    expect(total).toBe(40);
    console.log(`request count: 4 namespaces x 1000 sessions -> ${total} requests (${JSON.stringify(byKind)})`);
  });

  it('grow with pages, not with sessions', async () => {
    // Act
    const small = await countFor(10);
    const large = await countFor(1000);

    // Assess: 100 times the sessions, twice the pages.
    expect(small.total).toBe(20);
    expect(large.total).toBe(40);
  });
});
