/**
 * Metadata-only lists change what travels, not what is decided: the same scenarios, run
 * through the product's Kubernetes adapter against a server that answers
 * PartialObjectMetadataList and against one that ignores `as=` and answers the full lists
 * (an old or aggregated API server), end in the same summary and the same deletes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Summary } from '../../src/core/report.js';
import { silentLogger } from '../../src/ports.js';
import { reconcile } from '../../src/reconcile.js';
import type { KubeApiServer } from '../support/kube-api-server.js';
import { startKubeApiServer } from '../support/kube-api-server.js';
import { HOUR, clusterFor, names, seedSession, settings } from '../support/lab.js';

const NAMESPACES = ['jupyter-lab', 'ubuntu-lab'];
const METADATA_LIST = 'as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';

let metadataServer: KubeApiServer;
let fullServer: KubeApiServer;
beforeAll(async () => {
  metadataServer = await startKubeApiServer();
  fullServer = await startKubeApiServer({ ignoreAs: true });
});
afterAll(async () => {
  await Promise.all([metadataServer.close(), fullServer.close()]);
});

type Shape = 'small' | 'production';

/** One cluster with every case the decisions tell apart, on one server. */
function seedWorld(server: KubeApiServer, shape: Shape, now: number): void {
  server.reset();
  for (const [ns, lab] of [['jupyter-lab', 'jupyter'], ['ubuntu-lab', 'ubuntu']] as const) {
    const seed = (id: string, spec: Parameters<typeof seedSession>[4] = {}) => seedSession(server, ns, lab, id, { shape, now, ...spec });
    for (let i = 0; i < 7; i++) seed(`live${i}`, { deployment: true });
    for (let i = 0; i < 4; i++) seed(`dead${i}`);
    seed('busy', { endpoints: 'ready' });
    seed('kept', { keep: true });
    seed('young', { ageMs: 60_000 });
    seed('halfgone', { service: false, ingress: false });
    seed('noendpoints', { endpoints: 'not-ready' });
    seed('live-elsewhere', { deployment: ns === 'jupyter-lab' });
  }
  // Outside the convention: never touched by either.
  server.create('Service', 'jupyter-lab', 'redis', { creationTimestamp: new Date(now - 2 * HOUR) });
}

async function runOn(server: KubeApiServer, dryRun: boolean): Promise<Summary> {
  // Three objects a page: every list takes several pages.
  return reconcile(settings({ namespaces: NAMESPACES, dryRun, minAgeSeconds: 300 }), {
    cluster: clusterFor(server, { pageSize: 3 }),
    store: undefined,
    logger: silentLogger,
  });
}

/** What a summary decided, without its times. */
function decisions(summary: Summary) {
  const { status, totals, namespaces, sessions } = summary;
  return { status, totals, namespaces, sessions };
}

function deletes(server: KubeApiServer): string[] {
  return server.requests
    .filter((r) => r.verb === 'delete' && r.status !== undefined && r.status < 300)
    .map((r) => `${r.namespace}/${r.kind}/${r.name}/${r.query.dryRun ?? 'real'}`)
    .sort();
}

describe.each(['small', 'production'] as const)('the same decisions from metadata-only and full lists (%s objects)', (shape) => {
  it.each([true, false])('dry run %s: the same summary and the same deletes', async (dryRun) => {
    // Prepare
    const now = Date.now();
    seedWorld(metadataServer, shape, now);
    seedWorld(fullServer, shape, now);

    // Act
    const fromMetadata = await runOn(metadataServer, dryRun);
    const fromFull = await runOn(fullServer, dryRun);

    // Assess: the decisions are those the cases call for, and identical on both servers
    expect(decisions(fromMetadata)).toEqual(decisions(fromFull));
    expect(deletes(metadataServer)).toEqual(deletes(fullServer));
    const outcome = (ns: string, id: string) => fromMetadata.sessions.find((s) => s.namespace === ns && s.sessionId === id);
    expect(outcome('jupyter-lab', 'busy')).toMatchObject({ action: 'spared', reason: 'has-endpoints' });
    expect(outcome('jupyter-lab', 'kept')).toMatchObject({ action: 'spared', reason: 'keep-annotation' });
    expect(outcome('jupyter-lab', 'young')).toMatchObject({ action: 'spared', reason: 'too-young' });
    expect(outcome('jupyter-lab', 'live-elsewhere')).toBeUndefined();
    expect(outcome('ubuntu-lab', 'live-elsewhere')).toMatchObject({ action: dryRun ? 'would-clean' : 'cleaned' });
    expect(fromMetadata.totals).toMatchObject({ servicesChecked: 33, orphanedFound: 19, cleanedUp: dryRun ? 0 : 13, errors: 0 });
    if (!dryRun) expect(names(metadataServer, 'Service', 'jupyter-lab')).toEqual(names(fullServer, 'Service', 'jupyter-lab'));
  });

  it('asks for metadata only for the four kinds it reads by name, and for EndpointSlices in full', async () => {
    // Prepare
    const now = Date.now();
    seedWorld(metadataServer, shape, now);
    seedWorld(fullServer, shape, now);

    // Act
    await runOn(metadataServer, true);
    await runOn(fullServer, true);

    // Assess: the same Accept to both; the metadata server sends fewer bytes for those kinds, the same for slices
    const lists = metadataServer.requests.filter((r) => r.verb === 'list');
    for (const kind of ['Deployment', 'Service', 'Ingress', 'ConfigMap'] as const) {
      expect(lists.filter((r) => r.kind === kind).every((r) => r.accept?.includes(METADATA_LIST) && r.accept.endsWith(',application/json'))).toBe(true);
      // A metadata item carries its own kind and apiVersion: only objects of production weight are the lighter for it.
      if (shape === 'production') expect(metadataServer.bytesSent({ verb: 'list', kind })).toBeLessThan(fullServer.bytesSent({ verb: 'list', kind }));
      else expect(metadataServer.bytesSent({ verb: 'list', kind })).not.toBe(fullServer.bytesSent({ verb: 'list', kind }));
    }
    expect(lists.filter((r) => r.kind === 'EndpointSlice').every((r) => r.accept === 'application/json')).toBe(true);
    expect(metadataServer.bytesSent({ verb: 'list', kind: 'EndpointSlice' })).toBe(fullServer.bytesSent({ verb: 'list', kind: 'EndpointSlice' }));
  });
});
