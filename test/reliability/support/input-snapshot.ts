/**
 * Bad input, snapshots: generators of `kubectl get ... -o json` dumps, from plausible to
 * hostile, and the contract's check of a plan made from one.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import type { Summary } from '../../../src/core/report.js';
import type { Deletable } from './input-names.js';
import { DELETABLE, contractParse, nameArb } from './input-names.js';

export const ALLOWLIST = ['jupyter-lab', 'ubuntu-lab', 'vscode-lab', 'postgresql-lab'];
export const NOW = Date.parse('2026-11-26T12:00:00Z');
const OLD = new Date(NOW - 2 * 3_600_000).toISOString();

/** Keys of Object.prototype: a kind or namespace spelled so must be nothing special. */
export const PROTO_WORDS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'];

const kindArb = (hostile: boolean): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom('Deployment', 'Service', 'Ingress', 'ConfigMap', 'EndpointSlice') },
    { weight: 3, arbitrary: fc.constantFrom('Pod', 'Secret', 'Namespace', 'ReplicaSet', 'StatefulSet', 'List', 'service', 'SERVICE', 'Services', 'Endpoints', '') },
    { weight: 1, arbitrary: fc.oneof(fc.constant(undefined), fc.constant(null), fc.integer(), fc.constant(['Service']), fc.constant({ kind: 'Service' })) },
    ...(hostile ? [{ weight: 2, arbitrary: fc.constantFrom(...PROTO_WORDS) }] : []),
  );

const namespaceArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...ALLOWLIST, 'jupyter-lab', 'jupyter-lab') },
  { weight: 3, arbitrary: fc.constantFrom('default', 'kube-system', 'jupyter-lab-x', 'Jupyter-lab', ' jupyter-lab', '', ...PROTO_WORDS) },
  { weight: 1, arbitrary: fc.oneof(fc.constant(undefined), fc.constant(null), fc.integer(), fc.constant(['jupyter-lab'])) },
);

const timestampArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 8, arbitrary: fc.constant(OLD) },
  { weight: 1, arbitrary: fc.constantFrom(new Date(NOW).toISOString(), new Date(NOW + 86_400_000).toISOString(), 'yesterday', '', '2026-13-45T99:99:99Z', '0') },
  { weight: 1, arbitrary: fc.oneof(fc.constant(undefined), fc.constant(null), fc.integer(), fc.constant({})) },
);

const annotationsArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constant({ 'lab-reconciler/keep': 'true' }) },
  { weight: 1, arbitrary: fc.constantFrom({ 'lab-reconciler/keep': 'false' }, { 'lab-reconciler/keep': true }, 'lab-reconciler/keep', ['lab-reconciler/keep'], null, {}) },
);

/** Endpoints of an EndpointSlice: arrays of endpoints with every readiness, and (hostile) non-arrays. */
const endpointsArb = (hostile: boolean): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.array(fc.oneof(fc.constant({ conditions: { ready: true } }), fc.constant({ conditions: { ready: false } }), fc.constant({ conditions: {} }), fc.constant({}), fc.constant(null), fc.constant({ conditions: null })), { maxLength: 3 }) },
    { weight: 1, arbitrary: fc.constantFrom(undefined, null) },
    ...(hostile ? [{ weight: 2, arbitrary: fc.constantFrom('ready', {}, { 0: { conditions: { ready: true } } }, 1, true) }] : []),
  );

/** Names, mostly lab-like (and often the names of other generated items, so that sessions form). */
const itemNameArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 8, arbitrary: nameArb },
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom('jupyter', 'ubuntu', 'pg16'), fc.constantFrom('lab', 'service', 'ingress', 'config'), fc.constantFrom('a', 'b2', 'c-d', 'x.y')).map(([t, r, s]) => `${t}-${r}-${s}`) },
  { weight: 1, arbitrary: fc.oneof(fc.constant(undefined), fc.constant(null), fc.integer(), fc.constant(['jupyter-service-a']), fc.constant('x'.repeat(100_000))) },
);

/** One item of the List. */
export const itemArb = (hostile: boolean): fc.Arbitrary<unknown> =>
  fc.oneof(
    {
      weight: 12,
      arbitrary: fc
        .record(
          {
            kind: kindArb(hostile),
            metadata: fc.oneof(
              { weight: 10, arbitrary: fc.record({ name: itemNameArb, namespace: namespaceArb, uid: fc.oneof(fc.uuid(), fc.constant(''), fc.constant(undefined)), creationTimestamp: timestampArb, annotations: annotationsArb, labels: fc.constant(undefined) }, { requiredKeys: ['name', 'namespace'] }) },
              { weight: 1, arbitrary: fc.oneof(fc.constant(undefined), fc.constant(null), fc.constant('metadata'), fc.constant([])) },
            ),
            endpoints: endpointsArb(hostile),
          },
          { requiredKeys: ['kind', 'metadata'] },
        )
        .chain((item): fc.Arbitrary<unknown> =>
          // An EndpointSlice points at a Service, often one of the lab-like names.
          item.kind === 'EndpointSlice' && item.metadata && typeof item.metadata === 'object'
            ? fc.oneof(itemNameArb, fc.constant(undefined)).map((service) => ({ ...item, metadata: { ...(item.metadata as object), labels: { 'kubernetes.io/service-name': service } } }))
            : fc.constant(item),
        ),
    },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  );

/** A whole document: a List of items (mostly), or anything JSON. */
export const documentArb = (hostile: boolean): fc.Arbitrary<unknown> =>
  fc.oneof(
    {
      weight: 10,
      arbitrary: fc
        .tuple(fc.constantFrom('List', 'List', 'ServiceList', 'DeploymentList'), fc.array(itemArb(hostile), { minLength: 1, maxLength: 40, size: 'medium' }), fc.nat(9))
        // Most dumps hold some Deployment, as a real one does (a dump with none is refused by design).
        .map(([kind, items, n]) => ({ apiVersion: 'v1', kind, items: n === 0 ? items : [{ kind: 'Deployment', metadata: { name: 'unrelated', namespace: 'jupyter-lab', uid: 'u0', creationTimestamp: OLD } }, ...items] })),
    },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    { weight: 1, arbitrary: fc.constantFrom({ kind: 'List' }, { kind: 'List', items: {} }, { kind: 'List', items: 'x' }, { kind: 'List', items: null }, { items: [] }, { kind: 'Service', metadata: { name: 'jupyter-service-a', namespace: 'jupyter-lab' } }) },
  );

interface RawItem {
  kind?: unknown;
  metadata?: { name?: unknown; namespace?: unknown; annotations?: unknown; labels?: unknown } | null;
  endpoints?: unknown;
}

function itemsOf(document: unknown): RawItem[] {
  const items = (document as { items?: unknown } | null)?.items;
  return Array.isArray(items) ? (items.filter((i) => i && typeof i === 'object' && !Array.isArray(i)) as RawItem[]) : [];
}

function isItem(i: RawItem, kind: string, namespace: string, name: string): boolean {
  return i.kind === kind && i.metadata?.namespace === namespace && i.metadata?.name === name;
}

/**
 * The contract's check of a plan made from `document`: every session acted on is in the
 * allowlist, made of items of the dump that follow the convention, without a Deployment, and
 * a would-clean session has no keep annotation and no Service with a possibly ready endpoint.
 */
export function assessPlan(document: unknown, summary: Summary): number {
  const items = itemsOf(document);
  let checked = 0;
  const seen = new Set<string>();
  for (const session of summary.sessions) {
    const key = `${session.namespace}/${session.labType}/${session.sessionId}`;
    expect(seen.has(key), `${key} reported twice`).toBe(false);
    seen.add(key);
    expect(ALLOWLIST, key).toContain(session.namespace);
    expect(items.some((i) => isItem(i, 'Deployment', session.namespace, `${session.labType}-lab-${session.sessionId}`)), `${key} has a Deployment`).toBe(false);
    for (const entry of session.resources) {
      checked++;
      const slash = entry.indexOf('/');
      const kind = entry.slice(0, slash) as Deletable;
      const name = entry.slice(slash + 1);
      expect(DELETABLE, entry).toContain(kind);
      const matching = items.filter((i) => isItem(i, kind, session.namespace, name));
      expect(matching.length, `${key}: ${entry} is not in the dump`).toBeGreaterThan(0);
      expect(contractParse(kind, name), entry).toEqual({ labType: session.labType, sessionId: session.sessionId });
      if (session.action !== 'would-clean') continue;
      const keep = matching.some((i) => (i.metadata?.annotations as Record<string, unknown> | undefined)?.['lab-reconciler/keep'] === 'true');
      expect(keep, `${key}: ${entry} is annotated keep, yet would be cleaned`).toBe(false);
      if (kind === 'Service') {
        const slices = items.filter(
          (i) => i.kind === 'EndpointSlice' && i.metadata?.namespace === session.namespace && (i.metadata?.labels as Record<string, unknown> | undefined)?.['kubernetes.io/service-name'] === name,
        );
        const maybeReady = slices.some((s) => s.endpoints !== undefined && s.endpoints !== null && (!Array.isArray(s.endpoints) || s.endpoints.some((e) => (e as { conditions?: { ready?: unknown } } | null)?.conditions?.ready !== false)));
        expect(maybeReady, `${key}: ${entry} may have a ready endpoint, yet would be cleaned`).toBe(false);
      }
    }
  }
  return checked;
}
