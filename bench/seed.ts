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
 * Empties the server and creates the scenario: live sessions (Deployment, Service with a ready
 * EndpointSlice, Ingress, ConfigMap) and orphaned ones (Service, Ingress, ConfigMap; no
 * Deployment, no endpoints), all two hours old, so that every orphan is cleanable at once.
 */
export function seedScenario(server: KubeApiServer, scenario: Scenario, now: number = Date.now()): Expected {
  server.clear();
  scenario.namespaces.forEach((namespace) => {
    const lab = labTypeOf(namespace);
    for (let i = 0; i < scenario.livePerNamespace; i++) seedSession(server, namespace, lab, `s${i}`, { deployment: true, now });
  });
  return seedOrphans(server, scenario, now);
}

/**
 * Creates the scenario's orphans (again, after a run cleaned them: the live sessions are
 * still there, so a repeated run needs only these, which is much quicker than a full seed).
 */
export function seedOrphans(server: KubeApiServer, scenario: Scenario, now: number = Date.now()): Expected {
  // Continue tokens of the last run are of no use to the next, and hold its list snapshots.
  server.expireContinueTokens();
  const expected: Expected = new Set();
  scenario.namespaces.forEach((namespace, index) => {
    const lab = labTypeOf(namespace);
    for (let i = 0; i < orphansIn(scenario, index); i++) {
      seedSession(server, namespace, lab, `o${i}`, { now });
      for (const role of ['service', 'ingress', 'config']) expected.add(`${namespace}/${lab}-${role}-o${i}`);
    }
  });
  return expected;
}

/** What the log says a run deleted; throws when it is not exactly the orphans' resources. */
export function checkDeletes(server: KubeApiServer, expected: Expected): number {
  const deleted = new Set<string>();
  for (const r of server.requests) {
    if (r.verb === 'delete' && r.status !== undefined && r.status < 300) deleted.add(`${r.namespace}/${r.name}`);
  }
  const missed = [...expected].filter((name) => !deleted.has(name));
  const wrong = [...deleted].filter((name) => !expected.has(name));
  if (missed.length > 0 || wrong.length > 0) {
    throw new Error(
      `The run did not clean exactly the orphans: ${missed.length} not deleted (${missed.slice(0, 3).join(', ')}), ` +
        `${wrong.length} deleted wrongly (${wrong.slice(0, 3).join(', ')})`,
    );
  }
  return deleted.size;
}
