/**
 * The archive record, pure: its name, reading it back (every way a record can be wrong), and
 * what of an archived object a restore sends. Objects are production-shaped (managedFields,
 * status, an allocated clusterIP), as the local API server's GET returns them.
 */
import { describe, expect, it } from 'vitest';
import type { ArchiveRecord } from '../../src/core/archive.js';
import { ArchiveRecordError, archiveRecordName, objectToRestore, parseArchiveRecord, valueProblem } from '../../src/core/archive.js';
import type { KubeObject } from '../../src/ports.js';
import { productionConfigMap, productionService } from '../support/kube/production.js';

const SESSION = { namespace: 'jupyter-lab', labType: 'jupyter', sessionId: 'abc123' };
const LAB = { ...SESSION, created: new Date('2026-11-26T10:00:00Z') };

/** A production-shaped Service as a GET answers it: server-set fields filled in. */
function servedService(): KubeObject {
  const service = productionService(LAB) as unknown as KubeObject;
  return {
    ...service,
    metadata: {
      ...service.metadata,
      namespace: 'jupyter-lab',
      uid: '0b9f6c1e-4a3d-4f52-9d0e-6c1f2a7b8e90',
      resourceVersion: '48211',
      creationTimestamp: '2026-11-26T10:00:00Z',
      generation: 1,
    },
    status: { loadBalancer: {} },
  };
}

function record(overrides: Partial<ArchiveRecord> = {}): ArchiveRecord {
  return {
    version: 1,
    runStartedAt: '2026-11-26T12:00:00.000Z',
    cluster: 'labs-prod',
    ...SESSION,
    reason: 'no-deployment',
    resources: [servedService()],
    sessionKey: { key: 'lab_session:abc123', type: 'string', value: '{"user":"ada"}', pttlMs: 5000 },
    ...overrides,
  };
}

function parseError(text: string): string {
  try {
    parseArchiveRecord(text, 'rec.json');
  } catch (error) {
    expect(error).toBeInstanceOf(ArchiveRecordError);
    return (error as Error).message;
  }
  throw new Error('the record was accepted');
}

describe('the archive record', () => {
  it("is named {namespace}/{sessionId}/{startedAt}-{labType}.json, so a session's records sort by run", () => {
    expect(archiveRecordName(record())).toBe('jupyter-lab/abc123/2026-11-26T12:00:00.000Z-jupyter.json');
  });

  it('names the record of a key archived alone _keys/{sessionId}/{startedAt}.json (no namespace can hold an underscore)', () => {
    expect(archiveRecordName(record({ namespace: null, labType: null, resources: [] }))).toBe('_keys/abc123/2026-11-26T12:00:00.000Z.json');
  });

  it('reads back a key archived alone, and refuses one without a namespace that holds resources or no key', () => {
    const keyOnly = record({ namespace: null, labType: null, resources: [] });
    expect(parseArchiveRecord(JSON.stringify(keyOnly), 'rec.json')).toEqual(keyOnly);
    expect(parseError(JSON.stringify({ ...keyOnly, resources: [servedService()] }))).toMatch(/a record without a namespace holds a session key and nothing else/);
    expect(parseError(JSON.stringify({ ...keyOnly, sessionKey: null }))).toMatch(/a record without a namespace holds a session key and nothing else/);
    expect(parseError(JSON.stringify({ ...keyOnly, labType: 'jupyter' }))).toMatch(/"namespace" is not a non-empty string/);
  });

  it('reads back what was written, whole', () => {
    const written = record();
    expect(parseArchiveRecord(JSON.stringify(written, null, 2), 'rec.json')).toEqual(written);
  });

  it.each([
    ['not JSON', '{"version": 1,', /^rec\.json is not JSON \(.+\): not an archive record$/],
    ['a JSON array', '[]', /is not a JSON object/],
    ['of an unknown version', JSON.stringify(record({ version: 2 as 1 })), /its version is 2; this lab-reconciler reads version 1 only/],
    ['without a version', JSON.stringify({ ...record(), version: undefined }), /its version is undefined/],
    ['without a namespace', JSON.stringify({ ...record(), namespace: '' }), /"namespace" is not a non-empty string/],
    ['holding a Deployment', JSON.stringify(record({ resources: [{ kind: 'Deployment', metadata: { name: 'jupyter-lab-abc123' } }] })), /resources\[0\] is a "Deployment"; a record holds only Service, Ingress, ConfigMap/],
    ['holding an object of another namespace', JSON.stringify(record({ resources: [{ ...servedService(), metadata: { name: 'x', namespace: 'kube-system' } }] })), /resources\[0\] is in namespace "kube-system", not the record's "jupyter-lab"/],
    ['holding an object without a name', JSON.stringify(record({ resources: [{ kind: 'ConfigMap', metadata: {} }] })), /resources\[0\] has no metadata.name/],
    ['with a key of a type it cannot restore', JSON.stringify(record({ sessionKey: { key: 'k', type: 'ReJSON-RL' as 'string', value: 'x', pttlMs: -1 } })), /"sessionKey": the type "ReJSON-RL" cannot be restored/],
    ['with a TTL that is no TTL', JSON.stringify(record({ sessionKey: { key: 'k', type: 'string', value: 'x', pttlMs: 1.5 } })), /"sessionKey.pttlMs" is 1.5: -1 \(no TTL\) or the milliseconds that were left/],
    ['with a TTL below -1', JSON.stringify(record({ sessionKey: { key: 'k', type: 'string', value: 'x', pttlMs: -2 } })), /"sessionKey.pttlMs" is -2/],
    ['with a hash key whose value is a string', JSON.stringify(record({ sessionKey: { key: 'k', type: 'hash', value: 'x', pttlMs: -1 } })), /a hash key's value is not an object of strings/],
  ])('refuses a record %s, naming the record and what is wrong', (_what, text, message) => {
    expect(parseError(text)).toMatch(message);
  });

  it.each([
    ['string', 'v'],
    ['hash', { user: 'ada', started: '1700000000' }],
    ['list', ['a', 'b']],
    ['set', ['a']],
    ['zset', [['a', '1.5'], ['b', 'inf']]],
    ['stream', [['1700000000000-0', ['event', 'start']]]],
  ])('accepts a %s key of the shape the archive writes', (type, value) => {
    expect(valueProblem(type, value)).toBeUndefined();
  });
});

describe('what a restore sends', () => {
  it('drops every server-set field and the allocated clusterIP, keeps the rest, and adds the keep annotation', () => {
    // Prepare
    const served = servedService();
    expect((served.metadata as { managedFields?: unknown[] }).managedFields?.length).toBeGreaterThan(0);
    // Act
    const sent = objectToRestore(served, { keep: true });
    // Assess: gone
    for (const field of ['uid', 'resourceVersion', 'creationTimestamp', 'managedFields', 'generation']) expect(sent.metadata).not.toHaveProperty(field);
    expect(sent).not.toHaveProperty('status');
    expect(sent.spec).not.toHaveProperty('clusterIP');
    expect(sent.spec).not.toHaveProperty('clusterIPs');
    // Assess: kept, field by field
    const { clusterIP: _a, clusterIPs: _b, ...spec } = served.spec as Record<string, unknown>;
    expect(sent.spec).toEqual(spec);
    expect(sent.metadata!.labels).toEqual(served.metadata!.labels);
    expect(sent.metadata!.annotations).toEqual({ ...served.metadata!.annotations, 'lab-reconciler/keep': 'true' });
    expect([sent.apiVersion, sent.kind, sent.metadata!.name, sent.metadata!.namespace]).toEqual([served.apiVersion, served.kind, served.metadata!.name, 'jupyter-lab']);
    // The archived object itself is not changed
    expect(served.metadata).toHaveProperty('uid');
  });

  it('leaves the annotations as they were with keep off', () => {
    const configMap = productionConfigMap(LAB) as unknown as KubeObject;
    const sent = objectToRestore(configMap, { keep: false });
    expect(sent.metadata!.annotations ?? {}).toEqual(configMap.metadata!.annotations ?? {});
    expect(sent.data).toEqual(configMap.data);
  });

  it('drops what an allocator gave a Service (node ports) and the owner references an orphan no longer has', () => {
    const served = servedService();
    served.metadata = { ...served.metadata, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'jupyter-lab-abc123', uid: 'gone' }] };
    served.spec = { ...(served.spec as object), type: 'LoadBalancer', healthCheckNodePort: 31999, ports: [{ name: 'http', port: 80, targetPort: 8888, nodePort: 31080 }] };
    const sent = objectToRestore(served, { keep: true });
    expect(sent.metadata).not.toHaveProperty('ownerReferences');
    expect(sent.spec).not.toHaveProperty('healthCheckNodePort');
    expect((sent.spec as { ports: unknown[] }).ports).toEqual([{ name: 'http', port: 80, targetPort: 8888 }]);
    expect((sent.spec as { type: string }).type).toBe('LoadBalancer');
  });

  it("keeps a headless Service's clusterIP None: it is its definition, not an allocation", () => {
    const served = servedService();
    served.spec = { ...(served.spec as object), clusterIP: 'None', clusterIPs: ['None'] };
    expect(objectToRestore(served, { keep: true }).spec).toMatchObject({ clusterIP: 'None', clusterIPs: ['None'] });
  });
});
