import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { ResourceKind } from '../../src/ports.js';
import { nameFor, parseName, sessionKeyOf } from '../../src/core/naming.js';

const KINDS: readonly ResourceKind[] = ['Deployment', 'Service', 'Ingress', 'ConfigMap'];

describe('parseName', () => {
  it.each([
    ['Deployment', 'jupyter-lab-abc123'],
    ['Service', 'jupyter-service-abc123'],
    ['Ingress', 'jupyter-ingress-abc123'],
    ['ConfigMap', 'jupyter-config-abc123'],
  ] as const)('reads lab type and session id from a %s named %s', (kind, name) => {
    // Prepare: a name of the lab-controller's convention
    // Act
    const parsed = parseName(kind, name);
    // Assess
    expect(parsed).toEqual({ labType: 'jupyter', sessionId: 'abc123' });
  });

  it('takes the whole rest of the name as the session id, even when it repeats the role word', () => {
    // Prepare / Act
    const parsed = parseName('Service', 'jupyter-service-a-service-b');
    // Assess
    expect(parsed).toEqual({ labType: 'jupyter', sessionId: 'a-service-b' });
  });

  it('accepts a session id with hyphens, dots and digits', () => {
    expect(parseName('ConfigMap', 'vscode-config-7f3e-42.x-9')).toEqual({ labType: 'vscode', sessionId: '7f3e-42.x-9' });
  });

  it.each([
    ['an empty session id', 'jupyter-service-'],
    ['an empty lab type', '-service-x'],
    ['a session id starting with a hyphen', 'jupyter-service--x'],
    ['a session id ending with a hyphen', 'jupyter-service-x-'],
    ['a session id ending with a dot', 'jupyter-service-x.'],
    ['uppercase in the session id', 'jupyter-service-ABC'],
    ['uppercase in the lab type', 'Jupyter-service-abc'],
    ['an underscore', 'jupyter-service-a_b'],
    ['the role word alone', 'jupyter-service'],
    ['another role word', 'jupyter-svc-abc'],
    ['a hyphenated lab type', 'my-lab-service-abc'],
    ['another kind of name', 'jupyter-ingress-abc'],
    ['a Deployment name', 'jupyter-lab-abc'],
    ['a prefix before the lab type', 'x/jupyter-service-abc'],
    ['white space', 'jupyter-service-abc '],
  ])('refuses a Service name with %s (%s)', (_why, name) => {
    expect(parseName('Service', name)).toBeUndefined();
  });

  it('does not read a hyphenated lab type as a shorter lab type with a longer session id', () => {
    // Prepare: `postgres-sql` is not one run of [a-z0-9]; the name must not become
    // lab type `postgres` with session id `sql-...`, nor anything else.
    const names: [ResourceKind, string][] = [
      ['Deployment', 'postgres-sql-lab-abc'],
      ['Service', 'postgres-sql-service-abc'],
      ['Ingress', 'postgres-sql-ingress-abc'],
      ['ConfigMap', 'postgres-sql-config-abc'],
    ];
    // Act
    const parsed = names.map(([kind, name]) => parseName(kind, name));
    // Assess
    expect(parsed).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('reads a Deployment whose session id contains `lab` with the first `-lab-` as the separator', () => {
    expect(parseName('Deployment', 'jupyter-lab-lab-x')).toEqual({ labType: 'jupyter', sessionId: 'lab-x' });
  });

  it('accepts a name of exactly 253 characters and refuses one of 254', () => {
    // Prepare
    const prefix = 'jupyter-service-';
    const atLimit = prefix + 'a'.repeat(253 - prefix.length);
    const overLimit = prefix + 'a'.repeat(254 - prefix.length);
    // Act / Assess
    expect(atLimit).toHaveLength(253);
    expect(parseName('Service', atLimit)?.sessionId).toHaveLength(253 - prefix.length);
    expect(parseName('Service', overLimit)).toBeUndefined();
  });

  it('answers within a millisecond budget for a long name that almost matches (no catastrophic backtracking)', () => {
    // Prepare: a 253-character name full of hyphens and dots, ending in a character that fails
    const name = 'jupyter-service-' + 'a-.'.repeat(78) + '_';
    // Act
    const started = performance.now();
    const parsed = parseName('Service', name);
    const elapsed = performance.now() - started;
    // Assess
    expect(parsed).toBeUndefined();
    expect(elapsed).toBeLessThan(50);
  });
});

describe('nameFor', () => {
  it('names each kind by the convention', () => {
    // Prepare
    const session = { labType: 'ubuntu', sessionId: 's-1' };
    // Act
    const names = KINDS.map((kind) => nameFor(kind, session));
    // Assess
    expect(names).toEqual(['ubuntu-lab-s-1', 'ubuntu-service-s-1', 'ubuntu-ingress-s-1', 'ubuntu-config-s-1']);
  });

  const labType = fc.stringMatching(/^[a-z0-9]{1,12}$/);
  const sessionId = fc.stringMatching(/^[a-z0-9]([a-z0-9.-]{0,40}[a-z0-9])?$/);
  const kind = fc.constantFrom(...KINDS);

  it('round-trips through parseName for every valid lab type and session id', () => {
    fc.assert(
      fc.property(kind, labType, sessionId, (k, type, id) => {
        // Prepare / Act
        const parsed = parseName(k, nameFor(k, { labType: type, sessionId: id }));
        // Assess
        expect(parsed).toEqual({ labType: type, sessionId: id });
      }),
      { numRuns: 500 },
    );
  });

  it('gives back the very name parseName read, for any string that parses', () => {
    // Prepare: arbitrary strings over the characters that matter, most of which do not parse
    const name = fc.stringMatching(/^[a-zA-Z0-9._-]{0,10}-(lab|service|ingress|config)-[a-zA-Z0-9._-]{0,12}$/);
    fc.assert(
      fc.property(kind, name, (k, n) => {
        // Act
        const parsed = parseName(k, n);
        // Assess: whatever parses names exactly that resource again
        if (parsed) expect(nameFor(k, parsed)).toBe(n);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('sessionKeyOf', () => {
  it('keeps sessions apart that differ only in where the hyphen splits lab type and id', () => {
    // Prepare: lab types have no hyphen, but the grouping key must not rely on it
    const a = sessionKeyOf({ labType: 'ab', sessionId: 'c' });
    const b = sessionKeyOf({ labType: 'a', sessionId: 'bc' });
    const c = sessionKeyOf({ labType: 'jupyter', sessionId: 'x' });
    const d = sessionKeyOf({ labType: 'ubuntu', sessionId: 'x' });
    // Assess
    expect(a).not.toBe(b);
    expect(c).not.toBe(d);
    expect(sessionKeyOf({ labType: 'jupyter', sessionId: 'x' })).toBe(c);
  });
});
