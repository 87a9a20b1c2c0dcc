import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Summary } from '../../src/core/report.js';
import { runCli } from '../support/cli.js';

const EXAMPLE = 'examples/cluster-snapshot.json';
const NOW = '2026-11-26T12:00:00Z';

function tempFile(name: string, content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'lab-reconciler-')), name);
  writeFileSync(path, content);
  return path;
}

describe('lab-reconciler plan --snapshot (the example)', () => {
  it('prints each namespace and each orphaned session with its action and reason', async () => {
    // Act
    const result = await runCli(['plan', '--snapshot', EXAMPLE, '--now', NOW]);

    // Assess
    expect(result.status).toBe(0);
    for (const ns of ['jupyter-lab', 'ubuntu-lab', 'vscode-lab', 'postgresql-lab']) expect(result.stdout).toContain(ns);
    expect(result.stdout).toMatch(/jupyter-lab\s+jupyter\s+f0c3b8e1\s+would-clean\s+no-deployment/);
    expect(result.stdout).toMatch(/jupyter-lab\s+jupyter\s+1b8e4d7a\s+spared\s+has-endpoints/);
    expect(result.stdout).toMatch(/jupyter-lab\s+jupyter\s+2c9f5e8b\s+spared\s+keep-annotation/);
    expect(result.stdout).toMatch(/ubuntu-lab\s+ubuntu\s+8c5f1e4b\s+spared\s+too-young/);
    expect(result.stdout).toContain('No session store is configured');
  });

  it('gives the contract summary with --output json, never touching names or namespaces outside the convention', async () => {
    // Act
    const result = await runCli(['plan', '--snapshot', EXAMPLE, '--now', NOW, '--output', 'json']);

    // Assess
    expect(result.status).toBe(0);
    const summary = JSON.parse(result.stdout) as Summary;
    expect(summary.status).toBe('ok');
    expect(summary.dryRun).toBe(true);
    expect(summary.totals).toEqual({
      namespacesChecked: 4,
      servicesChecked: 23,
      orphanedFound: 8,
      cleanedUp: 0,
      spared: 3,
      resourcesDeleted: 0,
      sessionKeysDeleted: 0,
      errors: 0,
      staleSessionKeys: 0,
      staleSessionKeysDeleted: 0,
      leakedDeployments: 0,
    });
    // A snapshot has no session store: the keys are not judged, and the warnings say so.
    expect(summary.staleSessionKeys).toEqual([]);
    expect(summary.leakedDeployments).toEqual([]);
    expect(summary.warnings.join('\n')).toMatch(/no stale session key or leaked Deployment was looked for/);
    expect(summary.sessions.filter((s) => s.action === 'would-clean').map((s) => s.sessionId).sort()).toEqual(
      ['2a9d5c8f', '7b4e0d3a', '7f4c0b3e', 'f0c3b8e1', 'f7d21a9c'].sort(),
    );
    // `default` is outside the allowlist; vscode-gateway and kube-root-ca.crt do not follow the convention.
    expect(summary.sessions.some((s) => s.namespace === 'default')).toBe(false);
    expect(JSON.stringify(summary)).not.toMatch(/vscode-gateway|kube-root-ca/);
    // A live session with a Deployment only is not orphaned.
    expect(summary.sessions.some((s) => s.sessionId === '6e3b9a2d')).toBe(false);
  });

  it('narrows to the namespaces given, and judges ages as of --now', async () => {
    // Act: a day later, the too-young session is old enough.
    const result = await runCli(['plan', '--snapshot', EXAMPLE, '--now', '2026-11-27T12:00:00Z', '--namespaces', 'ubuntu-lab', '--output', 'json']);

    // Assess
    const summary = JSON.parse(result.stdout) as Summary;
    expect(summary.namespaces.map((n) => n.namespace)).toEqual(['ubuntu-lab']);
    expect(summary.sessions.find((s) => s.sessionId === '8c5f1e4b')).toMatchObject({ action: 'would-clean', reason: 'no-deployment' });
  });

  it('opens the circuit breaker when more sessions would be cleaned than --max-deletions', async () => {
    // Act
    const result = await runCli(['plan', '--snapshot', EXAMPLE, '--now', NOW, '--max-deletions', '2', '--output', 'json']);

    // Assess
    expect(result.status).toBe(1);
    const summary = JSON.parse(result.stdout) as Summary;
    expect(summary.status).toBe('aborted');
    expect(summary.sessions.filter((s) => s.reason === 'cap-exceeded')).toHaveLength(5);
    expect(summary.sessions.some((s) => s.action === 'would-clean')).toBe(false);
  });

  it('honours --min-age over RECONCILIATION_MIN_AGE_SECONDS', async () => {
    // Act: a grace period of ten days spares every orphan of the example as too young.
    const result = await runCli(['plan', '--snapshot', EXAMPLE, '--now', NOW, '--min-age', '864000', '--output', 'json'], {
      RECONCILIATION_MIN_AGE_SECONDS: '0',
    });

    // Assess
    const summary = JSON.parse(result.stdout) as Summary;
    expect(summary.sessions.filter((s) => s.action === 'would-clean')).toHaveLength(0);
    expect(summary.sessions.filter((s) => s.reason === 'too-young').length).toBeGreaterThan(0);
  });

  it('reports a dump without Deployments as a failed namespace, not as orphans', async () => {
    // Prepare
    const dump = tempFile('svc-only.json', JSON.stringify({
      kind: 'List',
      apiVersion: 'v1',
      items: [{ kind: 'Service', apiVersion: 'v1', metadata: { name: 'jupyter-service-a1', namespace: 'jupyter-lab', uid: 'u1', creationTimestamp: '2026-01-01T00:00:00Z' } }],
    }));

    // Act
    const result = await runCli(['plan', '--snapshot', dump, '--namespaces', 'jupyter-lab', '--output', 'json']);

    // Assess
    expect(result.status).toBe(1);
    const summary = JSON.parse(result.stdout) as Summary;
    expect(summary.status).toBe('failed');
    expect(summary.namespaces[0]!.error).toContain('no Deployments');
    expect(summary.sessions).toHaveLength(0);
  });
});

describe('lab-reconciler usage errors', () => {
  const cases: [string, string[], Record<string, string>, RegExp][] = [
    ['an unknown flag', ['plan', '--frobnicate'], {}, /frobnicate/],
    ['no command', [], {}, /command is required/],
    ['an unknown command', ['destroy'], {}, /unknown command "destroy"/],
    ['a snapshot with apply', ['apply', '--snapshot', EXAMPLE], {}, /--snapshot: works with plan only/],
    ['an unknown output', ['plan', '--snapshot', EXAMPLE, '--output', 'xml'], {}, /--output: must be table or json, got "xml"/],
    ['a negative flag', ['plan', '--snapshot', EXAMPLE, '--min-age=-1'], {}, /--min-age: must be a whole number from 0 to 2592000, got "-1"/],
    ['a negative flag as a separate word', ['plan', '--snapshot', EXAMPLE, '--max-deletions', '-5'], {}, /--max-deletions/],
    ['a non-numeric confirm time', ['plan', '--snapshot', EXAMPLE, '--confirm-seconds', 'soon'], {}, /--confirm-seconds: must be a whole number/],
    ['a non-numeric variable', ['plan', '--snapshot', EXAMPLE], { RECONCILIATION_MAX_DELETIONS: 'many' }, /RECONCILIATION_MAX_DELETIONS: must be a whole number.*"many"/],
    ['an unknown mode', ['plan'], { K8S_MODE: 'magic' }, /K8S_MODE: must be one of eks, kubeconfig, in-cluster, got "magic"/],
    ['an empty namespace list', ['plan', '--snapshot', EXAMPLE], { RECONCILIATION_NAMESPACES: ' , ' }, /RECONCILIATION_NAMESPACES: must name at least one namespace/],
    ['a namespace outside the allowlist', ['plan', '--snapshot', EXAMPLE, '--namespaces', 'kube-system'], {}, /--namespaces: kube-system is not in the allowlist/],
    ['a bad --now', ['plan', '--snapshot', EXAMPLE, '--now', 'yesterday'], {}, /--now: must be an ISO 8601 time/],
    ['a missing snapshot', ['plan', '--snapshot', '/nonexistent/dump.json'], {}, /--snapshot: cannot read \/nonexistent\/dump.json/],
    ['a missing kubeconfig', ['plan'], { KUBECONFIG: '/nonexistent/kubeconfig' }, /KUBECONFIG: kubeconfig file \/nonexistent\/kubeconfig does not exist/],
    ['in-cluster outside a pod', ['plan'], { K8S_MODE: 'in-cluster' }, /K8S_MODE: is in-cluster, but KUBERNETES_SERVICE_HOST/],
    ['a session store URL without a token', ['plan'], { UPSTASH_REDIS_REST_URL: 'https://x.upstash.io' }, /UPSTASH_REDIS_REST_TOKEN: is required when UPSTASH_REDIS_REST_URL is set/],
    ['eks mode without a cluster name', ['plan'], { K8S_MODE: 'eks', AWS_REGION: 'eu-west-1' }, /EKS_CLUSTER_NAME: is required when K8S_MODE is eks/],
  ];
  it.each(cases)('rejects %s with exit status 2 and a message naming it', async (_name, argv, env, message) => {
    // Act
    const result = await runCli(argv, env);

    // Assess
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });

  it('rejects snapshots that are not JSON or not a List', async () => {
    // Prepare
    const notJson = tempFile('a.json', 'kind: List\n');
    const notList = tempFile('b.json', JSON.stringify({ kind: 'Service', metadata: { name: 'x' } }));

    // Act
    const first = await runCli(['plan', '--snapshot', notJson]);
    const second = await runCli(['plan', '--snapshot', notList]);

    // Assess
    expect(first.status).toBe(2);
    expect(first.stderr).toMatch(/--snapshot: .*a\.json is not JSON/);
    expect(second.status).toBe(2);
    expect(second.stderr).toMatch(/--snapshot: .*b\.json is not a Kubernetes List \(its kind is "Service"\)/);
  });

  it('prints the usage with --help', async () => {
    const result = await runCli(['--help']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('Usage: lab-reconciler <plan|apply>');
    expect(result.stdout).toContain('--snapshot FILE');
  });
});
