/**
 * Puts a scenario on the local API server, and checks afterwards, from the server's request
 * log, that a run deleted exactly the orphans' resources and nothing of a live session.
 */
import type { KubeApiServer } from '../test/support/kube-api-server.js';
import { seedSession } from '../test/support/lab.js';
import type { Scenario } from './scenarios.js';
import { orphansIn } from './scenarios.js';

/** The lab type of a lab namespace: `jupyter` for `jupyter-lab`, as the lab-controller names them. */
export function labTypeOf(namespace: string): string {
  return namespace.split('-')[0]!;
}

/** `namespace/name` of every resource of an orphaned session: what a correct run deletes. */
export type Expected = Set<string>;

/**
 * The objects' shape: `production` as a real API server returns them (pod template,
 * managedFields, status: test/support/kube/production.ts), `small` the tests' few fields.
 */
export type ObjectShape = 'small' | 'production';

/**
 * Empties the server and creates the scenario: live sessions (Deployment, Service with a ready
 * EndpointSlice, Ingress, ConfigMap) and orphaned ones (Service, Ingress, ConfigMap; no
 * Deployment, no endpoints), all two hours old, so that every orphan is cleanable at once.
 */
export function seedScenario(server: KubeApiServer, scenario: Scenario, shape: ObjectShape, now: number = Date.now()): Expected {
  server.clear();
  scenario.namespaces.forEach((namespace) => {
    const lab = labTypeOf(namespace);
    for (let i = 0; i < scenario.livePerNamespace; i++) seedSession(server, namespace, lab, `s${i}`, { deployment: true, now, shape });
  });
  return seedOrphans(server, scenario, shape, now);
}

/** The scenario's orphaned sessions: where, of which lab type, which id. */
function orphanSessions(scenario: Scenario): Array<{ namespace: string; lab: string; id: string }> {
  return scenario.namespaces.flatMap((namespace, index) =>
    Array.from({ length: orphansIn(scenario, index) }, (_, i) => ({ namespace, lab: labTypeOf(namespace), id: `o${i}` })),
  );
}

const ORPHAN_KINDS = [
  ['Service', 'service'],
  ['Ingress', 'ingress'],
  ['ConfigMap', 'config'],
] as const;

/** The three objects of each orphan: what a correct run deletes. */
export function orphanObjects(scenario: Scenario): Array<{ namespace: string; kind: (typeof ORPHAN_KINDS)[number][0]; name: string }> {
  return orphanSessions(scenario).flatMap(({ namespace, lab, id }) => ORPHAN_KINDS.map(([kind, role]) => ({ namespace, kind, name: `${lab}-${role}-${id}` })));
}

/**
 * Creates the scenario's orphans (again, after a run cleaned them: the live sessions are
 * still there, so a repeated run needs only these, which is much quicker than a full seed).
 * What a run killed half-way left of them is removed first.
 */
export function seedOrphans(server: KubeApiServer, scenario: Scenario, shape: ObjectShape, now: number = Date.now()): Expected {
  // Continue tokens of the last run are of no use to the next, and hold its list snapshots.
  server.expireContinueTokens();
  const objects = orphanObjects(scenario);
  for (const { namespace, kind, name } of objects) server.remove(kind, namespace, name);
  for (const { namespace, lab, id } of orphanSessions(scenario)) seedSession(server, namespace, lab, id, { now, shape });
  return new Set(objects.map(({ namespace, name }) => `${namespace}/${name}`));
}

/**
 * What the log says a run deleted; throws when it is not exactly the orphans' resources.
 * `partial` (a run the envelope killed): only that nothing else was deleted.
 */
export function checkDeletes(server: KubeApiServer, expected: Expected, partial = false): number {
  const deleted = new Set<string>();
  for (const r of server.requests) {
    if (r.verb === 'delete' && r.status !== undefined && r.status < 300) deleted.add(`${r.namespace}/${r.name}`);
  }
  const missed = partial ? [] : [...expected].filter((name) => !deleted.has(name));
  const wrong = [...deleted].filter((name) => !expected.has(name));
  if (missed.length > 0 || wrong.length > 0) {
    throw new Error(
      `The run did not clean exactly the orphans: ${missed.length} not deleted (${missed.slice(0, 3).join(', ')}), ` +
        `${wrong.length} deleted wrongly (${wrong.slice(0, 3).join(', ')})`,
    );
  }
  return deleted.size;
}
