/**
 * Bad input, shared: the naming convention recomputed independently of src/core/naming.ts
 * (from the contract's words, without a regular expression for the split), and generators of
 * resource names built to confuse a parser.
 */
import fc from 'fast-check';
import type { ResourceKind } from '../../../src/ports.js';

export const KINDS: readonly ResourceKind[] = ['Deployment', 'Service', 'Ingress', 'ConfigMap'];
export const DELETABLE = ['Service', 'Ingress', 'ConfigMap'] as const;
export type Deletable = (typeof DELETABLE)[number];

/** The word between lab type and session id, per kind, as the contract's table gives it. */
export const ROLE_OF: Readonly<Record<ResourceKind, string>> = { Deployment: 'lab', Service: 'service', Ingress: 'ingress', ConfigMap: 'config' };

const LAB_TYPE_CHAR = /^[a-z0-9]$/;

/**
 * The contract's reading of a name: `labType` is one run of `[a-z0-9]` (so it ends at the
 * first hyphen), then `-{role}-`, then the session id is the rest of the name (non-empty).
 * Undefined when the name does not follow the convention.
 */
export function contractParse(kind: ResourceKind, name: string): { labType: string; sessionId: string } | undefined {
  const hyphen = name.indexOf('-');
  if (hyphen <= 0) return undefined;
  const labType = name.slice(0, hyphen);
  if (![...labType].every((c) => LAB_TYPE_CHAR.test(c))) return undefined;
  const marker = `-${ROLE_OF[kind]}-`;
  if (!name.startsWith(marker, hyphen)) return undefined;
  const sessionId = name.slice(hyphen + marker.length);
  if (sessionId === '') return undefined;
  return { labType, sessionId };
}

/**
 * A session id any cluster would hold and the product must therefore recognise: a DNS-1123
 * label fragment without dots (lowercase alphanumerics and inner hyphens).
 */
export function isPlainSessionId(id: string): boolean {
  return /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(id);
}

/** Lab types: real ones, near misses, hyphenated, uppercase, unicode, empty, and random. */
export const labTypeArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('jupyter', 'ubuntu', 'vscode', 'postgresql', 'pg16', 'a') },
  { weight: 2, arbitrary: fc.constantFrom('', 'my-lab', 'postgres-sql', 'Jupyter', 'JUPYTER', 'jupyter.x', 'jüpyter', 'ｊupyter', 'jupyter ', ' jupyter', 'jupyter_x', '-', 'lab', 'service') },
  { weight: 1, arbitrary: fc.stringMatching(/^[a-z0-9-]{0,12}$/) },
);

/** Role words: the four real ones, and near misses. */
export const roleArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('lab', 'service', 'ingress', 'config') },
  { weight: 1, arbitrary: fc.constantFrom('svc', 'Service', 'SERVICE', 'configmap', 'ing', '', 'lab-service', 'service-lab', 'labs') },
);

/** Session ids: plain, repeated role words, dots, edges, uppercase, unicode, very long. */
export const sessionIdArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?$/) },
  { weight: 3, arbitrary: fc.constantFrom('abc123', 'x', 'a-service-b', 'a-lab-b', 'lab-x', 'service-x', 'config-ingress-lab', 'x.y', '1.2.3') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '', '-', '.', '-x', 'x-', '.x', 'x.', '--', 'a--b', 'ABC', 'aBc', 'ü', 'x\u0301', '😀', 'a_b', 'a b', 'a\nb', 'x\n', '\n', '\u0000',
      'a'.repeat(63), 'a'.repeat(64), 'a'.repeat(237), 'a'.repeat(238), 'a'.repeat(245), 'a'.repeat(300), 'a'.repeat(5000),
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom('a', 'z', '0', '-', '.', '_', 'A', 'ü', '/', ' '), maxLength: 30 }) },
);

/** A whole name: the convention's shape from confusing parts, fixed confusers, or anything. */
export const nameArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(labTypeArb, roleArb, sessionIdArb).map(([t, r, s]) => `${t}-${r}-${s}`) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'jupyter-service-', '-service-x', 'jupyter-service-a-service-b', 'jupyter-lab-', 'jupyter-lab-a-lab-b', 'jupyter-service',
      'jupyter--service-x', 'jupyter-service--x', 'JUPYTER-SERVICE-X', 'jupyter-service-X', 'my-lab-service-x', 'x/jupyter-service-a',
      'jupyter-service-a.', 'jupyter-service-.a', 'jupyter-config-kube-root-ca.crt', 'kube-root-ca.crt', 'jupyter-ingress-a\n',
      `jupyter-service-${'b'.repeat(238)}`, `jupyter-service-${'b'.repeat(300)}`,
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
);

/** A small counter of generated inputs, printed so that a run's figures can be reported. */
export class InputCounter {
  private readonly counts = new Map<string, number>();
  add(what: string, n = 1): void {
    this.counts.set(what, (this.counts.get(what) ?? 0) + n);
  }
  get(what: string): number {
    return this.counts.get(what) ?? 0;
  }
  report(file: string): void {
    const parts = [...this.counts].map(([what, n]) => `${what}: ${n}`);
    console.log(`[bad-input] ${file}: generated inputs ${parts.join('; ')}`);
  }
}
