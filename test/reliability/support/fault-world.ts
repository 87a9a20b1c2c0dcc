/**
 * The world the fault matrix runs in: one local API server, one redis-server behind the
 * Upstash bridge, one local EKS endpoint, shared by every case and reset between them; the
 * lab seeded the same way for every case; moto behind a fault-injecting proxy, and a fresh
 * directory, for the archive (fault-archive.ts); and snapshots of its state, read from the
 * servers themselves (never from the product), to judge each run by.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { KubernetesCluster } from '../../../src/adapters/kubernetes.js';
import type { RetryPolicy } from '../../../src/adapters/retry.js';
import type { Archive } from '../../../src/ports.js';
import { KEY_SIGHTINGS, LOCK_KEY, PENDING_KEYS, UpstashSessionStore, createUpstashClient, keySightingKey } from '../../../src/adapters/upstash.js';
import type { EksEndpoint } from '../../support/eks.js';
import { checkEksToken, startEksEndpoint } from '../../support/eks.js';
import type { KubeApiServer } from '../../support/kube-api-server.js';
import { startKubeApiServer } from '../../support/kube-api-server.js';
import { seedSession } from '../../support/lab.js';
import type { RedisServer } from '../../support/redis-server.js';
import { startRedisServer } from '../../support/redis-server.js';
import { RespClient } from '../../support/resp-client.js';
import { UpstashBridge } from '../../support/upstash-bridge.js';
import type { ArchiveLog, ArchiveServers, ArchiveUnderTest } from './fault-archive.js';
import { directoryArchive, emptyArchiveLog, s3Archive, startArchiveServers, stopArchiveServers, watchArchivedDeletes } from './fault-archive.js';

export const CLUSTER = 'fault-matrix';
export const REGION = 'us-east-1';
export const CREDENTIALS = { accessKeyId: 'AKIAFAULTMATRIX00001', secretAccessKey: 'fault/matrix+secret' };
export const KEY_PREFIX = 'lab_session:';

/** The namespaces of every run; faults aimed at one namespace aim at the first. */
export const NAMESPACES = ['jupyter-lab', 'ubuntu-lab'] as const;
export const FAULTED_NAMESPACE = 'jupyter-lab';
/** Small pages, so that every kind has a second page to fault. */
export const PAGE_SIZE = 2;
/**
 * Timeouts: short where the case's fault is a hang, so that it costs about a second;
 * relaxed elsewhere, so that a machine busy with other work does not time out a request the
 * case never meant to fail. Small retries with short waits.
 */
export const TIMEOUTS = { short: { kubeMs: 300, storeMs: 500 }, relaxed: { kubeMs: 3_000, storeMs: 3_000 } } as const;
export type TimeoutProfile = keyof typeof TIMEOUTS;
export const KUBE_RETRY: RetryPolicy = { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 1_500, budgetMs: 3_000 };

export type Role = 'live' | 'orphan' | 'busy';
/** One seeded session: `live` has a Deployment; `orphan` none; `busy` none but a ready endpoint. */
export interface Seeded {
  namespace: string;
  labType: string;
  sessionId: string;
  role: Role;
}

const LAB_TYPES: Record<string, string> = { 'jupyter-lab': 'jupyter', 'ubuntu-lab': 'ubuntu' };

/**
 * In jupyter-lab, where the faults aim: three live sessions, two orphans to clean, and one
 * orphan with a ready endpoint (spared: has-endpoints); that is 3 Deployments, 6 Services,
 * Ingresses and ConfigMaps and 4 EndpointSlices, so every kind has a second page of two.
 * In ubuntu-lab, reconciled beside it: one of each, and the id `shared`, live in jupyter-lab
 * and orphaned here: its ubuntu resources go, its key (shared by both) must stay.
 * Some live sessions have no ready endpoint (a lab still starting): only their Deployment
 * protects them, so a Deployment missed is a session lost.
 */
export const SESSIONS: readonly Seeded[] = [
  ...sessions('jupyter-lab', { live: ['jlive1', 'jlive2', 'shared'], orphan: ['jdead1', 'jdead2'], busy: ['jbusy'] }),
  ...sessions('ubuntu-lab', { live: ['ulive1'], orphan: ['udead1', 'shared'], busy: ['ubusy'] }),
];

function sessions(namespace: string, ids: Record<Role, string[]>): Seeded[] {
  return (Object.entries(ids) as [Role, string[]][]).flatMap(([role, list]) =>
    list.map((sessionId) => ({ namespace, labType: LAB_TYPES[namespace]!, sessionId, role })),
  );
}

/** Live sessions whose endpoints are not ready (or not there yet). */
const NOT_READY: Record<string, 'not-ready' | 'none'> = { jlive2: 'not-ready', ulive1: 'none' };

/** The ids whose key must be gone once the lab has converged: orphaned everywhere they appear. */
export const KEYS_TO_DELETE = ['jdead1', 'jdead2', 'udead1'];
/** Every id seeded with a key. */
export const ALL_IDS = [...new Set(SESSIONS.map((s) => s.sessionId))];
/** The value of a seeded session's key (what its archive record must hold). */
export const seededKeyValue = (id: string): string => JSON.stringify({ user: 'ada', id });

/**
 * The store's side of the both-directions cases (seeded by `resetWorld(w, { keys: true })`):
 * stale session keys (no resource of their id anywhere), one leaked Deployment (no key), and
 * enough other keys for the SCAN to take several pages: filler under the session prefix whose
 * ids no resource name could carry (never judged, never touched) and unrelated keys beside them.
 * 1,100 keys under the prefix and 1,000 others make three pages of SCAN COUNT 1000 on Redis 7
 * (about 530, 530 and 40 matches): stale keys and live sessions' keys fall on every page, so a
 * run that judged a partial scan would report (or delete) some and call live Deployments leaked.
 */
export const STALE_IDS = Array.from({ length: 24 }, (_, i) => `stale-${String(i).padStart(2, '0')}`);
export const LEAKED = { namespace: 'jupyter-lab', labType: 'jupyter', sessionId: 'leak1', name: 'jupyter-lab-leak1' } as const;
export const FILLER_UNDER_PREFIX = 1_100;
export const FILLER_OTHER = 1_000;
/** A filler id: upper case, so that no resource name could carry it (not judged). */
const fillerId = (i: number) => `Filler_${String(i).padStart(4, '0')}`;
const FILLER_OTHER_PREFIX = 'cache:item:';

export interface World {
  server: KubeApiServer;
  bridge: UpstashBridge;
  redis: RedisServer;
  direct: RespClient;
  eks: EksEndpoint;
  archiveServers: ArchiveServers;
  /** Where the case's runs archive: a fresh directory after each reset, or S3 ({@link useS3Archive}). */
  archive: ArchiveUnderTest;
  /** What the archive's hooks found since the last reset (and over the file). */
  archiveLog: ArchiveLog;
}

/** Starts every server; the API server accepts its own token and valid EKS tokens for CLUSTER. */
export async function startWorld(): Promise<World> {
  const redis = await startRedisServer();
  const bridge = await UpstashBridge.start({ redisPort: redis.port });
  const direct = await RespClient.connect(redis.port);
  let server: KubeApiServer | undefined;
  server = await startKubeApiServer({
    authenticate: (token) => token === server?.token || checkEksToken(token, { cluster: CLUSTER, region: REGION, ...CREDENTIALS }) === undefined,
  });
  const eks = await startEksEndpoint({ name: CLUSTER, endpoint: server.url, caData: server.caData });
  const archiveServers = await startArchiveServers();
  return { server, bridge, redis, direct, eks, archiveServers, archive: directoryArchive(archiveServers), archiveLog: emptyArchiveLog() };
}

export async function stopWorld(w: World | undefined): Promise<void> {
  if (!w) return;
  await w.direct.close();
  await w.bridge.close();
  await w.eks.close();
  await w.server.close();
  await w.redis.stop();
  await stopArchiveServers(w.archiveServers);
}

/**
 * Empties every server, then seeds the lab and its session keys (with `keys`, the stale keys,
 * the leak and the filler too); the runs archive to a fresh directory, every DELETE checked
 * against it.
 */
export async function resetWorld(w: World, options: { keys?: boolean } = {}): Promise<void> {
  w.server.reset();
  w.bridge.reset();
  w.archiveServers.proxy.reset();
  w.archive = directoryArchive(w.archiveServers);
  w.archiveLog = { ...emptyArchiveLog(), totals: w.archiveLog.totals };
  watchArchivedDeletes(w);
  w.eks.clearFaults();
  w.eks.requests.length = 0;
  w.eks.failWith = undefined;
  await w.direct.call('FLUSHALL');
  const now = Date.now();
  for (const s of SESSIONS) {
    seedSession(w.server, s.namespace, s.labType, s.sessionId, {
      deployment: s.role === 'live',
      endpoints: s.role === 'orphan' ? 'none' : (NOT_READY[s.sessionId] ?? 'ready'),
      now,
    });
  }
  for (const id of ALL_IDS) await w.direct.call('SET', `${KEY_PREFIX}${id}`, seededKeyValue(id));
  if (!options.keys) return;
  seedSession(w.server, LEAKED.namespace, LEAKED.labType, LEAKED.sessionId, { deployment: true, service: false, ingress: false, configMap: false, now });
  const values: string[] = [];
  for (const id of STALE_IDS) values.push(`${KEY_PREFIX}${id}`, JSON.stringify({ user: 'grace', id, ended: true }));
  for (let i = 0; i < FILLER_UNDER_PREFIX; i++) values.push(`${KEY_PREFIX}${fillerId(i)}`, 'filler');
  for (let i = 0; i < FILLER_OTHER; i++) values.push(`${FILLER_OTHER_PREFIX}${i}`, 'other');
  await w.direct.call('MSET', ...values);
}

/** Whether a session id is one of the filler's (never judged). */
export const isFiller = (id: string): boolean => id.startsWith('Filler_');

/** From now until the next reset, the case's runs archive to S3 (through the proxy, to moto), and the checks read S3. */
export async function useS3Archive(w: World, options: { requestTimeoutMs?: number } = {}): Promise<void> {
  w.archive = await s3Archive(w.archiveServers, options);
}

/** The product's adapters, wired to the world, as a warm Lambda keeps them between runs; the archive is the world's now. */
export function productAdapters(w: World, timeouts: TimeoutProfile): { cluster: KubernetesCluster; store: UpstashSessionStore; archive: Archive; clusterName: string } {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(w.server.kubeconfig());
  const { kubeMs, storeMs } = TIMEOUTS[timeouts];
  return {
    cluster: new KubernetesCluster({ kubeConfig, concurrency: 8, pageSize: PAGE_SIZE, retry: KUBE_RETRY, requestTimeoutMs: kubeMs }),
    store: new UpstashSessionStore(createUpstashClient({ url: w.bridge.url, token: w.bridge.token, timeoutMs: storeMs }), KEY_PREFIX),
    archive: w.archive.archive,
    clusterName: CLUSTER,
  };
}

// ---- State, as the servers hold it ----

const KINDS = ['Deployment', 'Service', 'Ingress', 'ConfigMap'] as const;
export const DELETABLE = ['Service', 'Ingress', 'ConfigMap'] as const;
const NAME = /^([a-z0-9]+)-(lab|service|ingress|config)-(.+)$/;

/** `labType`, role and session id of a lab resource name, or undefined. */
export function parseLabName(name: string): { labType: string; sessionId: string } | undefined {
  const match = NAME.exec(name);
  return match ? { labType: match[1]!, sessionId: match[3]! } : undefined;
}

export interface State {
  /** `Kind/namespace/name` → uid, for Deployments, Services, Ingresses and ConfigMaps. */
  objects: Map<string, string>;
  /** Services (by `namespace/name`) with a ready endpoint in an EndpointSlice. */
  readyServices: Set<string>;
  /** Session ids whose `lab_session:` key exists. */
  keys: Set<string>;
  /** Their values (all strings). */
  keyValues: Map<string, string>;
  lock: string | null;
  /** Milliseconds left on the lock (-1: no expiry, -2: no lock). */
  lockTtlMs: number;
  pending: string[];
  /** The stale keys' sightings (`lab-reconciler:sighting:key:{id}`), id → `{firstSeenAt}:{fingerprint}`. */
  keySightings: Map<string, string>;
  /** The members of the set of sighted stale keys. */
  keySightingSet: string[];
  /** How many of the unrelated filler keys are left. */
  otherKeys: number;
}

export async function snapshot(w: World): Promise<State> {
  const objects = new Map<string, string>();
  const readyServices = new Set<string>();
  for (const namespace of NAMESPACES) {
    for (const kind of KINDS) {
      for (const o of w.server.list(kind, namespace)) objects.set(`${kind}/${namespace}/${o.metadata.name}`, o.metadata.uid ?? '');
    }
    for (const slice of w.server.list('EndpointSlice', namespace)) {
      const service = slice.metadata.labels?.['kubernetes.io/service-name'];
      const endpoints = (slice.endpoints as { conditions?: { ready?: boolean } }[] | null) ?? [];
      if (service && endpoints.some((e) => e.conditions?.ready !== false)) readyServices.add(`${namespace}/${service}`);
    }
  }
  const rawKeys = (await w.direct.call('KEYS', `${KEY_PREFIX}*`)) as Buffer[];
  const keys = new Set(rawKeys.map((k) => String(k).slice(KEY_PREFIX.length)));
  const rawValues = rawKeys.length > 0 ? ((await w.direct.call('MGET', ...rawKeys.map(String))) as (Buffer | null)[]) : [];
  const keyValues = new Map([...keys].map((id, i) => [id, String(rawValues[i])]));
  const lock = await w.direct.call('GET', LOCK_KEY);
  const lockTtlMs = Number(await w.direct.call('PTTL', LOCK_KEY));
  const pending = ((await w.direct.call('SMEMBERS', PENDING_KEYS)) as Buffer[]).map(String).sort();
  const sightingPrefix = keySightingKey('');
  const sightingKeys = ((await w.direct.call('KEYS', `${sightingPrefix}*`)) as Buffer[]).map(String);
  const sightingValues = sightingKeys.length > 0 ? ((await w.direct.call('MGET', ...sightingKeys)) as (Buffer | null)[]) : [];
  const keySightings = new Map(sightingKeys.map((key, i) => [key.slice(sightingPrefix.length), String(sightingValues[i])]));
  const keySightingSet = ((await w.direct.call('SMEMBERS', KEY_SIGHTINGS)) as Buffer[]).map(String).sort();
  const otherKeys = ((await w.direct.call('KEYS', `${FILLER_OTHER_PREFIX}*`)) as Buffer[]).length;
  return { objects, readyServices, keys, keyValues, lock: lock === null ? null : String(lock), lockTtlMs, pending, keySightings, keySightingSet, otherKeys };
}

/** The resources (any kind, any namespace) of a session id that still exist. */
export function resourcesOfId(state: Pick<State, 'objects'>, sessionId: string): string[] {
  return [...state.objects.keys()].filter((ref) => parseLabName(ref.split('/')[2]!)?.sessionId === sessionId);
}

/** The same, read live from the API server (for the hook at each DEL of a session key). */
export function liveResourcesOfId(w: World, sessionId: string): string[] {
  const found: string[] = [];
  for (const namespace of NAMESPACES) {
    for (const kind of KINDS) {
      for (const o of w.server.list(kind, namespace)) {
        if (parseLabName(o.metadata.name)?.sessionId === sessionId) found.push(`${kind}/${namespace}/${o.metadata.name}`);
      }
    }
  }
  return found;
}

export interface Orphan {
  namespace: string;
  labType: string;
  sessionId: string;
  /** `Kind/namespace/name` of its Services, Ingresses and ConfigMaps. */
  resources: string[];
  hasReadyEndpoints: boolean;
}

/** The orphaned sessions of a namespace in a state, by the contract's definition. */
export function orphansIn(state: State, namespace: string): Orphan[] {
  const groups = new Map<string, Orphan>();
  for (const ref of state.objects.keys()) {
    const [kind, ns, name] = ref.split('/') as [string, string, string];
    if (ns !== namespace || kind === 'Deployment') continue;
    const parsed = parseLabName(name);
    if (!parsed) continue;
    if (state.objects.has(`Deployment/${namespace}/${parsed.labType}-lab-${parsed.sessionId}`)) continue;
    const key = `${parsed.labType}/${parsed.sessionId}`;
    const group = groups.get(key) ?? { namespace, ...parsed, resources: [], hasReadyEndpoints: false };
    group.resources.push(ref);
    if (kind === 'Service' && state.readyServices.has(`${namespace}/${name}`)) group.hasReadyEndpoints = true;
    groups.set(key, group);
  }
  return [...groups.values()];
}

/** What must never be deleted: every resource of the live and the busy (has-endpoints) sessions. */
export function protectedResources(initial: State): Map<string, string> {
  const kept = new Map<string, string>();
  for (const s of SESSIONS) {
    if (s.role === 'orphan') continue;
    for (const [ref, uid] of initial.objects) {
      const [, ns, name] = ref.split('/') as [string, string, string];
      const parsed = parseLabName(name);
      if (ns === s.namespace && parsed?.labType === s.labType && parsed.sessionId === s.sessionId) kept.set(ref, uid);
    }
  }
  // The leaked Deployment, when seeded: reported, never touched.
  const leaked = `Deployment/${LEAKED.namespace}/${LEAKED.name}`;
  const leakedUid = initial.objects.get(leaked);
  if (leakedUid !== undefined) kept.set(leaked, leakedUid);
  return kept;
}
