/**
 * Bad input: resource names built to confuse the parser (`jupyter-service-`, `-service-x`,
 * `jupyter-service-a-service-b`, very long, uppercase, unicode, dots, hyphenated lab types),
 * through the whole plan (findOrphans ▸ decide) and through `plan --snapshot`. A resource is
 * acted on only if its name follows the convention exactly (recomputed here, independently of
 * src/core/naming.ts), and a session with a matching Deployment is never acted on.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Summary } from '../../src/core/report.js';
import type { NamespaceObservation, ResourceKind, ResourceRecord } from '../../src/ports.js';
import { decide, findOrphans } from '../../src/core/plan.js';
import { parseName } from '../../src/core/naming.js';
import { runCli } from '../support/cli.js';
import { tempFile } from '../support/lab.js';
import type { Deletable } from './support/input-names.js';
import { DELETABLE, InputCounter, KINDS, ROLE_OF, contractParse, isPlainSessionId, labTypeArb, nameArb, sessionIdArb } from './support/input-names.js';

const NOW = Date.parse('2026-11-26T12:00:00Z');
const OLD = NOW - 2 * 3_600_000;
const NS = 'jupyter-lab';
const PLAN_RUNS = 1000;
const CLI_RUNS = 150;
const counter = new InputCounter();
afterAll(() => counter.report('bad-input-names'));

/** One generated resource: its kind, its name, where it is, and whether to give it a Deployment. */
interface ResourceModel {
  kind: ResourceKind;
  name: string;
  namespace: string;
  /** For a Service, Ingress or ConfigMap that follows the convention: also create its session's Deployment. */
  withDeployment: boolean;
  keep: boolean;
}

/** Half of the names use the kind's own role word, so that many sessions are near-valid. */
const resourceArb = (namespaces: readonly string[]): fc.Arbitrary<ResourceModel> =>
  fc.constantFrom(...KINDS).chain((kind) =>
    fc.record({
      kind: fc.constant(kind),
      name: fc.oneof(fc.tuple(labTypeArb, sessionIdArb).map(([t, s]) => `${t}-${ROLE_OF[kind]}-${s}`), nameArb),
      namespace: fc.constantFrom(...namespaces),
      withDeployment: fc.boolean(),
      keep: fc.nat(6).map((n) => n === 0),
    }),
  );

/**
 * The models, with the Deployments they ask for added (named by the contract, not by the
 * product), and one object per kind, namespace and name, as in any cluster.
 */
function expand(models: readonly ResourceModel[]): ResourceModel[] {
  const all = [...models];
  for (const m of models) {
    if (m.kind === 'Deployment' || !m.withDeployment) continue;
    const parsed = contractParse(m.kind, m.name);
    if (parsed) all.push({ kind: 'Deployment', name: `${parsed.labType}-lab-${parsed.sessionId}`, namespace: m.namespace, withDeployment: false, keep: false });
  }
  const unique = new Map<string, ResourceModel>();
  for (const m of all) {
    const key = JSON.stringify([m.kind, m.namespace, m.name]);
    if (!unique.has(key)) unique.set(key, m);
  }
  return [...unique.values()];
}

function deploymentNamed(models: readonly ResourceModel[], namespace: string, name: string): boolean {
  return models.some((m) => m.kind === 'Deployment' && m.namespace === namespace && m.name === name);
}

/** What the contract says must be found: every convention-following resource of a session without Deployment. */
function expectedOrphanResources(models: readonly ResourceModel[], namespace: string): ResourceModel[] {
  return models.filter((m) => {
    if (m.kind === 'Deployment' || m.namespace !== namespace || m.name.length > 63) return false;
    const parsed = contractParse(m.kind, m.name);
    if (!parsed || !isPlainSessionId(parsed.sessionId)) return false;
    return !deploymentNamed(models, namespace, `${parsed.labType}-lab-${parsed.sessionId}`);
  });
}

describe('confusing names through findOrphans and decide', () => {
  it.each([
    ['jupyter-service-', 'Service'],
    ['-service-x', 'Service'],
    ['jupyter-lab-', 'Deployment'],
    ['JUPYTER-SERVICE-X', 'Service'],
    ['jupyter-service-X', 'Service'],
    ['my-lab-service-x', 'Service'],
    ['postgres-sql-config-x', 'ConfigMap'],
    ['jupyter-service-ü', 'Service'],
    ['jupyter-service-x.', 'Service'],
    [`jupyter-service-${'a'.repeat(300)}`, 'Service'],
  ] as const)('never reads %s (%s) as a lab resource', (name, kind) => {
    // Prepare / Act
    const parsed = parseName(kind, name);
    // Assess
    expect(parsed).toBeUndefined();
  });

  it('reads jupyter-service-a-service-b as lab type jupyter, session a-service-b, spared by Deployment jupyter-lab-a-service-b', () => {
    // Prepare
    const record = (kind: ResourceKind, name: string): ResourceRecord => ({ kind, namespace: NS, name, uid: `u-${name}`, createdAt: OLD, keep: false });
    const observation: NamespaceObservation = {
      namespace: NS,
      deployments: [record('Deployment', 'jupyter-lab-a-service-b')],
      services: [record('Service', 'jupyter-service-a-service-b'), record('Service', 'jupyter-service-a')],
      ingresses: [],
      configMaps: [],
      endpointSlices: [],
    };
    // Act
    const findings = findOrphans(observation);
    // Assess: only `a` is orphaned; `a-service-b` has its Deployment.
    expect(findings.orphans.map((o) => [o.labType, o.sessionId])).toEqual([['jupyter', 'a']]);
  });

  it(`acts only on names that follow the convention exactly, never on a session with a Deployment (${PLAN_RUNS} generated namespaces)`, () => {
    fc.assert(
      fc.property(fc.array(resourceArb([NS, NS, NS, 'kube-system']), { minLength: 4, maxLength: 40, size: 'medium' }), (generated) => {
        counter.add('plan namespaces');
        counter.add('plan resource names', generated.length);
        // Prepare
        const models = expand(generated);
        const records = models.map(
          (m, i): ResourceRecord => ({ kind: m.kind, namespace: m.namespace, name: m.name, uid: `uid-${i}`, createdAt: OLD, keep: m.keep }),
        );
        const byKind = (kind: ResourceKind) => records.filter((r) => r.kind === kind);
        const observation: NamespaceObservation = {
          namespace: NS,
          deployments: byKind('Deployment'),
          services: byKind('Service'),
          ingresses: byKind('Ingress'),
          configMaps: byKind('ConfigMap'),
          endpointSlices: [],
        };

        // Act
        const findings = findOrphans(observation);
        const plan = decide({ findings: [findings], sightings: undefined, settings: { minAgeSeconds: 300, confirmSeconds: 0, maxDeletions: 100_000 }, now: NOW });

        // Assess: every resource of every decision follows the convention and has no Deployment.
        const acted = new Set<ResourceRecord>();
        counter.add('plan decisions checked', plan.decisions.length);
        for (const decision of plan.decisions) {
          const { orphan } = decision;
          expect(orphan.namespace).toBe(NS);
          expect(deploymentNamed(models, NS, `${orphan.labType}-lab-${orphan.sessionId}`), `${orphan.labType}/${orphan.sessionId} has a Deployment`).toBe(false);
          for (const resource of orphan.resources) {
            expect(records).toContain(resource);
            expect(resource.namespace).toBe(NS);
            expect(DELETABLE).toContain(resource.kind);
            expect(contractParse(resource.kind, resource.name), `${resource.kind} ${JSON.stringify(resource.name)}`).toEqual({
              labType: orphan.labType,
              sessionId: orphan.sessionId,
            });
            expect(resource.name.length).toBeLessThanOrEqual(253);
            if (decision.action === 'clean') expect(resource.keep).toBe(false);
            acted.add(resource);
          }
        }
        // ... and every resource the contract calls orphaned (with a plain session id) is found.
        for (const m of expectedOrphanResources(models, NS)) {
          const found = [...acted].some((r) => r.kind === m.kind && r.name === m.name && r.namespace === m.namespace);
          expect(found, `${m.kind} ${m.name} should be found orphaned`).toBe(true);
        }
      }),
      { numRuns: PLAN_RUNS },
    );
    expect(counter.get('plan namespaces')).toBe(PLAN_RUNS);
  });
});

describe('confusing names through plan --snapshot', () => {
  const ALLOWLIST = ['jupyter-lab', 'ubuntu-lab', 'vscode-lab', 'postgresql-lab'];
  const PLACES = ['jupyter-lab', 'jupyter-lab', 'ubuntu-lab', 'default', 'kube-system', 'jupyter-lab-x'];

  function item(m: ResourceModel, i: number): Record<string, unknown> {
    const apiVersion = m.kind === 'Deployment' ? 'apps/v1' : m.kind === 'Ingress' ? 'networking.k8s.io/v1' : 'v1';
    const annotations = m.keep ? { 'lab-reconciler/keep': 'true' } : {};
    return { apiVersion, kind: m.kind, metadata: { name: m.name, namespace: m.namespace, uid: `uid-${i}`, creationTimestamp: new Date(OLD).toISOString(), annotations } };
  }

  it(`would clean only convention names in the allowlist, never a session with a Deployment (${CLI_RUNS} generated snapshots)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(resourceArb(PLACES), { minLength: 4, maxLength: 40, size: 'medium' }), async (generated) => {
        counter.add('snapshots with confusing names');
        counter.add('snapshot resource names', generated.length);
        // Prepare: one unrelated Deployment, so that the dump is not refused for having none.
        const models = expand(generated);
        models.push({ kind: 'Deployment', name: 'unrelated', namespace: 'jupyter-lab', withDeployment: false, keep: false });
        const dump = tempFile('dump.json', JSON.stringify({ apiVersion: 'v1', kind: 'List', items: models.map(item) }));

        // Act
        const result = await runCli(['plan', '--snapshot', dump, '--now', new Date(NOW).toISOString(), '--output', 'json', '--max-deletions', '100000']);

        // Assess
        expect(result.stderr).toBe('');
        expect(result.status).toBe(0);
        const summary = JSON.parse(result.stdout) as Summary;
        const wouldClean: string[] = [];
        for (const session of summary.sessions) {
          expect(ALLOWLIST).toContain(session.namespace);
          expect(deploymentNamed(models, session.namespace, `${session.labType}-lab-${session.sessionId}`)).toBe(false);
          for (const entry of session.resources) {
            const slash = entry.indexOf('/');
            const kind = entry.slice(0, slash) as Deletable;
            const name = entry.slice(slash + 1);
            expect(DELETABLE).toContain(kind);
            expect(models.some((m) => m.kind === kind && m.name === name && m.namespace === session.namespace), entry).toBe(true);
            expect(contractParse(kind, name), entry).toEqual({ labType: session.labType, sessionId: session.sessionId });
            if (session.action === 'would-clean') wouldClean.push(`${session.namespace} ${entry}`);
            counter.add('snapshot session resources checked');
          }
        }
        // Every orphan the contract sees in the allowlist (plain id, no keep) is to be cleaned.
        for (const ns of ALLOWLIST) {
          const keptSessions = new Set(
            models.filter((m) => m.keep && m.namespace === ns).map((m) => JSON.stringify(contractParse(m.kind, m.name) ?? null)),
          );
          for (const m of expectedOrphanResources(models, ns)) {
            if (keptSessions.has(JSON.stringify(contractParse(m.kind, m.name)))) continue;
            expect(wouldClean, `${ns} ${m.kind}/${m.name}`).toContain(`${ns} ${m.kind}/${m.name}`);
          }
        }
      }),
      { numRuns: CLI_RUNS },
    );
    expect(counter.get('snapshots with confusing names')).toBe(CLI_RUNS);
  });
});
