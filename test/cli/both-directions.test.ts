/**
 * The command line in both directions: a live cluster (the local API server) through a
 * kubeconfig and a session store (redis-server behind the Upstash bridge): the table's stale
 * keys and leaked Deployments, `--stale-keys`, and why keys were not read.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Summary } from '../../src/core/report.js';
import type { KubeApiServer } from '../support/kube-api-server.js';
import type { RespClient } from '../support/resp-client.js';
import type { UpstashBridge } from '../support/upstash-bridge.js';
import type { LocalServers } from '../support/servers.js';
import { startLocalServers } from '../support/servers.js';
import { runCli } from '../support/cli.js';
import { names, seedSession, tempFile } from '../support/lab.js';

let servers: LocalServers;
let server: KubeApiServer;
let bridge: UpstashBridge;
let direct: RespClient;
let env: Record<string, string>;

beforeAll(async () => {
  servers = await startLocalServers();
  ({ server, bridge, direct } = servers);
  env = {
    KUBECONFIG: tempFile('kubeconfig', server.kubeconfig({ context: 'kind-lab' })),
    UPSTASH_REDIS_REST_URL: bridge.url,
    UPSTASH_REDIS_REST_TOKEN: bridge.token,
    RECONCILIATION_NAMESPACES: 'jupyter-lab,ubuntu-lab',
  };
});
afterAll(() => servers.close());
beforeEach(async () => {
  await servers.reset();
  seedSession(server, 'jupyter-lab', 'jupyter', 'live', { deployment: true });
  seedSession(server, 'ubuntu-lab', 'ubuntu', 'leak', { deployment: true, ageMs: 3 * 86_400_000 + 4 * 3_600_000 });
  for (const key of ['lab_session:live', 'lab_session:ghost', 'cache:other']) await direct.call('SET', key, '{"user":"ada"}');
});

const exists = async (key: string) => Number(await direct.call('EXISTS', key)) === 1;

describe('lab-reconciler in both directions', () => {
  it('plan shows the stale keys and the leaked Deployments in the table, and deletes nothing', async () => {
    // Act
    const result = await runCli(['plan'], env);
    // Assess
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/Stale session keys \(no Deployment, Service, Ingress or ConfigMap of the session in any namespace\):\nKEY\s+ACTION\s+REASON\s+FIRST SEEN STALE\nlab_session:ghost\s+reported\s+no-resources\s+-/);
    expect(result.stdout).toMatch(/Leaked Deployments \(no session key: .*never deleted, look at them\):\nNAMESPACE\s+LAB\s+SESSION\s+DEPLOYMENT\s+AGE\nubuntu-lab\s+ubuntu\s+leak\s+ubuntu-lab-leak\s+3d 4h/);
    expect(await exists('lab_session:ghost')).toBe(true);
    // A dry run writes nothing: not even a sighting
    expect(await exists('lab-reconciler:sighting:key:ghost')).toBe(false);
  });

  it('apply --stale-keys delete deletes a stale key in the run after the one that first saw it', async () => {
    // Act
    const first = await runCli(['apply', '--stale-keys', 'delete', '--min-age', '0', '--confirm-seconds', '0', '--output', 'json'], env);
    const second = await runCli(['apply', '--stale-keys', 'delete', '--min-age', '0', '--confirm-seconds', '0'], env);
    // Assess
    expect(first.status).toBe(0);
    expect((JSON.parse(first.stdout) as Summary).staleSessionKeys).toMatchObject([{ key: 'lab_session:ghost', action: 'spared', reason: 'unconfirmed' }]);
    expect(second.status).toBe(0);
    expect(second.stdout).toMatch(/lab_session:ghost\s+deleted\s+no-resources/);
    expect(second.stdout).toMatch(/Deleted 0 resources and 0 session keys, and 1 stale session keys\./);
    expect(await exists('lab_session:ghost')).toBe(false);
    expect(await exists('lab_session:live')).toBe(true);
    expect(await exists('cache:other')).toBe(true);
    expect(names(server, 'Deployment', 'ubuntu-lab')).toEqual(['ubuntu-lab-leak']);
  });

  it('holds every stale key delete back while an allowlisted namespace lists nothing, and says which', async () => {
    // The contract's default allowlist: vscode-lab and postgresql-lab hold nothing here
    const defaults = { ...env, RECONCILIATION_NAMESPACES: '' };
    delete (defaults as Partial<typeof env>).RECONCILIATION_NAMESPACES;
    const flags = ['apply', '--stale-keys', 'delete', '--min-age', '0', '--confirm-seconds', '0'];
    await runCli(flags, defaults);
    const second = await runCli(flags, defaults);
    expect(second.stdout).toMatch(/lab_session:ghost\s+spared\s+unconfirmed/);
    expect(second.stdout).toMatch(/Deleted no stale session key: vscode-lab, postgresql-lab listed no object at all/);
    expect(await exists('lab_session:ghost')).toBe(true);
  });

  it.each([
    [['--stale-keys', 'off'], /RECONCILIATION_STALE_KEYS is off: session keys were not read/],
    [['--namespaces', 'jupyter-lab'], /The run was narrowed to jupyter-lab: session keys are judged only by a run over the whole allowlist/],
  ])('plan %j reads no key, lists neither, and says why', async (flags, why) => {
    const result = await runCli(['plan', ...flags], env);
    expect(result.status).toBe(0);
    expect(result.stdout).not.toMatch(/Stale session keys|Leaked Deployments|No stale session keys/);
    expect(result.stdout).toMatch(why);
    expect(bridge.requests.some((r) => r.commands.some((c) => c[0] === 'SCAN'))).toBe(false);
  });

  it('says so when it looked and found nothing in either direction', async () => {
    await direct.call('DEL', 'lab_session:ghost');
    await direct.call('SET', 'lab_session:leak', '{}');
    const result = await runCli(['plan'], env);
    expect(result.stdout).toMatch(/No stale session keys and no leaked Deployments\./);
  });

  it('refuses a bad --stale-keys before any request, naming the flag and the choices', async () => {
    const result = await runCli(['apply', '--stale-keys', 'purge'], env);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/--stale-keys: must be one of report, delete, off, got "purge"/);
    expect(server.requests).toHaveLength(0);
    expect(bridge.requests).toHaveLength(0);
  });

  it('refuses a bad RECONCILIATION_STALE_KEYS, naming the variable', async () => {
    const result = await runCli(['plan'], { ...env, RECONCILIATION_STALE_KEYS: 'yes' });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/RECONCILIATION_STALE_KEYS: must be one of report, delete, off, got "yes"/);
  });
});
