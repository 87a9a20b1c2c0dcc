/**
 * The cluster and the store of the archive's bench (bench/archive.ts): production-shaped live
 * sessions and orphans on the local API server, each session with an id of its own (one key
 * per session, as the lab-controller keeps them), and every session's key in redis, a JSON
 * value of a few KB with a time to live, as the lab platform writes them.
 */
import { createHash } from 'node:crypto';
import type { KubeApiServer } from '../test/support/kube-api-server.js';
import { seedSession } from '../test/support/lab.js';
import type { RespClient } from '../test/support/resp-client.js';
import type { Scenario } from './scenarios.js';
import { orphansIn } from './scenarios.js';
import type { Expected } from './seed.js';
import { labTypeOf } from './seed.js';

/** The product's default SESSION_KEY_PREFIX, which the child's configuration keeps. */
export const KEY_PREFIX = 'lab_session:';
/** The keys' time to live: a lab session's longest life. */
const KEY_TTL_MS = 8 * 3_600_000;

export interface SessionRef {
  namespace: string;
  labType: string;
  id: string;
}

/** The live sessions (`s{n}`) and the orphans (`o{n}`), round-robin over the namespaces, every id once. */
export function sessionsOf(scenario: Scenario): { live: SessionRef[]; orphans: SessionRef[] } {
  const { namespaces } = scenario;
  const at = (n: number) => namespaces[n % namespaces.length]!;
  const live = Array.from({ length: scenario.livePerNamespace * namespaces.length }, (_, n) => ({ namespace: at(n), labType: labTypeOf(at(n)), id: `s${n}` }));
  const orphans: SessionRef[] = [];
  let n = 0;
  namespaces.forEach((namespace, index) => {
    for (let i = 0; i < orphansIn(scenario, index); i++) orphans.push({ namespace, labType: labTypeOf(namespace), id: `o${n++}` });
  });
  return { live, orphans };
}

const ORPHAN_KINDS = [
  ['Service', 'service'],
  ['Ingress', 'ingress'],
  ['ConfigMap', 'config'],
] as const;

/** Empties the server and creates the live sessions and the orphans, all two hours old, production-shaped. */
export function seedArchiveCluster(server: KubeApiServer, scenario: Scenario, now: number = Date.now()): Expected {
  server.clear();
  for (const { namespace, labType, id } of sessionsOf(scenario).live) seedSession(server, namespace, labType, id, { deployment: true, now, shape: 'production' });
  return seedArchiveOrphans(server, scenario, now);
}

/** Creates the orphans again (after a run cleaned them); what a run left of them goes first. */
export function seedArchiveOrphans(server: KubeApiServer, scenario: Scenario, now: number = Date.now()): Expected {
  server.expireContinueTokens();
  const expected: Expected = new Set();
  for (const { namespace, labType, id } of sessionsOf(scenario).orphans) {
    for (const [kind, role] of ORPHAN_KINDS) {
      server.remove(kind, namespace, `${labType}-${role}-${id}`);
      expected.add(`${namespace}/${labType}-${role}-${id}`);
    }
    seedSession(server, namespace, labType, id, { now, shape: 'production' });
  }
  return expected;
}

const hex = (seed: string, n: number) => createHash('sha256').update(seed).digest('hex').repeat(2).slice(0, n);

/**
 * A session key's value as the lab platform writes it: the user, the lab's image, URL and
 * token, its environment, the workspace's open files and the exercise's progress; about 3 KB
 * of JSON.
 */
export function sessionKeyValue({ namespace, labType, id }: SessionRef, now: number): string {
  const at = (minutes: number) => new Date(now + minutes * 60_000).toISOString();
  const n = Number.parseInt(hex(id, 6), 16) % 10_000;
  return JSON.stringify({
    sessionId: id,
    namespace,
    labType,
    user: { id: `u-${hex(`${id}/user`, 10)}`, email: `student${n}@university.example.edu`, displayName: `Student ${n}`, roles: ['student'], cohort: '2026-fall-cs101', locale: 'en-US' },
    lab: {
      image: `registry.example.com/labs/${labType}:2026.11.3`,
      template: `${labType}-standard`,
      resources: { cpu: '1', memory: '2Gi', storage: '5Gi' },
      url: `https://${labType}-${id}.labs.example.edu/`,
      token: hex(`${id}/token`, 64),
    },
    startedAt: at(-120),
    lastActivityAt: at(-95),
    expiresAt: at(360),
    env: Object.fromEntries(
      ['COURSE', 'EXERCISE', 'GIT_AUTHOR_NAME', 'GIT_AUTHOR_EMAIL', 'PIP_INDEX_URL', 'JUPYTER_ENABLE_LAB', 'TZ', 'LANG', 'DATASET_URL', 'GRADER_URL', 'TELEMETRY', 'THEME'].map((name, i) => [
        name,
        `${name.toLowerCase().replace(/_/g, '-')}-${hex(`${id}/env/${i}`, 12)}`,
      ]),
    ),
    workspace: {
      repository: 'https://git.example.edu/cs101/labs.git',
      branch: `student/${hex(`${id}/branch`, 8)}`,
      commit: hex(`${id}/commit`, 40),
      openFiles: Array.from({ length: 15 }, (_, i) => `/home/jovyan/work/lab-04/part-${i + 1}/solution_${hex(`${id}/file/${i}`, 6)}.py`),
    },
    progress: {
      exercise: 'lab-04',
      steps: Array.from({ length: 12 }, (_, i) => ({
        id: `step-${i + 1}`,
        title: `Exercise 4.${i + 1}: ${['load the data', 'clean it', 'plot it', 'fit a model', 'test it', 'write it up'][i % 6]}`,
        status: i < 7 ? 'done' : 'todo',
        at: i < 7 ? at(-115 + i * 3) : null,
        attempts: i < 7 ? 1 + (i % 3) : 0,
        score: i < 7 ? 10 - (i % 4) : null,
      })),
    },
    client: { userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36', ip: `10.${n % 250}.${(n * 7) % 250}.${(n * 13) % 250}`, region: 'eu-west-1' },
  });
}

/** SETs with a TTL, 500 a write. */
async function setKeys(direct: RespClient, sessions: readonly SessionRef[], now: number): Promise<number> {
  let bytes = 0;
  for (let i = 0; i < sessions.length; i += 500) {
    const batch = sessions.slice(i, i + 500).map((s) => {
      const value = sessionKeyValue(s, now);
      bytes += Buffer.byteLength(value);
      return ['SET', `${KEY_PREFIX}${s.id}`, value, 'PX', String(KEY_TTL_MS)];
    });
    const replies = await direct.batch(batch);
    const bad = replies.find((r) => String(r) !== 'OK');
    if (bad !== undefined) throw new Error(`SET answered ${String(bad)}`);
  }
  return bytes;
}

/** Empties redis and writes every session's key; resolves to the orphans' keys' mean size in bytes. */
export async function seedArchiveKeys(direct: RespClient, scenario: Scenario, now: number = Date.now()): Promise<number> {
  await direct.call('FLUSHALL');
  const { live, orphans } = sessionsOf(scenario);
  await setKeys(direct, live, now);
  return (await setKeys(direct, orphans, now)) / Math.max(1, orphans.length);
}

/** Writes the orphans' keys again (a run deleted them). */
export async function seedArchiveOrphanKeys(direct: RespClient, scenario: Scenario, now: number = Date.now()): Promise<void> {
  await setKeys(direct, sessionsOf(scenario).orphans, now);
}
