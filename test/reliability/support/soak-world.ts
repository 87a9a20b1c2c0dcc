/**
 * The race soak's world: the four lab namespaces on the local API server and the session
 * keys in Redis, seeded at random from a seed; the naming convention recomputed from the
 * contract's words (independently of src/core/naming.ts); and the lab-controller's own
 * actions (create a session, restart it, end it), which the churn applies.
 */
import type { KubeApiServer, KubeKind, KubeObject } from '../../support/kube-api-server.js';
import { configMapObject, deploymentObject, endpointSliceObject, ingressObject, serviceObject } from '../../support/kube-api-server.js';
import type { RespClient } from '../../support/resp-client.js';
import type { Rng } from './soak-random.js';

export const NAMESPACES = ['jupyter-lab', 'ubuntu-lab', 'vscode-lab', 'postgresql-lab'] as const;
export type Namespace = (typeof NAMESPACES)[number];

/** The lab type each namespace mostly holds; a few sessions of another type live beside them. */
const LAB_TYPE_OF: Readonly<Record<Namespace, string>> = {
  'jupyter-lab': 'jupyter',
  'ubuntu-lab': 'ubuntu',
  'vscode-lab': 'vscode',
  'postgresql-lab': 'postgresql',
};
const SECOND_LAB_TYPE = 'rstudio';
/** Every lab type the soak ever creates: the checks look sessions up by these. */
export const LAB_TYPES = [...Object.values(LAB_TYPE_OF), SECOND_LAB_TYPE];

export const SESSION_KEY_PREFIX = 'lab_session:';
export const LOCK_KEY = 'lab-reconciler:lock';
export const PENDING_KEYS = 'lab-reconciler:pending-session-keys';
export const SIGHTING_PREFIX = 'lab-reconciler:sighting:';
/** A stale key's sighting, and the set of the sighted ones (the product's names, from the contract). */
export const KEY_SIGHTING_PREFIX = 'lab-reconciler:sighting:key:';
export const KEY_SIGHTINGS = 'lab-reconciler:key-sightings';
export const KEEP_ANNOTATION = 'lab-reconciler/keep';

export type LabKind = 'Deployment' | 'Service' | 'Ingress' | 'ConfigMap';
export const LAB_KINDS: readonly LabKind[] = ['Deployment', 'Service', 'Ingress', 'ConfigMap'];
export const DELETABLE_KINDS: readonly LabKind[] = ['Service', 'Ingress', 'ConfigMap'];
const ROLE: Readonly<Record<LabKind, string>> = { Deployment: 'lab', Service: 'service', Ingress: 'ingress', ConfigMap: 'config' };

/**
 * The contract's convention: `{labType}-{role}-{sessionId}`, labType one run of `[a-z0-9]`,
 * the session id the (non-empty) rest. Undefined for a name outside it.
 */
export function parseLabName(kind: LabKind, name: string): { labType: string; sessionId: string } | undefined {
  const match = /^([a-z0-9]+)-([a-z]+)-(.+)$/.exec(name);
  if (!match || match[2] !== ROLE[kind]) return undefined;
  return { labType: match[1]!, sessionId: match[3]! };
}

export function labName(kind: LabKind, labType: string, sessionId: string): string {
  return `${labType}-${ROLE[kind]}-${sessionId}`;
}

/**
 * The session id a stale key delete is for: the product's compare-and-delete,
 * `EVAL script 4 {sessionKey} {its sighting} {KEY_SIGHTINGS} {delete's mark} {sessionId} {now} {ttl} {firstSeenAt}`;
 * undefined for any other command.
 */
export function staleKeyDeleteOf(command: readonly string[]): string | undefined {
  if (command[0] !== 'EVAL' || command[2] !== '4' || command[5] !== KEY_SIGHTINGS) return undefined;
  const id = command[7];
  return id !== undefined && command[3] === `${SESSION_KEY_PREFIX}${id}` && command[4] === `${KEY_SIGHTING_PREFIX}${id}` ? id : undefined;
}

export function sightingKey(namespace: string, sessionId: string): string {
  return `${SIGHTING_PREFIX}${namespace}:${sessionId}`;
}

/** One session as the lab-controller (or a crash of it) left it. */
export interface SessionShape {
  namespace: Namespace;
  labType: string;
  sessionId: string;
  deployment: boolean;
  service: boolean;
  ingress: boolean;
  configMap: boolean;
  /** The Service's EndpointSlice. */
  endpoints: 'ready' | 'not-ready' | 'none';
  /** Which resource carries `lab-reconciler/keep: "true"`, if any. */
  keepOn?: 'Service' | 'Ingress' | 'ConfigMap';
  /** Creation time of every resource (virtual epoch ms). */
  createdAt: number;
  /** Whether its `lab_session:` key exists. */
  key: boolean;
}

/** What the world knows that the server does not say: fresh ids, slices, untouchables. */
export class World {
  /** Every session id ever used in this seed: new sessions never reuse one. */
  readonly usedIds = new Set<string>();
  /** The EndpointSlice of each Service (`{namespace}/{service}` → slice name). */
  readonly slices = new Map<string, string>();
  /**
   * The live sessions the lab-controller made (`{namespace}/{labType}/{id}` → `Kind/name` of
   * their Services, Ingresses and ConfigMaps): none of these may ever go while the session lives.
   */
  readonly live = new Map<string, string[]>();
  /** Objects outside the naming convention, with the uid they must keep to the end. */
  readonly untouchable: { kind: KubeKind; namespace: string; name: string; uid: string }[] = [];
  /**
   * The session ids whose key belongs to a live session: written (key first) for a session that
   * has, or is about to get, its Deployment, until that session ends. None of these keys may
   * ever be deleted by a run.
   */
  readonly liveKeys = new Set<string>();
  /** Ids whose stale key a new session took over (rewritten, then given resources). */
  readonly reused = new Set<string>();
  /** Ids with a key and, as far as the lab-controller knows, no session: truly stale keys. */
  readonly staleIds = new Set<string>();
  /** Key writes and deletes of the lab-controller, awaited before the state is judged. */
  private readonly keyWrites: Promise<unknown>[] = [];
  /** Every key write has its own value, as a new session's would: a rewrite changes the key. */
  private keyGeneration = 0;

  constructor(
    readonly server: KubeApiServer,
    readonly redis: RespClient,
  ) {}

  /** A session id never used before: mostly 8 hex digits, sometimes with a `-` or `.` inside. */
  freshId(rng: Rng): string {
    for (;;) {
      const id = rng.weighted<string>([
        [0.8, rng.chars(8)],
        [0.1, `${rng.chars(4)}-${rng.chars(4)}`],
        [0.05, `${rng.chars(4)}.${rng.chars(3)}`],
        // A session id that itself contains the role word: the lab type still ends at the first hyphen.
        [0.05, `${rng.chars(3)}-service-${rng.chars(3)}`],
      ]);
      if (!this.usedIds.has(id)) {
        this.usedIds.add(id);
        return id;
      }
    }
  }

  labTypeFor(rng: Rng, namespace: Namespace): string {
    return rng.chance(0.1) ? SECOND_LAB_TYPE : LAB_TYPE_OF[namespace];
  }

  /** Creates a session's resources (and key) as described. */
  createSession(rng: Rng, shape: SessionShape): void {
    const { namespace, labType, sessionId } = shape;
    this.usedIds.add(sessionId);
    const options = { creationTimestamp: new Date(shape.createdAt) };
    const keep = (kind: LabKind) => (shape.keepOn === kind ? { annotations: { [KEEP_ANNOTATION]: 'true' } } : {});
    const service = labName('Service', labType, sessionId);
    if (shape.deployment) this.server.create('Deployment', namespace, deploymentObject(labName('Deployment', labType, sessionId)), options);
    if (shape.service) {
      this.server.create('Service', namespace, serviceObject(service, keep('Service')), options);
      if (shape.endpoints !== 'none') this.createSlice(rng, namespace, service, shape.endpoints === 'ready', shape.createdAt);
    }
    if (shape.ingress) this.server.create('Ingress', namespace, ingressObject(labName('Ingress', labType, sessionId), { serviceName: service, ...keep('Ingress') }), options);
    if (shape.configMap) this.server.create('ConfigMap', namespace, configMapObject(labName('ConfigMap', labType, sessionId), keep('ConfigMap')), options);
    if (shape.key) this.setKey(sessionId);
    if (shape.deployment) this.markLive(namespace, labType, sessionId);
    if (shape.deployment && shape.key) this.liveKeys.add(sessionId);
  }

  /** Remembers a session as live, with the resources it has now. */
  markLive(namespace: string, labType: string, sessionId: string): void {
    const resources = DELETABLE_KINDS.filter((kind) => this.server.get(kind, namespace, labName(kind, labType, sessionId))).map(
      (kind) => `${kind}/${labName(kind, labType, sessionId)}`,
    );
    this.live.set(`${namespace}/${labType}/${sessionId}`, resources);
  }

  /** The session ended: the controller is about to delete it (its key is no longer a live session's). */
  forgetLive(namespace: string, labType: string, sessionId: string): void {
    this.live.delete(`${namespace}/${labType}/${sessionId}`);
    this.liveKeys.delete(sessionId);
  }

  /** The EndpointSlice of a Service, named like the controller's generateName. */
  createSlice(rng: Rng, namespace: string, service: string, ready: boolean, createdAt: number): void {
    const name = `${service}-${rng.chars(5, 'bcdfghjklmnpqrstvwxz2456789')}`;
    this.server.create('EndpointSlice', namespace, endpointSliceObject(service, { name, ready, addresses: ['10.1.0.1'] }), {
      creationTimestamp: new Date(createdAt),
    });
    this.slices.set(`${namespace}/${service}`, name);
  }

  removeSlice(namespace: string, service: string): void {
    const name = this.slices.get(`${namespace}/${service}`);
    if (name === undefined) return;
    this.server.remove('EndpointSlice', namespace, name);
    this.slices.delete(`${namespace}/${service}`);
  }

  /** Whether a Service has an EndpointSlice with a ready endpoint now. */
  hasReadyEndpoints(namespace: string, service: string): boolean {
    const name = this.slices.get(`${namespace}/${service}`);
    const slice = name === undefined ? undefined : this.server.get('EndpointSlice', namespace, name);
    const endpoints = (slice?.endpoints ?? []) as { conditions?: { ready?: boolean } }[];
    return endpoints.some((e) => e.conditions?.ready !== false);
  }

  setKey(sessionId: string): void {
    this.track(this.writeKey(sessionId));
  }

  /** A write to Redis under way, awaited by {@link settleKeyWrites}. */
  track(write: Promise<unknown>): void {
    this.keyWrites.push(write);
  }

  /** Writes a session key now, with a value of its own; resolves once Redis has it. */
  async writeKey(sessionId: string): Promise<void> {
    this.keyGeneration += 1;
    await this.redis.call('SET', `${SESSION_KEY_PREFIX}${sessionId}`, JSON.stringify({ sessionId, status: 'running', generation: this.keyGeneration }));
  }

  /** The lab-controller deletes a key: straight to Redis, not through the bridge the product uses. */
  deleteKey(sessionId: string): void {
    this.liveKeys.delete(sessionId);
    this.staleIds.delete(sessionId);
    this.keyWrites.push(this.redis.call('DEL', `${SESSION_KEY_PREFIX}${sessionId}`));
  }

  /** A key left behind with no session at all (the session ended, the controller lost the key's delete); `write`: written now. */
  leaveStaleKey(sessionId: string, { write }: { write: boolean }): void {
    this.usedIds.add(sessionId);
    this.staleIds.add(sessionId);
    if (write) this.setKey(sessionId);
  }

  async settleKeyWrites(): Promise<void> {
    await Promise.all(this.keyWrites.splice(0));
  }

  /** The live sessions of a namespace: those with a Deployment of the convention. */
  liveSessions(namespace: string): { labType: string; sessionId: string; deployment: KubeObject }[] {
    return this.server.list('Deployment', namespace).flatMap((deployment) => {
      const name = parseLabName('Deployment', deployment.metadata.name);
      return name ? [{ ...name, deployment }] : [];
    });
  }

  /** Whether any Deployment, Service, Ingress or ConfigMap of this session id exists, in any namespace and lab type. */
  resourcesOf(sessionId: string): string[] {
    const found: string[] = [];
    for (const namespace of NAMESPACES) {
      for (const labType of LAB_TYPES) {
        for (const kind of LAB_KINDS) {
          const name = labName(kind, labType, sessionId);
          if (this.server.get(kind, namespace, name)) found.push(`${kind} ${namespace}/${name}`);
        }
      }
    }
    return found;
  }

  /** The whole lab world as it is now, grouped by session, for the end-state checks. */
  snapshot(): WorldSnapshot {
    const sessions = new Map<string, SessionState>();
    for (const namespace of NAMESPACES) {
      for (const kind of LAB_KINDS) {
        for (const object of this.server.list(kind, namespace)) {
          const name = parseLabName(kind, object.metadata.name);
          if (!name) continue;
          const id = `${namespace}/${name.labType}/${name.sessionId}`;
          let state = sessions.get(id);
          if (!state) {
            state = { namespace, ...name, deployment: false, resources: [], keep: false, readyEndpoints: false };
            sessions.set(id, state);
          }
          if (kind === 'Deployment') {
            state.deployment = true;
            continue;
          }
          state.resources.push(`${kind}/${object.metadata.name}`);
          if (object.metadata.annotations?.[KEEP_ANNOTATION] === 'true') state.keep = true;
          if (kind === 'Service' && this.hasReadyEndpoints(namespace, object.metadata.name)) state.readyEndpoints = true;
        }
      }
    }
    return { sessions: [...sessions.values()] };
  }

  /** Seeds a random cluster of `perNamespace` sessions (about) per namespace; see {@link SessionShape}. */
  seed(rng: Rng, now: number, perNamespace: number): SeedCounts {
    const counts: SeedCounts = { live: 0, orphans: 0, withEndpoints: 0, young: 0, keep: 0, sharedIds: 0, outside: 0, staleKeys: 0 };
    const liveIds: string[] = [];
    for (const namespace of NAMESPACES) {
      for (let i = 0; i < perNamespace; i++) {
        const kind = rng.weighted<Exclude<keyof SeedCounts, 'staleKeys'>>([
          [0.5, 'live'],
          [0.22, 'orphans'],
          [0.06, 'withEndpoints'],
          [0.08, 'young'],
          [0.06, 'keep'],
          [0.04, 'sharedIds'],
          [0.04, 'outside'],
        ]);
        counts[kind] += 1;
        const old = now - rng.int(10 * 60_000, 48 * 3_600_000);
        const base = { namespace, labType: this.labTypeFor(rng, namespace), createdAt: old };
        const parts = () => {
          // An orphan has at least one of Service, Ingress, ConfigMap: a crash can leave any subset.
          const [service, ingress, configMap] = rng.pick([
            [true, true, true],
            [true, true, true],
            [true, false, false],
            [false, true, false],
            [false, false, true],
            [true, false, true],
            [false, true, true],
          ] as const);
          return { service, ingress, configMap };
        };
        switch (kind) {
          case 'live': {
            const sessionId = this.freshId(rng);
            liveIds.push(sessionId);
            const partial = rng.chance(0.1);
            this.createSession(rng, {
              ...base,
              sessionId,
              deployment: true,
              service: true,
              ingress: !partial,
              configMap: !partial,
              endpoints: rng.chance(0.85) ? 'ready' : 'not-ready',
              // Some live sessions are younger than the grace period: alive whatever their age.
              createdAt: rng.chance(0.1) ? now - rng.int(0, 250_000) : old,
              key: true,
            });
            break;
          }
          case 'orphans':
            this.createSession(rng, { ...base, sessionId: this.freshId(rng), deployment: false, ...parts(), endpoints: rng.pick(['none', 'not-ready'] as const), key: rng.chance(0.7) });
            break;
          case 'withEndpoints':
            this.createSession(rng, { ...base, sessionId: this.freshId(rng), deployment: false, service: true, ingress: rng.chance(0.5), configMap: rng.chance(0.5), endpoints: 'ready', key: true });
            break;
          case 'young':
            this.createSession(rng, { ...base, sessionId: this.freshId(rng), deployment: false, ...parts(), endpoints: 'none', createdAt: now - rng.int(0, 280_000), key: rng.chance(0.7) });
            break;
          case 'keep': {
            const shape = { ...base, sessionId: this.freshId(rng), deployment: false, ...parts(), endpoints: 'none' as const, key: rng.chance(0.7) };
            const present = (['Service', 'Ingress', 'ConfigMap'] as const).filter((k) => shape[k === 'Service' ? 'service' : k === 'Ingress' ? 'ingress' : 'configMap']);
            this.createSession(rng, { ...shape, keepOn: rng.pick(present) });
            break;
          }
          case 'sharedIds': {
            // An orphan whose id is alive elsewhere (another namespace, or another lab type here):
            // its resources go, the shared key stays.
            const sessionId = liveIds.length > 0 ? rng.pick(liveIds) : this.freshId(rng);
            const labType = base.labType === SECOND_LAB_TYPE ? LAB_TYPE_OF[namespace] : SECOND_LAB_TYPE;
            if (LAB_KINDS.some((k) => this.server.get(k, namespace, labName(k, labType, sessionId)))) break;
            this.createSession(rng, { ...base, labType, sessionId, deployment: false, ...parts(), endpoints: 'none', key: true });
            break;
          }
          case 'outside':
            this.createOutside(rng, namespace, base.labType, old);
            break;
        }
      }
    }
    // Keys whose sessions ended long ago, resources and all: stale from the first run on.
    counts.staleKeys = rng.int(5, 10);
    for (let i = 0; i < counts.staleKeys; i++) this.leaveStaleKey(this.freshId(rng), { write: true });
    return counts;
  }

  /** An object whose name looks like a lab resource but is outside the convention: never touched. */
  private createOutside(rng: Rng, namespace: string, labType: string, createdAt: number): void {
    const id = rng.chars(8);
    const [kind, name] = rng.pick<readonly [KubeKind, string]>([
      ['Service', `redis-primary-${id}`],
      ['Service', `${labType}-svc-${id}`],
      ['Service', `${labType}-service-`],
      ['Service', `-service-${id}`],
      ['Service', `Jupyter-service-${id}`],
      ['Service', `${labType}_service_${id}`],
      ['ConfigMap', `kube-root-ca.crt-${id}`],
      ['ConfigMap', `${labType}-service-${id}`],
      ['Ingress', `${labType}-config-${id}`],
      ['Ingress', `${labType}-lab-${id}`],
    ]);
    if (this.server.get(kind, namespace, name)) return;
    const object = this.server.create(kind, namespace, name, { creationTimestamp: new Date(createdAt) });
    this.untouchable.push({ kind, namespace, name, uid: object.metadata.uid! });
  }
}

export interface SeedCounts {
  live: number;
  orphans: number;
  withEndpoints: number;
  young: number;
  keep: number;
  sharedIds: number;
  outside: number;
  /** Keys without any session: not sessions, but counted here. */
  staleKeys: number;
}

/** One session (namespace, lab type, id) as found on the server. */
export interface SessionState {
  namespace: string;
  labType: string;
  sessionId: string;
  deployment: boolean;
  /** `Kind/name` of its Services, Ingresses and ConfigMaps. */
  resources: string[];
  keep: boolean;
  readyEndpoints: boolean;
}

export interface WorldSnapshot {
  sessions: SessionState[];
}
