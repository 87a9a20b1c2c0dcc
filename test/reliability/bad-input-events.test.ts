/**
 * Bad input: ad hoc events of the Lambda. Each ends in an EventError whose message names the
 * field, or in the RunRequest the contract describes; never another kind of error, never a
 * polluted Object.prototype, and (through the in-process handler) never a request to the
 * cluster when the event is rejected.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Summary } from '../../src/core/report.js';
import type { RunRequest } from '../../src/event.js';
import { EventError, parseEvent } from '../../src/event.js';
import type { KubeApiServer } from '../support/kube-api-server.js';
import { startKubeApiServer } from '../support/kube-api-server.js';
import { names, seedSession, tempFile } from '../support/lab.js';
import { InputCounter } from './support/input-names.js';
import type { Expected } from './support/input-events.js';
import { ALLOWLIST, expectedAdHoc, expectedOutcome, nonObjectEventTextArb, objectEventTextArb, prototypeFingerprint, scheduledLookingEventTextArb } from './support/input-events.js';

const OBJECT_RUNS = 3000;
const NON_OBJECT_RUNS = 300;
const SCHEDULED_RUNS = 300;
const LENGTH_RUNS = 1000;
const MAX_MESSAGE = 1_000;
const counter = new InputCounter();
const cleanPrototype = prototypeFingerprint();
afterAll(() => counter.report('bad-input-events'));

/** Runs parseEvent and tells what came out, failing on anything but a request or an EventError. */
function outcome(event: unknown): { ok: RunRequest } | { error: EventError } {
  try {
    return { ok: parseEvent(event, ALLOWLIST) };
  } catch (error) {
    if (error instanceof EventError) return { error };
    throw new Error(`parseEvent threw ${(error as Error)?.name}, not an EventError: ${String(error)}`);
  }
}

/** The message names a field when it contains the field's name (or, for a long name, its start). */
function namesOneOf(message: string, fields: readonly string[]): boolean {
  return fields.some((f) => (f === 'event' ? /event/i.test(message) : message.includes(f.slice(0, 20)) || message.includes(JSON.stringify(f).slice(0, 20))));
}

function assessAgainst(expected: Expected, actual: ReturnType<typeof outcome>, text: string): void {
  if ('ok' in expected) {
    expect(actual, text.slice(0, 300)).toEqual({ ok: expected.ok });
  } else {
    expect('error' in actual, `${text.slice(0, 300)} should be rejected naming ${expected.error.join(', ').slice(0, 100)}`).toBe(true);
    const message = (actual as { error: EventError }).error.message;
    expect(namesOneOf(message, expected.error), `${message.slice(0, 300)} should name one of ${expected.error.join(', ').slice(0, 200)}`).toBe(true);
  }
}

function assessEvent(text: string): void {
  const event = JSON.parse(text) as unknown;
  const expected = expectedOutcome(event, ALLOWLIST);
  const actual = outcome(event);
  if (expected === 'scheduled-with-request') {
    // Rejected, or the request honoured as if the event were ad hoc: never silently dropped.
    const adHoc = expectedAdHoc(event as Record<string, unknown>, ALLOWLIST, ['source', 'detail-type', 'id', 'version', 'account', 'time', 'region', 'resources', 'detail']);
    if ('error' in actual) return;
    expect('ok' in adHoc, `${text.slice(0, 300)}: a bad request field was ignored`).toBe(true);
    expect(actual.ok, `${text.slice(0, 300)}: the request fields were ignored`).toEqual((adHoc as { ok: RunRequest }).ok);
    return;
  }
  assessAgainst(expected, actual, text);
  expect(prototypeFingerprint()).toBe(cleanPrototype);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(({} as Record<string, unknown>).dryRun).toBeUndefined();
}

describe('parseEvent over generated events', () => {
  it(`rejects or reads every generated object event as the contract says (${OBJECT_RUNS} generated objects)`, () => {
    fc.assert(
      fc.property(objectEventTextArb, (text) => {
        counter.add('object events');
        assessEvent(text);
      }),
      { numRuns: OBJECT_RUNS },
    );
    expect(counter.get('object events')).toBe(OBJECT_RUNS);
  });

  it(`keeps every rejection message short enough for a log line (${LENGTH_RUNS} generated objects)`, () => {
    fc.assert(
      fc.property(objectEventTextArb, (text) => {
        counter.add('objects for message length');
        const actual = outcome(JSON.parse(text));
        if ('error' in actual) expect(actual.error.message.length, `message of ${actual.error.message.length} characters for ${text.slice(0, 100)}`).toBeLessThanOrEqual(MAX_MESSAGE);
      }),
      { numRuns: LENGTH_RUNS },
    );
  });

  it(`never drops the request fields of a scheduled-looking event: rejects it or honours them (${SCHEDULED_RUNS} generated events)`, () => {
    fc.assert(
      fc.property(scheduledLookingEventTextArb, (text) => {
        counter.add('scheduled-looking events');
        assessEvent(text);
      }),
      { numRuns: SCHEDULED_RUNS },
    );
  });

  it(`rejects every event that is not a JSON object (${NON_OBJECT_RUNS} generated strings, numbers, arrays, null, booleans)`, () => {
    fc.assert(
      fc.property(nonObjectEventTextArb, (text) => {
        counter.add('non-object events');
        assessEvent(text);
      }),
      { numRuns: NON_OBJECT_RUNS },
    );
  });
});

describe('parseEvent, case by case', () => {
  const rejected: [string, string, string][] = [
    ['dryRun as a string', '{"dryRun": "true"}', 'dryRun'],
    ['dryRun as a number', '{"dryRun": 1}', 'dryRun'],
    ['dryRun as null', '{"dryRun": null}', 'dryRun'],
    ['dryRun as an object', '{"dryRun": {"value": true}}', 'dryRun'],
    ['maxDeletions as a string', '{"maxDeletions": "10"}', 'maxDeletions'],
    ['maxDeletions zero', '{"maxDeletions": 0}', 'maxDeletions'],
    ['maxDeletions negative', '{"maxDeletions": -5}', 'maxDeletions'],
    ['maxDeletions fractional', '{"maxDeletions": 2.5}', 'maxDeletions'],
    ['maxDeletions too large', '{"maxDeletions": 100001}', 'maxDeletions'],
    ['maxDeletions overflowing to Infinity', '{"maxDeletions": 1e400}', 'maxDeletions'],
    ['maxDeletions as an array', '{"maxDeletions": [10]}', 'maxDeletions'],
    ['namespaces as a string', '{"namespaces": "jupyter-lab"}', 'namespaces'],
    ['namespaces empty', '{"namespaces": []}', 'namespaces'],
    ['namespaces outside the allowlist', '{"namespaces": ["jupyter-lab", "kube-system"]}', 'namespaces'],
    ['namespaces with the wrong case', '{"namespaces": ["Jupyter-Lab"]}', 'namespaces'],
    ['namespaces with spaces', '{"namespaces": [" jupyter-lab"]}', 'namespaces'],
    ['namespaces comma-joined', '{"namespaces": ["jupyter-lab,ubuntu-lab"]}', 'namespaces'],
    ['namespaces with a number', '{"namespaces": [1]}', 'namespaces'],
    ['namespaces with null', '{"namespaces": [null]}', 'namespaces'],
    ['namespaces nested', '{"namespaces": [["jupyter-lab"]]}', 'namespaces'],
    ['namespaces as an array-like object', '{"namespaces": {"0": "jupyter-lab", "length": 1}}', 'namespaces'],
    ['namespaces named __proto__', '{"namespaces": ["__proto__"]}', 'namespaces'],
    ['an unknown field', '{"force": true}', 'force'],
    ['a field in the wrong case', '{"DryRun": true}', 'DryRun'],
    ['__proto__ as an own field', '{"__proto__": {"dryRun": true, "polluted": 1}}', '__proto__'],
    ['__proto__ next to a valid field', '{"dryRun": true, "__proto__": {"maxDeletions": 1}}', '__proto__'],
    ['constructor.prototype', '{"constructor": {"prototype": {"polluted": 1}}}', 'constructor'],
    ['prototype', '{"prototype": {"polluted": 1}}', 'prototype'],
    ['toString', '{"toString": "x"}', 'toString'],
    ['an empty field name', '{"": 1}', '""'],
  ];
  it.each(rejected)('rejects %s with an EventError naming it', (_name, text, field) => {
    // Act
    const actual = outcome(JSON.parse(text));
    // Assess
    expect('error' in actual).toBe(true);
    expect((actual as { error: EventError }).error.message).toContain(field);
    expect(prototypeFingerprint()).toBe(cleanPrototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('rejects a huge namespaces array quickly, naming the field', () => {
    // Prepare: a million entries, all valid names.
    const event = { namespaces: Array.from({ length: 1_000_000 }, () => 'jupyter-lab') };
    // Act
    const started = performance.now();
    const actual = outcome(event);
    // Assess
    expect(performance.now() - started).toBeLessThan(1_000);
    expect('error' in actual && actual.error.message).toMatch(/namespaces/);
  });

  it('reads duplicated namespaces once, in order', () => {
    const actual = outcome(JSON.parse('{"namespaces": ["ubuntu-lab", "jupyter-lab", "ubuntu-lab", "jupyter-lab"], "dryRun": false, "maxDeletions": 100000}'));
    expect(actual).toEqual({ ok: { namespaces: ['ubuntu-lab', 'jupyter-lab'], dryRun: false, maxDeletions: 100_000 } });
  });

  it('keeps the error message short when the unknown field name is very long', () => {
    // Prepare: a 200 000-character field name.
    const key = 'k'.repeat(200_000);
    // Act
    const actual = outcome(JSON.parse(`{"${key}": 1}`));
    // Assess: the field is named (its start), and the message stays readable in a log line.
    expect('error' in actual).toBe(true);
    const message = (actual as { error: EventError }).error.message;
    expect(message).toContain('kkkkkkkkkk');
    expect(message.length).toBeLessThanOrEqual(MAX_MESSAGE);
  });

  it('reads a genuine EventBridge scheduled event as an empty request', () => {
    const scheduled = {
      version: '0',
      id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: '123456789012',
      time: '2026-11-26T12:00:00Z',
      region: 'eu-west-1',
      resources: ['arn:aws:events:eu-west-1:123456789012:rule/lab-reconciler-prod'],
      detail: {},
    };
    expect(outcome(scheduled)).toEqual({ ok: {} });
  });

  it.each([
    ['dryRun: true', { dryRun: true }],
    ['namespaces outside the allowlist', { namespaces: ['kube-system'] }],
    ['maxDeletions: 1', { maxDeletions: 1 }],
  ])('never drops the request of a scheduled-looking event carrying %s (rejects it, or honours it)', (_name, request) => {
    // Prepare: an ad hoc payload that copies the markers of EventBridge's scheduled event.
    const event = { source: 'aws.events', 'detail-type': 'Scheduled Event', ...request };
    // Act
    const actual = outcome(event);
    // Assess
    const expected = expectedAdHoc(event, ALLOWLIST, ['source', 'detail-type']);
    if ('ok' in actual) expect(actual.ok, 'the request fields were silently ignored').toEqual('ok' in expected ? expected.ok : 'an EventError');
  });
});

describe('the handler, in-process, with a bad event', () => {
  let server: KubeApiServer;
  let handler: (event: unknown) => Promise<Summary>;
  const saved = { ...process.env };

  beforeAll(async () => {
    server = await startKubeApiServer();
    const kubeconfig = tempFile('kubeconfig', server.kubeconfig({ context: 'events' }));
    Object.assign(process.env, {
      K8S_MODE: 'kubeconfig',
      KUBECONFIG: kubeconfig,
      RECONCILIATION_NAMESPACES: ALLOWLIST.join(','),
      RECONCILIATION_CONFIRM_SECONDS: '0',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
    });
    for (const name of ['UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN', 'UPSTASH_REDIS_REST_TOKEN_PARAMETER', 'RECONCILIATION_DRY_RUN']) delete process.env[name];
    ({ handler } = await import('../../src/handler.js'));
  });
  afterAll(async () => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
    await server.close();
  });
  beforeEach(() => {
    server.clear();
    server.clearRequests();
    seedSession(server, 'jupyter-lab', 'jupyter', 'live', { deployment: true });
    seedSession(server, 'jupyter-lab', 'jupyter', 'dead');
  });

  it.each([
    ['an unknown field', '{"force": true}'],
    ['a prototype key', '{"__proto__": {"dryRun": false, "namespaces": ["kube-system"]}}'],
    ['constructor.prototype', '{"constructor": {"prototype": {"dryRun": false}}}'],
    ['a namespace outside the allowlist', '{"namespaces": ["kube-system"]}'],
    ['a huge namespaces array', JSON.stringify({ namespaces: Array.from({ length: 10_000 }, () => 'jupyter-lab') })],
    ['dryRun as a string', '{"dryRun": "true"}'],
    ['maxDeletions out of range', '{"maxDeletions": 0}'],
    ['a string', '"run"'],
    ['an array', '[{"dryRun": true}]'],
    ['a number', '42'],
    ['a boolean', 'true'],
  ])('rejects %s with an EventError before any request', async (_name, text) => {
    // Act
    const event = JSON.parse(text) as unknown;
    const failure = await handler(event).then(
      (summary) => ({ summary }),
      (error: unknown) => ({ error }),
    );
    // Assess
    expect('error' in failure && failure.error).toBeInstanceOf(EventError);
    expect(server.requests).toHaveLength(0);
    expect(prototypeFingerprint()).toBe(cleanPrototype);
    expect(({} as Record<string, unknown>).dryRun).toBeUndefined();
  });

  it('runs a valid narrowing event as asked (dry run, one namespace, duplicates read once)', async () => {
    // Act
    const summary = await handler(JSON.parse('{"dryRun": true, "namespaces": ["jupyter-lab", "jupyter-lab"], "maxDeletions": 5}'));
    // Assess
    expect(summary).toMatchObject({ status: 'ok', dryRun: true });
    expect(summary.namespaces.map((n) => n.namespace)).toEqual(['jupyter-lab']);
    expect(summary.sessions.map((s) => [s.sessionId, s.action])).toEqual([['dead', 'would-clean']]);
    expect(server.requests.filter((r) => r.verb === 'delete').every((r) => r.query.dryRun === 'All')).toBe(true);
    expect(names(server, 'Service', 'jupyter-lab')).toEqual(['jupyter-service-dead', 'jupyter-service-live']);
  });

  it('does not delete anything when a scheduled-looking event asks for a dry run', async () => {
    // Act: an operator copies a scheduled event from the logs and adds dryRun: true.
    const result = await handler({ source: 'aws.events', 'detail-type': 'Scheduled Event', dryRun: true }).then(
      (summary) => ({ summary }),
      (error: unknown) => ({ error }),
    );
    // Assess: rejected, or a dry run; in neither case is a resource deleted.
    expect(names(server, 'Service', 'jupyter-lab'), 'a dry run was asked for, yet the orphan was deleted').toEqual(['jupyter-service-dead', 'jupyter-service-live']);
    if ('summary' in result) expect(result.summary.dryRun, 'the summary of a run asked to be dry').toBe(true);
    else expect(result.error).toBeInstanceOf(EventError);
  });
});
