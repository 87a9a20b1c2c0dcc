/**
 * Bad input: snapshots for `plan --snapshot`. Not JSON, not a List, items that are not
 * objects, objects of other kinds, items without metadata or names, lab-like names outside the
 * allowlist, duplicates, huge names, hostile kinds and EndpointSlices: each ends in exit 2
 * naming --snapshot, or in a correct plan; never a would-clean outside the convention or the
 * allowlist, never a crash.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Summary } from '../../src/core/report.js';
import { runCli } from '../support/cli.js';
import type { CliResult } from '../support/cli.js';
import { InputCounter } from './support/input-names.js';
import { INTERNAL_ERROR, STACK_LINE } from './support/input-kubeconfig.js';
import { NOW, PROTO_WORDS, assessPlan, documentArb } from './support/input-snapshot.js';

const DOCUMENT_RUNS = 300;
const HOSTILE_RUNS = 300;
const TEXT_RUNS = 200;
const counter = new InputCounter();
const dir = mkdtempSync(join(tmpdir(), 'lab-reconciler-snapshot-'));
let fileCount = 0;
afterAll(() => counter.report('bad-input-snapshot'));

function file(content: string | Uint8Array): string {
  const path = join(dir, `dump-${fileCount++}.json`);
  writeFileSync(path, content);
  return path;
}

const OLD = new Date(NOW - 2 * 3_600_000).toISOString();
function object(kind: string, name: string, namespace = 'jupyter-lab', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { kind, apiVersion: 'v1', metadata: { name, namespace, uid: `uid-${kind}-${name}-${namespace}`, creationTimestamp: OLD }, ...extra };
}
/** A List holding these items and one unrelated Deployment (a dump without Deployments is refused by design). */
function list(...items: unknown[]): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'List', items: [object('Deployment', 'unrelated'), ...items] };
}

function plan(path: string): Promise<CliResult> {
  return runCli(['plan', '--snapshot', path, '--now', new Date(NOW).toISOString(), '--output', 'json', '--max-deletions', '100000']);
}

/** Exit 2 naming --snapshot, or a JSON summary whose plan the contract allows; never a crash. */
function assessResult(document: unknown, result: CliResult, what: string): void {
  expect(result.stderr, what).not.toMatch(STACK_LINE);
  if (result.status === 2) {
    expect(result.stderr, what).toContain('lab-reconciler: --snapshot: ');
    expect(result.stdout, what).toBe('');
    return;
  }
  expect(result.stdout, `${what}: no summary (exit ${result.status}): ${result.stderr.slice(0, 300)}`).not.toBe('');
  expect([0, 1], what).toContain(result.status);
  const summary = JSON.parse(result.stdout) as Summary;
  counter.add('snapshot plan resources checked', assessPlan(document, summary));
  counter.add('snapshot would-clean sessions checked', summary.sessions.filter((s) => s.action === 'would-clean').length);
}

function wouldClean(result: CliResult): string[] {
  const summary = JSON.parse(result.stdout) as Summary;
  return summary.sessions.filter((s) => s.action === 'would-clean').map((s) => `${s.namespace}/${s.labType}/${s.sessionId}`);
}

describe('snapshots that are no List', () => {
  const cases: [string, () => string][] = [
    ['a missing file', () => join(dir, 'missing.json')],
    ['a directory', () => {
      const path = join(dir, `directory-${fileCount++}`);
      mkdirSync(path);
      return path;
    }],
    ['an empty file', () => file('')],
    ['YAML', () => file('kind: List\nitems: []\n')],
    ['truncated JSON', () => file('{"kind": "List", "items": [')],
    ['JSON with a trailing comma', () => file('{"kind": "List", "items": [],}')],
    ['binary bytes', () => file(Uint8Array.from([0xff, 0xfe, 0x00, 0x7b, 0x1b, 0x5b]))],
    ['JSON null', () => file('null')],
    ['a JSON array', () => file('[]')],
    ['a JSON string', () => file('"List"')],
    ['a JSON number', () => file('42')],
    ['a single Service, not a List', () => file(JSON.stringify(object('Service', 'jupyter-service-a')))],
    ['a List without items', () => file('{"kind": "List"}')],
    ['a List whose items is an object', () => file('{"kind": "List", "items": {"0": {}}}')],
    ['a List whose items is a string', () => file('{"kind": "List", "items": "[]"}')],
    ['a List whose items is null', () => file('{"kind": "List", "items": null}')],
    ['an object whose kind is a number', () => file('{"kind": 1, "items": []}')],
  ];
  it.each(cases)('refuses %s with exit 2 naming --snapshot', async (what, path) => {
    // Act
    const result = await plan(path());
    // Assess
    expect(result.status, `${what}: ${result.stderr.slice(0, 200)}`).toBe(2);
    expect(result.stderr).toContain('lab-reconciler: --snapshot: ');
    expect(result.stderr).not.toMatch(STACK_LINE);
    expect(result.stdout).toBe('');
  });
});

describe('Lists with odd items', () => {
  it('passes over items that are not objects, have no metadata, no name or no namespace', async () => {
    // Prepare
    const document = list(
      null, 5, 'jupyter-service-a', [], [object('Service', 'jupyter-service-a')], true,
      { kind: 'Service' },
      { kind: 'Service', metadata: null },
      { kind: 'Service', metadata: 'jupyter-service-a' },
      { kind: 'Service', metadata: { namespace: 'jupyter-lab' } },
      { kind: 'Service', metadata: { name: 'jupyter-service-b' } },
      { kind: 'Service', metadata: { name: 42, namespace: 'jupyter-lab' } },
      { kind: 'Service', metadata: { name: ['jupyter-service-c'], namespace: 'jupyter-lab' } },
      { kind: 'List', items: [object('Service', 'jupyter-service-d')] },
      object('Service', 'jupyter-service-ok'),
    );
    // Act
    const result = await plan(file(JSON.stringify(document)));
    // Assess: only the one well-formed Service is a session.
    assessResult(document, result, 'odd items');
    expect(result.status).toBe(0);
    expect(wouldClean(result)).toEqual(['jupyter-lab/jupyter/ok']);
  });

  it('never acts on Pods, Secrets, Namespaces or other kinds named like lab resources', async () => {
    // Prepare
    const document = list(
      object('Pod', 'jupyter-service-a'), object('Secret', 'jupyter-config-a'), object('Namespace', 'jupyter-ingress-a'),
      object('Endpoints', 'jupyter-service-a'), object('service', 'jupyter-service-a'), object('Services', 'jupyter-service-a'),
      object('ConfigMap', 'jupyter-service-a'), object('Service', 'jupyter-config-a'), object('Ingress', 'jupyter-lab-a'),
    );
    // Act
    const result = await plan(file(JSON.stringify(document)));
    // Assess
    assessResult(document, result, 'other kinds');
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout).sessions).toEqual([]);
  });

  it('never acts on lab-like names in namespaces outside the allowlist', async () => {
    // Prepare
    const outside = ['default', 'kube-system', 'jupyter-lab-x', 'Jupyter-lab', 'jupyter', 'lab'];
    const document = list(...outside.flatMap((ns) => [object('Service', 'jupyter-service-a', ns), object('Ingress', 'jupyter-ingress-a', ns), object('ConfigMap', 'jupyter-config-a', ns)]));
    // Act
    const result = await plan(file(JSON.stringify(document)));
    // Assess
    assessResult(document, result, 'outside the allowlist');
    expect(JSON.parse(result.stdout).sessions).toEqual([]);
  });

  it('ignores names too long for Kubernetes, and plans the rest', async () => {
    // Prepare
    const document = list(object('Service', `jupyter-service-${'a'.repeat(300)}`), object('ConfigMap', `jupyter-config-${'b'.repeat(100_000)}`), object('Service', 'jupyter-service-short'));
    // Act
    const result = await plan(file(JSON.stringify(document)));
    // Assess
    assessResult(document, result, 'huge names');
    expect(wouldClean(result)).toEqual(['jupyter-lab/jupyter/short']);
  });

  it('treats a resource without a readable creation time as too young', async () => {
    // Prepare
    const document = list(
      { ...object('Service', 'jupyter-service-a'), metadata: { name: 'jupyter-service-a', namespace: 'jupyter-lab', uid: 'u1', creationTimestamp: 'yesterday' } },
      { ...object('Service', 'jupyter-service-b'), metadata: { name: 'jupyter-service-b', namespace: 'jupyter-lab', uid: 'u2', creationTimestamp: 1_700_000_000 } },
      { ...object('Service', 'jupyter-service-c'), metadata: { name: 'jupyter-service-c', namespace: 'jupyter-lab', uid: 'u3' } },
    );
    // Act
    const result = await plan(file(JSON.stringify(document)));
    // Assess
    assessResult(document, result, 'timestamps');
    expect(wouldClean(result)).toEqual([]);
  });

  it('reports a session whose objects are duplicated in the dump once, and never cleans a session whose Deployment is duplicated', async () => {
    // Prepare
    const service = object('Service', 'jupyter-service-dup');
    const document = list(
      service, service, object('Ingress', 'jupyter-ingress-dup'),
      object('Deployment', 'jupyter-lab-live'), object('Deployment', 'jupyter-lab-live'), object('Service', 'jupyter-service-live'),
    );
    // Act
    const result = await plan(file(JSON.stringify(document)));
    // Assess
    assessResult(document, result, 'duplicates');
    const summary = JSON.parse(result.stdout) as Summary;
    expect(summary.sessions.map((s) => s.sessionId)).toEqual(['dup']);
    expect(summary.sessions[0]!.resources).toEqual(['Ingress/jupyter-ingress-dup', 'Service/jupyter-service-dup']);
  });

  it('keeps a session when any copy of a repeated object carries the keep annotation, or any copy of a slice a ready endpoint', async () => {
    // Prepare: dumps at odds with themselves (a generated one found the first case)
    const keep = { metadata: { name: 'jupyter-ingress-kept', namespace: 'jupyter-lab', annotations: { 'lab-reconciler/keep': 'true' } } };
    const slice = (endpoints: unknown[]) => ({ kind: 'EndpointSlice', metadata: { name: 'jupyter-service-ready-x', namespace: 'jupyter-lab', labels: { 'kubernetes.io/service-name': 'jupyter-service-ready' } }, endpoints });
    const document = list(
      object('Ingress', 'jupyter-ingress-kept'), { ...object('Ingress', 'jupyter-ingress-kept'), ...keep },
      object('Service', 'jupyter-service-ready'), slice([]), slice([{ conditions: { ready: true } }]),
    );
    // Act
    const result = await plan(file(JSON.stringify(document)));
    // Assess
    assessResult(document, result, 'repeated objects');
    const summary = JSON.parse(result.stdout) as Summary;
    expect(summary.sessions.map((s) => [s.sessionId, s.action, s.reason])).toEqual([['kept', 'spared', 'keep-annotation'], ['ready', 'spared', 'has-endpoints']]);
  });

  it.each(PROTO_WORDS)('passes over an item whose kind is %j, without crashing', async (kind) => {
    // Prepare
    const document = list(object(kind, 'jupyter-service-a'), object('Service', 'jupyter-service-b'));
    // Act
    const result = await plan(file(JSON.stringify(document)));
    // Assess
    assessResult(document, result, `kind ${kind}`);
    expect(wouldClean(result)).toEqual(['jupyter-lab/jupyter/b']);
  });

  it.each(PROTO_WORDS)('reads a namespace named %j as any other name', async (namespace) => {
    // Prepare
    const document = list(object('Service', 'jupyter-service-a', namespace), object('Service', 'jupyter-service-b'));
    // Act
    const result = await plan(file(JSON.stringify(document)));
    // Assess
    assessResult(document, result, `namespace ${namespace}`);
    expect(wouldClean(result)).toEqual(['jupyter-lab/jupyter/b']);
  });

  it.each([
    ['a string', 'ready'],
    ['an object', { 0: { conditions: { ready: true } } }],
    ['a number', 1],
    ['true', true],
  ])('never cleans a Service whose EndpointSlice has endpoints as %s (and does not crash)', async (_what, endpoints) => {
    // Prepare
    const slice = object('EndpointSlice', 'jupyter-service-a-xyz', 'jupyter-lab', { endpoints });
    (slice.metadata as Record<string, unknown>).labels = { 'kubernetes.io/service-name': 'jupyter-service-a' };
    const document = list(object('Service', 'jupyter-service-a'), slice, object('Service', 'jupyter-service-b'));
    // Act
    const result = await plan(file(JSON.stringify(document)));
    // Assess: refused, or `a` spared; `b` may be cleaned.
    assessResult(document, result, `endpoints ${JSON.stringify(endpoints)}`);
    expect(result.stderr).not.toMatch(INTERNAL_ERROR);
  });
});

describe('generated snapshots', () => {
  it(`refuses or plans correctly every generated dump (${DOCUMENT_RUNS} generated documents)`, async () => {
    await fc.assert(
      fc.asyncProperty(documentArb(false), async (document) => {
        counter.add('generated documents');
        const result = await plan(file(JSON.stringify(document)));
        assessResult(document, result, JSON.stringify(document).slice(0, 300));
      }),
      { numRuns: DOCUMENT_RUNS },
    );
  });

  it(`refuses or plans correctly every generated dump with hostile kinds and EndpointSlices (${HOSTILE_RUNS} generated documents)`, async () => {
    await fc.assert(
      fc.asyncProperty(documentArb(true), async (document) => {
        counter.add('generated hostile documents');
        const result = await plan(file(JSON.stringify(document)));
        assessResult(document, result, JSON.stringify(document).slice(0, 300));
        expect(result.stderr).not.toMatch(INTERNAL_ERROR);
      }),
      { numRuns: HOSTILE_RUNS },
    );
  });

  it(`refuses any text that is not a JSON List with exit 2 naming --snapshot (${TEXT_RUNS} generated texts)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1'))), async (text) => {
        counter.add('generated texts');
        const result = await plan(file(text));
        expect(result.status, `${JSON.stringify(text).slice(0, 100)}: ${result.stderr.slice(0, 200)}`).toBe(2);
        expect(result.stderr).toContain('lab-reconciler: --snapshot: ');
      }),
      { numRuns: TEXT_RUNS },
    );
  });
});
