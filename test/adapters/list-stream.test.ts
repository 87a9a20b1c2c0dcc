/**
 * The streaming list decoder: whatever the chunking of the body, it hands over exactly the
 * list's elements (less the skipped fields, which read as null), reads the continue token,
 * and refuses what is not one whole list.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { ElementFields } from '../../src/adapters/list-stream.js';
import { ListDecodeError, ListStreamDecoder } from '../../src/adapters/list-stream.js';

function decode(body: Buffer | string, cuts: number[], fields?: ElementFields) {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const items: unknown[] = [];
  const decoder = new ListStreamDecoder((item) => items.push(item), fields);
  let at = 0;
  for (const cut of [...cuts.map((c) => c % (bytes.length + 1))].sort((a, b) => a - b)) {
    decoder.write(bytes.subarray(at, Math.max(at, cut)));
    at = Math.max(at, cut);
  }
  decoder.write(bytes.subarray(at));
  return { info: decoder.end(), items };
}

/** What the decoder should give for an element: its JSON with the skipped fields nulled. */
function expectedElement(element: Record<string, unknown>, fields: ElementFields): unknown {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(element)) {
    const skipped = fields.keep !== undefined && !fields.keep.has(key) && value !== null && typeof value === 'object';
    out[key] = skipped ? null : value;
  }
  const metadata = out.metadata as Record<string, unknown> | null | undefined;
  if (metadata && typeof metadata === 'object' && !Array.isArray(metadata)) {
    out.metadata = Object.fromEntries(
      Object.entries(metadata).map(([k, v]) => [k, fields.dropFromMetadata?.has(k) && v !== null && typeof v === 'object' ? null : v]),
    );
  }
  return out;
}

// Strings with the characters that matter to a scanner: quotes, backslashes, brackets, non-ASCII.
const trickyString = fc.string({ unit: fc.constantFrom('a', '"', '\\', '{', '}', '[', ']', ',', ':', 'é', '€', '😀', ' ', '\n') });
const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, trickyString, fc.integer(), fc.boolean(), fc.constant(null), tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 3 }),
  object: fc.dictionary(trickyString, tie('value'), { maxKeys: 3 }),
})).value;
const elementArb = fc.record(
  {
    kind: fc.constant('PartialObjectMetadata'),
    metadata: fc.record({ name: trickyString, managedFields: fc.array(jsonValue, { maxLength: 3 }), annotations: fc.dictionary(trickyString, trickyString, { maxKeys: 2 }) }, { requiredKeys: ['name'] }),
    spec: jsonValue,
    endpoints: fc.oneof(fc.constant(null), fc.array(fc.record({ conditions: fc.record({ ready: fc.boolean() }) }), { maxLength: 2 })),
  },
  { requiredKeys: ['metadata'] },
);
const FIELDS: ElementFields = { keep: new Set(['metadata', 'endpoints']), dropFromMetadata: new Set(['managedFields']) };

describe('ListStreamDecoder', () => {
  it('hands over each element as JSON.parse reads it, skipped fields as null, however the body is cut into chunks', () => {
    fc.assert(
      fc.property(
        fc.array(elementArb, { maxLength: 6 }),
        fc.option(trickyString, { nil: undefined }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.boolean(),
        (elements, token, cuts, pretty) => {
          // Prepare: a list as a server writes it, compact or indented
          const list = { kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion: '7', ...(token !== undefined ? { continue: token } : {}) }, items: elements };
          const body = JSON.stringify(list, null, pretty ? 2 : undefined);

          // Act
          const { info, items } = decode(body, cuts, FIELDS);

          // Assess
          expect(items).toEqual(elements.map((e) => expectedElement(e as Record<string, unknown>, FIELDS)));
          expect(info).toEqual({ kind: 'PartialObjectMetadataList', continueToken: token === '' ? undefined : token, items: elements.length });
        },
      ),
      { numRuns: 400 },
    );
  });

  it('keeps every field when no fields are named, whatever the list metadata comes after the items', () => {
    // Prepare: metadata last, as a hand-made or unusual server might write it
    const body = '{"items":[{"metadata":{"name":"a","managedFields":[{"m":"x"}]},"spec":{"r":1}}],"kind":"ServiceList","metadata":{"continue":"next"}}';

    // Act
    const { info, items } = decode(body, [5, 40]);

    // Assess
    expect(items).toEqual([{ metadata: { name: 'a', managedFields: [{ m: 'x' }] }, spec: { r: 1 } }]);
    expect(info).toEqual({ kind: 'ServiceList', continueToken: 'next', items: 1 });
  });

  it.each([
    ['not JSON at all', 'hello'],
    ['an array', '[]'],
    ['a Status', '{"kind":"Status","apiVersion":"v1","status":"Failure","code":500}'],
    ['items null', '{"kind":"List","items":null}'],
    ['items not objects', '{"kind":"List","items":[1,2]}'],
    ['a body cut short', '{"kind":"List","items":[{"metadata":{"name":"a"}},{"metadata":{"name":'],
    ['an element that is not JSON', '{"kind":"List","items":[{"metadata":{"name":}}]}'],
    ['trailing garbage', '{"kind":"List","items":[]} x'],
    ['an extra bracket', '{"kind":"List","items":[]}}'],
    ['an unterminated string', '{"kind":"List","items":[{"metadata":{"name":"a}}]}'],
  ])('refuses %s with a ListDecodeError', (_what, body) => {
    // Act
    const act = () => decode(body, [3, 17], FIELDS);

    // Assess
    expect(act).toThrow(ListDecodeError);
  });

  it('names the kind of a well-formed answer that is not a list', () => {
    expect(() => decode('{"kind":"Status","code":500}', [])).toThrow('the answer is not a list (kind Status)');
  });
});
