/**
 * The command line against a live cluster (the local API server) through a kubeconfig,
 * in-process and as the built `dist/cli.mjs`.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Summary } from '../../src/core/report.js';
import type { KubeApiServer } from '../support/kube-api-server.js';
import { startKubeApiServer } from '../support/kube-api-server.js';
import { runCli } from '../support/cli.js';
import { names, seedSession, tempFile } from '../support/lab.js';

const run = promisify(execFile);
let server: KubeApiServer;
let kubeconfig: string;

beforeAll(async () => {
  server = await startKubeApiServer();
  kubeconfig = tempFile('kubeconfig', server.kubeconfig({ context: 'kind-lab' }));
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.reset();
  seedSession(server, 'jupyter-lab', 'jupyter', 'live', { deployment: true });
  seedSession(server, 'jupyter-lab', 'jupyter', 'dead');
  seedSession(server, 'ubuntu-lab', 'ubuntu', 'dead');
});

describe('lab-reconciler against a kubeconfig', () => {
  it('apply cleans the orphaned sessions and prints the summary (exit 0)', async () => {
    // Act
    const result = await runCli(['apply', '--output', 'json', '--min-age', '60'], { KUBECONFIG: kubeconfig });

    // Assess
    expect(result.status).toBe(0);
    const summary = JSON.parse(result.stdout) as Summary;
    expect(summary).toMatchObject({ status: 'ok', dryRun: false, totals: { cleanedUp: 2, resourcesDeleted: 6, errors: 0 } });
    expect(names(server, 'Service', 'jupyter-lab')).toEqual(['jupyter-service-live']);
    expect(names(server, 'Service', 'ubuntu-lab')).toEqual([]);
  });

  it('plan sends its deletes with dryRun=All and deletes nothing', async () => {
    // Act
    const result = await runCli(['plan', '--kubeconfig', kubeconfig]);

    // Assess
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/jupyter-lab\s+jupyter\s+dead\s+would-clean\s+no-deployment/);
    expect(server.requests.filter((r) => r.verb === 'delete').every((r) => r.query.dryRun === 'All')).toBe(true);
    expect(server.countRequests({ verb: 'delete' })).toBe(6);
    expect(names(server, 'Service', 'jupyter-lab')).toHaveLength(2);
  });

  it('RECONCILIATION_DRY_RUN=true makes apply a dry run too', async () => {
    // Act
    const result = await runCli(['apply', '--output', 'json'], { KUBECONFIG: kubeconfig, RECONCILIATION_DRY_RUN: 'true' });

    // Assess
    expect(JSON.parse(result.stdout)).toMatchObject({ dryRun: true, totals: { resourcesDeleted: 0 } });
    expect(names(server, 'Service', 'ubuntu-lab')).toEqual(['ubuntu-service-dead']);
  });

  it('exits 1 when a session failed (partial)', async () => {
    // Prepare
    server.injectFault({ verb: 'delete', name: 'ubuntu-service-dead', times: Infinity, effect: { type: 'status', code: 403 } });

    // Act
    const result = await runCli(['apply', '--output', 'json'], { KUBECONFIG: kubeconfig });

    // Assess
    expect(result.status).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'partial', totals: { cleanedUp: 1, errors: 1 } });
  });

  it('uses the context named by --context, with its own credentials', async () => {
    // Prepare: the current context's token is wrong; the other's is right.
    const two = tempFile('two-contexts', server.kubeconfig({
      contexts: [
        { name: 'stale', token: 'expired-token' },
        { name: 'good', token: server.token },
      ],
    }));

    // Act
    const stale = await runCli(['plan', '--output', 'json'], { KUBECONFIG: two });
    const good = await runCli(['plan', '--output', 'json', '--context', 'good'], { KUBECONFIG: two });

    // Assess
    expect(stale.status).toBe(1);
    expect(JSON.parse(stale.stdout).status).toBe('failed');
    expect(good.status).toBe(0);
    expect(JSON.parse(good.stdout).totals.orphanedFound).toBe(2);
  });

  const badKubeconfigs: [string, () => string, string[], RegExp][] = [
    ['malformed YAML', () => tempFile('bad', 'clusters: [\n  - name: x\n    cluster: {server: "https://127.0.0.1"'), [], /KUBECONFIG: kubeconfig file .*bad could not be read/],
    ['a context that does not exist', () => kubeconfig, ['--context', 'nope'], /--context: no context "nope" in .* \(it has: kind-lab\)/],
    ['a current-context that names no cluster', () => tempFile('nocluster', 'apiVersion: v1\nkind: Config\ncurrent-context: x\ncontexts:\n- name: x\n  context: {cluster: missing, user: u}\nusers:\n- name: u\n  user: {token: t}\nclusters: []\n'), [], /KUBECONFIG: context "x" names cluster "missing"/],
    ['no current-context', () => tempFile('nocurrent', 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n'), [], /KUBECONFIG: .* sets no current-context/],
  ];
  it.each(badKubeconfigs)('rejects %s with exit status 2, naming the setting, before any request', async (_name, file, extra, message) => {
    // Act
    const result = await runCli(['apply', ...extra], { KUBECONFIG: file() });

    // Assess
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(server.requests).toHaveLength(0);
  });

  it('rejects a bad variable before any request', async () => {
    // Act
    const result = await runCli(['apply'], { KUBECONFIG: kubeconfig, RECONCILIATION_CONCURRENCY: '0' });

    // Assess
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/RECONCILIATION_CONCURRENCY: must be a whole number from 1 to 64, got "0"/);
    expect(server.requests).toHaveLength(0);
  });
});

describe('the built dist/cli.mjs', () => {
  it('cleans a cluster with apply --output json, as an operator runs it', async () => {
    // Prepare: npm test builds before it tests; a missing bundle is a failure, not a skip.
    expect(existsSync('dist/cli.mjs'), 'dist/cli.mjs is missing: run npm run build').toBe(true);

    // Act
    const { stdout } = await run(process.execPath, ['dist/cli.mjs', 'apply', '--output', 'json', '--kubeconfig', kubeconfig], {
      env: { PATH: process.env.PATH ?? '' },
    });

    // Assess
    const summary = JSON.parse(stdout) as Summary;
    expect(summary).toMatchObject({ status: 'ok', totals: { cleanedUp: 2, resourcesDeleted: 6 } });
    expect(names(server, 'ConfigMap', 'jupyter-lab')).toEqual(['jupyter-config-live']);
  });

  it('exits 2 on bad usage', async () => {
    // Act
    const failure = await run(process.execPath, ['dist/cli.mjs', 'apply', '--output', 'yaml'], { env: { PATH: process.env.PATH ?? '' } }).catch((error: { code: number; stderr: string }) => error);

    // Assess
    expect(failure).toMatchObject({ code: 2 });
    expect((failure as { stderr: string }).stderr).toContain('--output: must be table or json, got "yaml"');
  });
});
