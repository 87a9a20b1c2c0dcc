/**
 * The naming convention of the lab-controller, and the only place that knows it:
 *
 *   Deployment `{labType}-lab-{sessionId}`, Service `{labType}-service-{sessionId}`,
 *   Ingress `{labType}-ingress-{sessionId}`, ConfigMap `{labType}-config-{sessionId}`.
 *
 * `labType` is one run of `[a-z0-9]` (no hyphen); the session id is the rest of the name and
 * must itself be a valid Kubernetes name fragment. A name that does not match is never touched.
 */
import type { ResourceKind, ResourceRecord } from '../ports.js';

/** The annotation that keeps a session's resources whatever else is true (a restore sets it). */
export const KEEP_ANNOTATION = 'lab-reconciler/keep';

/** The word between lab type and session id, per kind. */
const ROLE: Readonly<Record<ResourceKind, string>> = {
  Deployment: 'lab',
  Service: 'service',
  Ingress: 'ingress',
  ConfigMap: 'config',
};

const PATTERNS: Readonly<Record<ResourceKind, RegExp>> = {
  Deployment: pattern('lab'),
  Service: pattern('service'),
  Ingress: pattern('ingress'),
  ConfigMap: pattern('config'),
};

function pattern(role: string): RegExp {
  // The session id starts and ends with an alphanumeric, as any Kubernetes name does; this
  // refuses `jupyter-service-` and `jupyter-service--x` rather than guessing what they mean.
  return new RegExp(`^([a-z0-9]+)-${role}-([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)$`);
}

/** The lab type and session id a resource name belongs to. */
export interface SessionName {
  labType: string;
  sessionId: string;
}

/** Parses a resource name of the given kind; undefined when it does not follow the convention. */
export function parseName(kind: ResourceKind, name: string): SessionName | undefined {
  // Kubernetes names are at most 253 characters; anything longer did not come from a cluster.
  if (name.length > 253) return undefined;
  const match = PATTERNS[kind].exec(name);
  if (!match) return undefined;
  return { labType: match[1]!, sessionId: match[2]! };
}

/** The name a resource of this kind has for this session. */
export function nameFor(kind: ResourceKind, session: SessionName): string {
  return `${session.labType}-${ROLE[kind]}-${session.sessionId}`;
}

/** The key that groups the resources of one session within a namespace. */
export function sessionKeyOf(session: SessionName): string {
  return `${session.labType}\u0000${session.sessionId}`;
}

/** The product's own keys in the session store: never a session's, whatever the prefix. */
export const OWN_KEY_PREFIX = 'lab-reconciler:';

// A session id as a resource name can carry it (see `pattern`): only such an id can ever have
// resources, so only its key can be judged against the cluster.
const SESSION_ID = /^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$/;

/**
 * The session id a store key belongs to, or undefined when the key is not a session key that
 * can be judged: not under the prefix, one of the product's own keys, or an id that no
 * resource name could carry (its resources, if any, would be named otherwise: never guessed at).
 */
export function sessionIdOfKey(key: string, prefix: string): string | undefined {
  if (!key.startsWith(prefix) || key.startsWith(OWN_KEY_PREFIX)) return undefined;
  const id = key.slice(prefix.length);
  return id.length <= 240 && SESSION_ID.test(id) ? id : undefined;
}

/** `Kind/name`, as the summary lists resources. */
export function ref(resource: Pick<ResourceRecord, 'kind' | 'name'>): string {
  return `${resource.kind}/${resource.name}`;
}
