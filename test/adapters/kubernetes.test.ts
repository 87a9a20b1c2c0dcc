/**
 * The reconcile run through the real @kubernetes/client-node over HTTPS to the local API
 * server: one test per rule of the contract's "What it does", one per spared reason, and
 * the faults the contract names.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { reconcile } from '../../src/reconcile.js';
import { silentLogger } from '../../src/ports.js';
import type { KubeApiServer } from '../support/kube-api-server.js';
import { startKubeApiServer } from '../support/kube-api-server.js';
import { clusterFor, names, seedSession, settings } from '../support/lab.js';

let server: KubeApiServer;
beforeAll(async () => {
  server = await startKubeApiServer();
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.reset();
});

const run = (changes: Parameters<typeof settings>[0] = {}, cluster = clusterFor(server)) =>
  reconcile(settings({ namespaces: ['jupyter-lab'], ...changes }), { cluster, store: undefined, logger: silentLogger });

describe('observing a namespace', () => {
  it('lists every kind page by page with limit and continue, and sends no per-Service request', async () => {
    // Prepare: 7 live sessions and 3 orphans, listed 3 to a page.
    for (let i = 0; i < 7; i++) seedSession(server, 'jupyter-lab', 'jupyter', `live${i}`, { deployment: true });
    for (let i = 0; i < 3; i++) seedSession(server, 'jupyter-lab', 'jupyter', `dead${i}`);

    // Act
    const summary = await run({ dryRun: true }, clusterFor(server, { pageSize: 3 }));

    // Assess
    expect(summary.totals.servicesChecked).toBe(10);
    expect(summary.totals.orphanedFound).toBe(3);
    const lists = server.requests.filter((r) => r.verb === 'list');
    expect(lists.every((r) => r.query.limit === 3)).toBe(true);
    expect(server.countRequests({ verb: 'list', kind: 'Service' })).toBe(4); // 10 Services, 3 a page
    expect(server.countRequests({ verb: 'list', kind: 'Deployment' })).toBe(3); // 7 Deployments
    expect(lists.filter((r) => (r.page ?? 1) > 1).every((r) => r.query.continue)).toBe(true);
    // Besides lists: one GET of each orphan's Deployment (the last look) and its deletes, nothing per Service.
    expect(server.countRequests({ verb: 'get', kind: 'Service' })).toBe(0);
    expect(server.countRequests({ verb: 'get', kind: 'EndpointSlice' })).toBe(0);
  });

  it('never cleans a namespace whose Deployments list fails on its second page, and cleans the others (partial)', async () => {
    // Prepare
    for (const ns of ['jupyter-lab', 'ubuntu-lab']) {
      for (let i = 0; i < 4; i++) seedSession(server, ns, 'lab', `live${i}`, { deployment: true });
      seedSession(server, ns, 'lab', 'dead');
    }
    server.injectFault({ verb: 'list', kind: 'Deployment', namespace: 'jupyter-lab', page: 2, times: Infinity, effect: { type: 'status', code: 500 } });

    // Act
    const summary = await run({ namespaces: ['jupyter-lab', 'ubuntu-lab'] }, clusterFor(server, { pageSize: 2 }));

    // Assess
    expect(summary.status).toBe('partial');
    expect(names(server, 'Service', 'jupyter-lab')).toContain('lab-service-dead');
    expect(names(server, 'Service', 'ubuntu-lab')).not.toContain('lab-service-dead');
    expect(server.countRequests({ verb: 'delete', namespace: 'jupyter-lab' })).toBe(0);
    const failed = summary.namespaces.find((n) => n.namespace === 'jupyter-lab')!;
    expect(failed.errors).toBe(1);
    expect(failed.error).toMatch(/Deployments in namespace jupyter-lab.*HTTP 500/);
    expect(summary.namespaces.find((n) => n.namespace === 'ubuntu-lab')).toMatchObject({ cleanedUp: 1, errors: 0 });
  });

  it('restarts a list whose continue token expired instead of mixing two snapshots', async () => {
    // Prepare: the tokens expire as the second page of Services is asked for.
    for (let i = 0; i < 5; i++) seedSession(server, 'jupyter-lab', 'jupyter', `live${i}`, { deployment: true });
    let expired = false;
    server.beforeServe = (request) => {
      if (!expired && request.kind === 'Service' && request.query.continue) {
        expired = true;
        server.expireContinueTokens();
      }
    };

    // Act
    const summary = await run({ dryRun: true }, clusterFor(server, { pageSize: 2 }));

    // Assess
    expect(summary.status).toBe('ok');
    expect(summary.totals.servicesChecked).toBe(5);
    expect(server.countRequests({ verb: 'list', kind: 'Service', status: 410 })).toBe(1);
    expect(server.countRequests({ verb: 'list', kind: 'Service', page: 1 })).toBe(2);
  });

  it('fails the run, with the reason, when the cluster cannot be reached', async () => {
    // Prepare: a server that is gone.
    const gone = await startKubeApiServer();
    const cluster = clusterFor(gone, { retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 10, budgetMs: 100 } });
    await gone.close();

    // Act
    const summary = await run({}, cluster);

    // Assess
    expect(summary.status).toBe('failed');
    expect(summary.namespaces[0]!.error).toMatch(/ECONNREFUSED/);
  });

  it('fails, naming the cause, when the token is rejected (401)', async () => {
    // Prepare
    seedSession(server, 'jupyter-lab', 'jupyter', 'dead');
    const cluster = clusterFor(server);
    server.token = 'rotated';

    // Act
    const summary = await run({}, cluster);

    // Assess
    expect(summary.status).toBe('failed');
    expect(summary.namespaces[0]!.error).toMatch(/HTTP 401.*Unauthorized/);
    expect(server.countRequests({ verb: 'delete' })).toBe(0);
  });
});

describe('deciding per session', () => {
  it('treats a session as orphaned only without a Deployment of the same lab type and session id', async () => {
    // Prepare
    seedSession(server, 'jupyter-lab', 'jupyter', 's1', { deployment: true });
    seedSession(server, 'jupyter-lab', 'jupyter', 's2');
    server.create('Deployment', 'jupyter-lab', 'ubuntu-lab-s2'); // another lab type: does not keep jupyter's s2 alive

    // Act
    const summary = await run({ minAgeSeconds: 0 });

    // Assess
    expect(summary.sessions.map((s) => [s.labType, s.sessionId, s.action])).toEqual([['jupyter', 's2', 'cleaned']]);
    expect(names(server, 'Service', 'jupyter-lab')).toEqual(['jupyter-service-s1']);
  });

  it('never touches a name outside the convention', async () => {
    // Prepare
    for (const name of ['jupyter-service-', '-service-x', 'Jupyter-service-x', 'jupyter-svc-x', 'kube-dns', 'jupyter-lab-service-x']) {
      server.create('Service', 'jupyter-lab', name, { creationTimestamp: new Date(Date.now() - 86_400_000) });
    }

    // Act
    const summary = await run({ minAgeSeconds: 0 });

    // Assess
    expect(server.countRequests({ verb: 'delete' })).toBe(0);
    expect(summary.sessions).toEqual([]);
    expect(summary.totals.servicesChecked).toBe(6);
  });

  it('spares a session whose Service has a ready endpoint (has-endpoints), but not one whose endpoints are not ready', async () => {
    // Prepare
    seedSession(server, 'jupyter-lab', 'jupyter', 'ready', { endpoints: 'ready' });
    seedSession(server, 'jupyter-lab', 'jupyter', 'notready', { endpoints: 'not-ready' });

    // Act
    const summary = await run();

    // Assess
    expect(summary.sessions.find((s) => s.sessionId === 'ready')).toMatchObject({ action: 'spared', reason: 'has-endpoints' });
    expect(summary.sessions.find((s) => s.sessionId === 'notready')).toMatchObject({ action: 'cleaned', reason: 'no-deployment' });
    expect(names(server, 'Service', 'jupyter-lab')).toEqual(['jupyter-service-ready']);
  });

  it('spares a session with a resource younger than the grace period (too-young)', async () => {
    // Prepare
    seedSession(server, 'jupyter-lab', 'jupyter', 'young', { ageMs: 60_000 });

    // Act
    const summary = await run({ minAgeSeconds: 300 });

    // Assess
    expect(summary.sessions[0]).toMatchObject({ action: 'spared', reason: 'too-young' });
    expect(server.countRequests({ verb: 'delete' })).toBe(0);
  });

  it('spares a session one of whose resources is annotated lab-reconciler/keep (keep-annotation)', async () => {
    // Prepare
    seedSession(server, 'jupyter-lab', 'jupyter', 'kept', { keep: true });

    // Act
    const summary = await run();

    // Assess
    expect(summary.sessions[0]).toMatchObject({ action: 'spared', reason: 'keep-annotation' });
    expect(names(server, 'Ingress', 'jupyter-lab')).toEqual(['jupyter-ingress-kept']);
  });

  it('cleans none when more sessions are to be cleaned than the cap, over all namespaces (cap-exceeded, aborted)', async () => {
    // Prepare: 2 + 2 orphans, cap 3.
    for (const ns of ['jupyter-lab', 'ubuntu-lab']) for (const id of ['a', 'b']) seedSession(server, ns, 'lab', id);

    // Act
    const summary = await run({ namespaces: ['jupyter-lab', 'ubuntu-lab'], maxDeletions: 3 });

    // Assess
    expect(summary.status).toBe('aborted');
    expect(summary.sessions.every((s) => s.action === 'spared' && s.reason === 'cap-exceeded')).toBe(true);
    expect(server.countRequests({ verb: 'delete' })).toBe(0);
  });
});

describe('cleaning a session', () => {
  it('deletes its Ingress, Service and ConfigMap, each with the uid it was listed with', async () => {
    // Prepare
    seedSession(server, 'jupyter-lab', 'jupyter', 'dead');
    const uids = Object.fromEntries(
      (['Ingress', 'Service', 'ConfigMap'] as const).map((kind) => [kind, server.list(kind, 'jupyter-lab')[0]!.metadata.uid]),
    );

    // Act
    const summary = await run();

    // Assess
    const deletes = server.requests.filter((r) => r.verb === 'delete');
    expect(deletes.map((r) => [r.kind, r.name, r.preconditionUid, r.status])).toEqual([
      ['Ingress', 'jupyter-ingress-dead', uids.Ingress, 200],
      ['Service', 'jupyter-service-dead', uids.Service, 200],
      ['ConfigMap', 'jupyter-config-dead', uids.ConfigMap, 200],
    ]);
    expect(summary.totals).toMatchObject({ cleanedUp: 1, resourcesDeleted: 3, errors: 0 });
    expect(summary.sessions[0]!.resources).toEqual(['Ingress/jupyter-ingress-dead', 'Service/jupyter-service-dead', 'ConfigMap/jupyter-config-dead']);
  });

  it('counts a resource deleted by somebody else in between (404) as gone', async () => {
    // Prepare: the ConfigMap disappears after the lists.
    seedSession(server, 'jupyter-lab', 'jupyter', 'dead');
    server.beforeServe = (request) => {
      if (request.verb === 'delete' && request.kind === 'Ingress') server.remove('ConfigMap', 'jupyter-lab', 'jupyter-config-dead');
    };

    // Act
    const summary = await run();

    // Assess
    expect(summary.sessions[0]).toMatchObject({ action: 'cleaned' });
    expect(summary.totals.resourcesDeleted).toBe(2);
    expect(server.countRequests({ verb: 'delete', kind: 'ConfigMap', status: 404 })).toBe(1);
  });

  it('leaves a resource recreated with a new uid before its delete alone (409), and reports it', async () => {
    // Prepare: the lab-controller recreates the Service between the list and the delete.
    seedSession(server, 'jupyter-lab', 'jupyter', 'dead');
    server.beforeServe = (request) => {
      if (request.verb === 'delete' && request.kind === 'Ingress') server.replace('Service', 'jupyter-lab', 'jupyter-service-dead');
    };

    // Act
    const summary = await run();

    // Assess
    expect(names(server, 'Service', 'jupyter-lab')).toEqual(['jupyter-service-dead']);
    expect(server.countRequests({ verb: 'delete', kind: 'Service', status: 409 })).toBe(1);
    expect(server.countRequests({ verb: 'delete', kind: 'Service' })).toBe(1); // not retried
    expect(summary.status).toBe('partial');
    expect(summary.sessions[0]).toMatchObject({ action: 'failed', reason: 'conflict' });
    expect(summary.sessions[0]!.error).toContain('Service/jupyter-service-dead was recreated');
  });

  it('spares a session whose Deployment came back after the lists (deployment-reappeared)', async () => {
    // Prepare
    seedSession(server, 'jupyter-lab', 'jupyter', 'back');
    server.beforeServe = (request) => {
      if (request.verb === 'get' && request.kind === 'Deployment') server.create('Deployment', 'jupyter-lab', 'jupyter-lab-back');
    };

    // Act
    const summary = await run();

    // Assess
    expect(summary.sessions[0]).toMatchObject({ action: 'spared', reason: 'deployment-reappeared' });
    expect(server.countRequests({ verb: 'delete' })).toBe(0);
  });

  it('retries a delete answered 429 with Retry-After, after the wait, and succeeds', async () => {
    // Prepare
    seedSession(server, 'jupyter-lab', 'jupyter', 'dead');
    server.injectFault({ verb: 'delete', kind: 'Service', times: 1, effect: { type: 'status', code: 429, headers: { 'Retry-After': '1' } } });

    // Act
    const started = Date.now();
    const summary = await run();
    const elapsed = Date.now() - started;

    // Assess
    expect(summary.status).toBe('ok');
    const serviceDeletes = server.requests.filter((r) => r.verb === 'delete' && r.kind === 'Service').map((r) => r.status);
    expect(serviceDeletes).toEqual([429, 200]);
    expect(names(server, 'Service', 'jupyter-lab')).toEqual([]);
    // The server asked for one second; the retry waited for it (a lower bound, not a timing target).
    expect(elapsed).toBeGreaterThanOrEqual(1000);
  });

  it('reports a delete that keeps failing, keeps going with the other sessions, and keeps the failed one whole', async () => {
    // Prepare
    seedSession(server, 'jupyter-lab', 'jupyter', 'a');
    seedSession(server, 'jupyter-lab', 'jupyter', 'b');
    server.injectFault({ verb: 'delete', name: 'jupyter-service-a', times: Infinity, effect: { type: 'status', code: 403 } });

    // Act
    const summary = await run();

    // Assess
    expect(summary.status).toBe('partial');
    expect(summary.sessions.find((s) => s.sessionId === 'a')).toMatchObject({ action: 'failed', reason: 'delete-failed' });
    expect(summary.sessions.find((s) => s.sessionId === 'a')!.error).toMatch(/HTTP 403 Forbidden/);
    expect(summary.sessions.find((s) => s.sessionId === 'b')).toMatchObject({ action: 'cleaned' });
    expect(server.countRequests({ verb: 'delete', name: 'jupyter-service-a' })).toBe(1); // 403 is an answer, not retried
  });

  it('sends deletes with dryRun=All in a dry run and changes nothing', async () => {
    // Prepare
    seedSession(server, 'jupyter-lab', 'jupyter', 'dead');

    // Act
    const summary = await run({ dryRun: true });

    // Assess
    const deletes = server.requests.filter((r) => r.verb === 'delete');
    expect(deletes).toHaveLength(3);
    expect(deletes.every((r) => r.query.dryRun === 'All')).toBe(true);
    expect(names(server, 'Service', 'jupyter-lab')).toEqual(['jupyter-service-dead']);
    expect(summary.sessions[0]).toMatchObject({ action: 'would-clean', reason: 'no-deployment' });
    expect(summary.totals).toMatchObject({ cleanedUp: 0, resourcesDeleted: 0 });
  });

  it('keeps at most RECONCILIATION_CONCURRENCY requests in flight', async () => {
    // Prepare
    for (let i = 0; i < 12; i++) seedSession(server, 'jupyter-lab', 'jupyter', `d${i}`);
    for (let i = 0; i < 12; i++) seedSession(server, 'ubuntu-lab', 'ubuntu', `d${i}`);
    server.latencyMs = 10;

    // Act
    const summary = await run({ namespaces: ['jupyter-lab', 'ubuntu-lab'], concurrency: 3 }, clusterFor(server, { concurrency: 3 }));

    // Assess
    expect(summary.totals.cleanedUp).toBe(24);
    expect(server.peakInFlight).toBeLessThanOrEqual(3);
    expect(server.peakInFlight).toBeGreaterThan(1);
  });
});

describe('retries', () => {
  it('retries a list page answered 503, a reset connection and a request that hangs, then succeeds', async () => {
    // Prepare
    for (let i = 0; i < 3; i++) seedSession(server, 'jupyter-lab', 'jupyter', `live${i}`, { deployment: true });
    seedSession(server, 'jupyter-lab', 'jupyter', 'dead');
    server.injectFault({ verb: 'list', kind: 'Deployment', page: 2, times: 1, effect: { type: 'status', code: 503 } });
    server.injectFault({ verb: 'delete', kind: 'Ingress', times: 1, effect: { type: 'reset' } });
    server.injectFault({ verb: 'delete', kind: 'ConfigMap', times: 1, effect: { type: 'hang' } });

    // Act
    const summary = await run({}, clusterFor(server, { pageSize: 2, requestTimeoutMs: 300 }));

    // Assess
    expect(summary.status).toBe('ok');
    expect(summary.sessions[0]).toMatchObject({ sessionId: 'dead', action: 'cleaned' });
    expect(server.countRequests({ verb: 'list', kind: 'Deployment', page: 2 })).toBe(2);
    expect(server.countRequests({ verb: 'delete', kind: 'Ingress' })).toBe(2);
    expect(server.countRequests({ verb: 'delete', kind: 'ConfigMap' })).toBe(2);
    expect(names(server, 'ConfigMap', 'jupyter-lab')).toEqual(['jupyter-config-live0', 'jupyter-config-live1', 'jupyter-config-live2']);
  });

  it('gives up within its budget when the API server keeps failing, and reports the last answer', async () => {
    // Prepare
    seedSession(server, 'jupyter-lab', 'jupyter', 'dead');
    server.injectFault({ verb: 'list', kind: 'Service', times: Infinity, effect: { type: 'status', code: 500 } });

    // Act
    const summary = await run({}, clusterFor(server, { retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 50, budgetMs: 500 } }));

    // Assess
    expect(summary.status).toBe('failed');
    expect(server.countRequests({ verb: 'list', kind: 'Service' })).toBe(3);
    expect(summary.namespaces[0]!.error).toMatch(/Failed to list Services in namespace jupyter-lab: HTTP 500/);
  });
});
