/**
 * Bad input, ad hoc events: generators of Lambda payloads (as JSON text, parsed with
 * JSON.parse so that `__proto__` and friends are own properties, as in the Lambda runtime),
 * and the contract's expected outcome for each, computed without the product's code.
 */
import fc from 'fast-check';
import type { RunRequest } from '../../../src/event.js';

export const ALLOWLIST = ['jupyter-lab', 'ubuntu-lab', 'vscode-lab', 'postgresql-lab'] as const;
const FIELDS = ['dryRun', 'namespaces', 'maxDeletions'] as const;
const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__', 'isPrototypeOf'];

/** What the contract says about one event: a request, or an error that names one of `fields`. */
export type Expected = { ok: RunRequest } | { error: string[] };

const own = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

function isScheduled(o: Record<string, unknown>): boolean {
  return own(o, 'source') && o.source === 'aws.events' && own(o, 'detail-type') && o['detail-type'] === 'Scheduled Event';
}

/** The contract's reading of an ad hoc event (every field optional, nothing else allowed). */
export function expectedAdHoc(o: Record<string, unknown>, allowlist: readonly string[], ignore: readonly string[] = []): Expected {
  const bad: string[] = [];
  const ok: RunRequest = {};
  for (const key of Object.keys(o)) if (!(FIELDS as readonly string[]).includes(key) && !ignore.includes(key)) bad.push(key);
  if (own(o, 'dryRun')) {
    if (typeof o.dryRun === 'boolean') ok.dryRun = o.dryRun;
    else bad.push('dryRun');
  }
  if (own(o, 'maxDeletions')) {
    const v = o.maxDeletions;
    if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 100_000) ok.maxDeletions = v;
    else bad.push('maxDeletions');
  }
  if (own(o, 'namespaces')) {
    const v = o.namespaces;
    if (Array.isArray(v) && v.length >= 1 && v.length <= 100 && v.every((n) => typeof n === 'string' && allowlist.includes(n))) {
      ok.namespaces = [...new Set(v as string[])];
    } else bad.push('namespaces');
  }
  return bad.length > 0 ? { error: bad } : { ok };
}

/** The expected outcome of any event. */
export function expectedOutcome(event: unknown, allowlist: readonly string[]): Expected | 'scheduled-with-request' {
  if (event === null || event === undefined) return { ok: {} };
  if (typeof event !== 'object' || Array.isArray(event)) return { error: ['event'] };
  const o = event as Record<string, unknown>;
  if (isScheduled(o)) {
    // A real EventBridge event never carries the request fields; one that does is judged apart.
    return FIELDS.some((f) => own(o, f)) ? 'scheduled-with-request' : { ok: {} };
  }
  return expectedAdHoc(o, allowlist);
}

const longString = fc.constantFrom('x'.repeat(1_000), 'jupyter-lab'.repeat(5_000), `${'a'.repeat(200_000)}`);

/** Namespace arrays: subsets of the allowlist, duplicates, outsiders, wrong element types, huge. */
export const namespacesValueArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.constantFrom(...ALLOWLIST), { minLength: 0, maxLength: 6 }) },
  {
    weight: 3,
    arbitrary: fc.array(
      fc.oneof(
        fc.constantFrom(...ALLOWLIST),
        fc.constantFrom('kube-system', 'default', 'Jupyter-lab', ' jupyter-lab', 'jupyter-lab ', 'jupyter-lab,ubuntu-lab', '', '*', '__proto__', 'constructor'),
        fc.jsonValue({ maxDepth: 1 }),
      ),
      { maxLength: 6 },
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom(99, 100, 101, 1_000, 100_000).map((n) => Array.from({ length: n }, (_, i) => ALLOWLIST[i % ALLOWLIST.length])) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);

/** Values for any field: the right types in and out of range, wrong types, nested objects, long strings. */
export const fieldValueArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.boolean(),
  fc.constantFrom(0, 1, 2, 10, 50, 99_999, 100_000, 100_001, -1, -0, 1.5, 1e21, 1e308, Number.MAX_SAFE_INTEGER + 2),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom('true', 'false', '10', '', 'null', 'jupyter-lab'),
  fc.constant(null),
  fc.jsonValue({ maxDepth: 3 }),
  longString,
  namespacesValueArb,
  fc.constantFrom('{"__proto__":{"dryRun":true,"polluted":true}}', '{"prototype":{"polluted":true}}', '{"constructor":{"prototype":{"polluted":true}}}').map((text) => JSON.parse(text) as unknown),
);

/** Keys: the three fields (often), prototype keys, near misses, the scheduled event's markers, random. */
export const keyArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...FIELDS) },
  { weight: 2, arbitrary: fc.constantFrom(...PROTO_KEYS) },
  { weight: 2, arbitrary: fc.constantFrom('force', 'DryRun', 'dryrun', ' dryRun', 'dryRun ', 'namespace', 'max_deletions', 'source', 'detail-type', 'detail', '', 'x'.repeat(5_000)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);

function objectText(entries: readonly (readonly [string, unknown])[]): string {
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
}

/** JSON text of one ad hoc object (never both markers of a scheduled event); keys may repeat, the last wins. */
export const objectEventTextArb: fc.Arbitrary<string> = fc.array(fc.tuple(keyArb, fieldValueArb), { maxLength: 5 }).map(objectText);

/** JSON text of an object with both markers of EventBridge's scheduled event and at least one request field. */
export const scheduledLookingEventTextArb: fc.Arbitrary<string> = fc
  .tuple(
    fc.tuple(fc.constantFrom(...FIELDS), fc.oneof(fieldValueArb, fc.boolean(), fc.integer({ min: 1, max: 100_000 }), namespacesValueArb)),
    fc.array(fc.tuple(keyArb, fieldValueArb), { maxLength: 3 }),
  )
  .map(([field, others]) => objectText([['source', 'aws.events'], ['detail-type', 'Scheduled Event'], field, ...others]));

/** Any JSON text that is not an object: strings, numbers, arrays, null, booleans. */
export const nonObjectEventTextArb: fc.Arbitrary<string> = fc
  .oneof(fc.string(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }), longString)
  .map((v) => JSON.stringify(v));

/** Every own property name of Object.prototype, to prove that nothing was added to it. */
export function prototypeFingerprint(): string {
  return JSON.stringify([Object.getOwnPropertyNames(Object.prototype).sort(), Object.getOwnPropertySymbols(Object.prototype).length, Object.getOwnPropertyNames(Array.prototype).sort()]);
}
