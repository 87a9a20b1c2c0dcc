/**
 * Bad input, kubeconfigs: a valid kubeconfig for the local API server as a plain object (JSON
 * is YAML), and mutations each of which breaks it.
 */
import fc from 'fast-check';

export interface KubeconfigDoc {
  [key: string]: unknown;
}

/** A kubeconfig with one context `lab`, cluster `lab-cluster`, user `lab-user`. */
export function validKubeconfig(server: string, caData: string, token: string): KubeconfigDoc {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'lab-cluster', cluster: { server, 'certificate-authority-data': caData } }],
    users: [{ name: 'lab-user', user: { token } }],
    contexts: [{ name: 'lab', context: { cluster: 'lab-cluster', user: 'lab-user' } }],
    'current-context': 'lab',
  };
}

export interface Mutation {
  name: string;
  apply(doc: KubeconfigDoc): void;
}

/** The first entry's inner map (`cluster`, `context`), or a throwaway map when an earlier mutation removed it. */
function firstInner(list: unknown, key: string): Record<string, unknown> {
  const first = Array.isArray(list) ? (list[0] as Record<string, unknown> | null | undefined) : undefined;
  const inner = first && typeof first === 'object' ? first[key] : undefined;
  return inner && typeof inner === 'object' ? (inner as Record<string, unknown>) : {};
}
const clusterOf = (doc: KubeconfigDoc) => firstInner(doc.clusters, 'cluster');
const contextOf = (doc: KubeconfigDoc) => firstInner(doc.contexts, 'context');

/** Values of `server` that are no URL at all. */
export const NOT_URLS = ['', 'not a url', '127.0.0.1:6443', '://127.0.0.1', 'https//127.0.0.1', '[::1', 'http://[::1'];

/** Mutations that each make the kubeconfig unusable (none reaches the server's URL). */
export const BREAKING: readonly Mutation[] = [
  { name: 'no clusters', apply: (d) => delete d.clusters },
  { name: 'no users', apply: (d) => delete d.users },
  { name: 'no contexts', apply: (d) => delete d.contexts },
  { name: 'no current-context', apply: (d) => delete d['current-context'] },
  { name: 'current-context naming nothing', apply: (d) => (d['current-context'] = 'nope') },
  { name: 'current-context as a number', apply: (d) => (d['current-context'] = 42) },
  { name: 'current-context as a list', apply: (d) => (d['current-context'] = ['lab']) },
  { name: 'context naming a missing cluster', apply: (d) => (contextOf(d).cluster = 'missing-cluster') },
  { name: 'context naming a missing user', apply: (d) => (contextOf(d).user = 'missing-user') },
  { name: 'context without a cluster', apply: (d) => delete contextOf(d).cluster },
  { name: 'context as null', apply: (d) => (d.contexts = [{ name: 'lab', context: null }]) },
  { name: 'clusters as a string', apply: (d) => (d.clusters = 'lab-cluster') },
  { name: 'clusters as a map', apply: (d) => (d.clusters = { 'lab-cluster': { server: 'https://127.0.0.1' } }) },
  { name: 'clusters with null', apply: (d) => (d.clusters = [null]) },
  { name: 'users as a number', apply: (d) => (d.users = 7) },
  { name: 'contexts without names', apply: (d) => (d.contexts = [{ context: { cluster: 'lab-cluster', user: 'lab-user' } }]) },
  { name: 'a cluster without a server', apply: (d) => delete clusterOf(d).server },
  ...NOT_URLS.map((server) => ({ name: `server ${JSON.stringify(server)}`, apply: (d: KubeconfigDoc) => (clusterOf(d).server = server) })),
  { name: 'server as a number', apply: (d) => (clusterOf(d).server = 6443) },
  { name: 'server as a map', apply: (d) => (clusterOf(d).server = { host: '127.0.0.1' }) },
];

/** One to three breaking mutations, applied in order. */
export const mutationsArb: fc.Arbitrary<Mutation[]> = fc.array(fc.constantFrom(...BREAKING), { minLength: 1, maxLength: 3 });

/** Internal JavaScript errors that must never reach an operator as the explanation. */
export const INTERNAL_ERROR = /Cannot read propert|is not a function|is not iterable|undefined \(reading|null \(reading|Unexpected token/;
/** A stack trace line. */
export const STACK_LINE = /^\s+at .+(:\d+:\d+|\(native\))/m;
/** Control characters (other than tab and newline) that a terminal may interpret. */
// eslint-disable-next-line no-control-regex
export const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f\u009b]/;
