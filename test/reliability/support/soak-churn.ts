/**
 * The churn of the race soak: what the lab-controller (and its crashes) do to the cluster
 * between runs and while a run is in flight, decided by a seeded PRNG.
 *
 * While a run is in flight, the churn acts inside the API server's `beforeServe` hook, so a
 * change lands exactly between two of the run's requests. Each request draws from its own
 * stream (seed, run, method, path, page), so a replayed seed makes the same decisions at the
 * same requests whatever order concurrent requests arrive in.
 *
 * A restart (the Deployment deleted, then recreated with a new uid) is always undone at the
 * latest when a run reads that Deployment (the product's last look before deleting), never
 * between that read and the deletes: a Deployment created in that window is a race no
 * product can see (see the report), so the soak keeps it out and counts that it did.
 *
 * The session keys churn too: sessions start key first while a run is in flight (their
 * Deployment, Service, Ingress and ConfigMap come at a later request of the run, or at the end
 * of the tick), sessions end leaving their key behind (a truly stale key, to be deleted), stale
 * keys are rewritten between ticks, and, inside the bridge's hook, just before a run's stale
 * key delete reaches Redis, the key is rewritten, taken over by a new session (key first, then
 * its resources) or deleted by the controller.
 */
import type { KubeKind, KubeObject, ParsedRequest } from '../../support/kube-api-server.js';
import { deploymentObject } from '../../support/kube-api-server.js';
import { Rng } from './soak-random.js';
import type { Namespace, World } from './soak-world.js';
import { DELETABLE_KINDS, NAMESPACES, SESSION_KEY_PREFIX, labName, parseLabName } from './soak-world.js';

/** Who watches the Deployments the churn creates (the monitor). */
export interface DeploymentWatcher {
  /** Told of every Deployment the churn creates, to see the window being hit. */
  created(namespace: string, name: string): void;
  /** Whether a run in flight (not a dry run) has read this Deployment absent: creating it now would hit the window. */
  readAbsentInFlight(namespace: string, name: string): boolean;
}

/** What the churn needs to know of a run. */
export interface ChurnRun {
  label: string;
  token: string;
}

/** A session whose Deployment the lab-controller deleted and is about to recreate. */
interface Restart {
  namespace: string;
  labType: string;
  sessionId: string;
  deployment: string;
  /** `list`: recreated later in the same run's list phase, before any of its reads; `get`: at the read of this Deployment. */
  mode: 'list' | 'get';
  startedBy: string;
  /** Whether the pods went away with it (the slice was removed), so it comes back on recreate. */
  sliceRemoved: boolean;
}

export interface ChurnStats {
  sessionsCreated: number;
  youngOrphansCreated: number;
  completed: number;
  stalled: number;
  restartsBegun: number;
  recreatedInListPhase: number;
  recreatedAtRead: number;
  recreatedAtTickEnd: number;
  resumedAtRead: number;
  instantRestarts: number;
  lostToNodeFailures: number;
  replaced: number;
  replacedAtDelete: number;
  keyFirstSessions: number;
  keyFirstAtScan: number;
  keysLeftStale: number;
  staleKeysRewritten: number;
  rewrittenAtKeyDelete: number;
  takenOverAtKeyDelete: number;
  deletedAtKeyDelete: number;
}

/** A session whose key the controller wrote first; its resources follow. */
interface Starting {
  namespace: Namespace;
  labType: string;
  sessionId: string;
  /** Its resources come once the run's lists are done (at its first request that is not a list), not before. */
  afterLists?: boolean;
}

export class Churn {
  /** False once the churn has stopped (the convergence runs). */
  enabled = true;
  readonly stats: ChurnStats = {
    sessionsCreated: 0,
    youngOrphansCreated: 0,
    completed: 0,
    stalled: 0,
    restartsBegun: 0,
    recreatedInListPhase: 0,
    recreatedAtRead: 0,
    recreatedAtTickEnd: 0,
    resumedAtRead: 0,
    instantRestarts: 0,
    lostToNodeFailures: 0,
    replaced: 0,
    replacedAtDelete: 0,
    keyFirstSessions: 0,
    keyFirstAtScan: 0,
    keysLeftStale: 0,
    staleKeysRewritten: 0,
    rewrittenAtKeyDelete: 0,
    takenOverAtKeyDelete: 0,
    deletedAtKeyDelete: 0,
  };
  /** Sessions whose key is written and whose resources are still to come. */
  private readonly starting: Starting[] = [];
  /** SCANs from a first page seen so far (each draws from its own stream). */
  private scans = 0;
  /** Stale key deletes seen so far per session id (each draws from its own stream). */
  private readonly keyDeletes = new Map<string, number>();
  private readonly restarts = new Map<string, Restart>();
  /** Sessions whose controller deleted the Deployment and died before the rest. */
  private readonly stalled: { namespace: string; labType: string; sessionId: string }[] = [];

  constructor(
    private readonly world: World,
    private readonly seed: number,
    private readonly now: () => number,
    private readonly watcher: DeploymentWatcher,
  ) {}

  /** Whether the lab-controller is between deleting and recreating this Deployment. */
  isRestarting(namespace: string, deployment: string): boolean {
    return this.restarts.has(`${namespace}/${deployment}`);
  }

  /** What happens between two ticks, when no run is in flight. */
  betweenTicks(rng: Rng): void {
    if (!this.enabled) return;
    for (let i = rng.int(0, 3); i > 0; i--) this.createSession(rng);
    if (rng.chance(0.3)) this.createYoungOrphan(rng);
    for (let i = rng.int(0, 2); i > 0; i--) this.complete(rng);
    for (const session of [...this.stalled]) if (rng.chance(0.3)) this.finishStalled(session);
    for (let i = rng.int(0, 2); i > 0; i--) this.restartInstantly(rng);
    for (let i = rng.int(0, 2); i > 0; i--) this.replaceRandom(rng);
    if (rng.chance(0.1)) this.nodeFailure(rng, rng.int(3, 12));
    if (rng.chance(0.3)) this.rewriteStaleKey(rng);
  }

  /**
   * Just before a run's stale key delete (the compare-and-delete) reaches Redis: the key may be
   * rewritten (still no session: its confirmation must start over), taken over by a new session
   * (rewritten, key first, then its Deployment and the rest, now or a little later: it must
   * never be deleted), or deleted by the controller. Resolves once Redis has the change.
   */
  async atKeyDelete(sessionId: string): Promise<void> {
    // A key a session has taken over is the session's: the controller leaves it alone.
    if (!this.enabled || this.world.liveKeys.has(sessionId)) return;
    const seen = (this.keyDeletes.get(sessionId) ?? 0) + 1;
    this.keyDeletes.set(sessionId, seen);
    const rng = Rng.of(this.seed, 'key delete', sessionId, seen);
    const what = rng.weighted<'rewrite' | 'take over' | 'delete' | 'nothing'>([
      [0.2, 'rewrite'],
      [0.3, 'take over'],
      [0.08, 'delete'],
      [0.42, 'nothing'],
    ]);
    if (what === 'rewrite') {
      await this.world.writeKey(sessionId);
      this.stats.rewrittenAtKeyDelete += 1;
    } else if (what === 'take over') {
      // The id is a session's again from the moment its key is written: before its resources exist.
      this.world.staleIds.delete(sessionId);
      this.world.reused.add(sessionId);
      this.world.liveKeys.add(sessionId);
      await this.world.writeKey(sessionId);
      const namespace = rng.pick(NAMESPACES);
      const session = { namespace, labType: this.world.labTypeFor(rng, namespace), sessionId };
      if (rng.chance(0.5)) this.finishStarting(rng, session);
      else this.starting.push(session);
      this.stats.takenOverAtKeyDelete += 1;
    } else if (what === 'delete') {
      this.world.staleIds.delete(sessionId);
      await this.world.redis.call('DEL', `${SESSION_KEY_PREFIX}${sessionId}`);
      this.stats.deletedAtKeyDelete += 1;
    }
  }

  /**
   * Just before a run's SCAN reads its first page: sometimes a session starts, key first, so that
   * the scan reads its key while the run's lists will not see its resources (they come once the
   * lists are done). The run sees a stale key: it may only sight it, never delete it.
   */
  async atScan(): Promise<void> {
    if (!this.enabled) return;
    this.scans += 1;
    const rng = Rng.of(this.seed, 'scan', this.scans);
    if (!rng.chance(0.5)) return;
    await this.startKeyFirst(rng, { afterLists: true });
    this.stats.keyFirstAtScan += 1;
  }

  /** A session starts key first, while a run is in flight: its resources come at a later request, or at the end of the tick. */
  private async startKeyFirst(rng: Rng, { afterLists }: { afterLists: boolean }): Promise<void> {
    const namespace = rng.pick(NAMESPACES);
    const sessionId = this.world.freshId(rng);
    this.world.liveKeys.add(sessionId);
    this.starting.push({ namespace, labType: this.world.labTypeFor(rng, namespace), sessionId, afterLists });
    this.stats.keyFirstSessions += 1;
    await this.world.writeKey(sessionId);
  }

  /** The resources of a session whose key is already written: Deployment, Service (ready), Ingress, ConfigMap. */
  private finishStarting(rng: Rng, session: Starting): void {
    const index = this.starting.indexOf(session);
    if (index >= 0) this.starting.splice(index, 1);
    const { namespace, labType, sessionId } = session;
    this.world.createSession(rng, { namespace, labType, sessionId, deployment: true, service: true, ingress: true, configMap: true, endpoints: 'ready', createdAt: this.now(), key: false });
    this.watcher.created(namespace, labName('Deployment', labType, sessionId));
  }

  /** A stale key rewritten (or, if a run deleted it already, written again), still with no session. */
  private rewriteStaleKey(rng: Rng): void {
    if (this.world.staleIds.size === 0) return;
    this.world.setKey(rng.pick([...this.world.staleIds]));
    this.stats.staleKeysRewritten += 1;
  }

  /**
   * A node dies and takes the Deployments of several sessions with it, for good (the
   * controller does not bring them back): a burst of orphans for the next runs to clean.
   */
  nodeFailure(rng: Rng, count: number): void {
    if (!this.enabled) return;
    const namespace = rng.pick(NAMESPACES);
    const candidates = this.world.liveSessions(namespace);
    for (let i = 0; i < count && candidates.length > 0; i++) {
      const [{ labType, sessionId }] = candidates.splice(rng.int(0, candidates.length - 1), 1) as [(typeof candidates)[number]];
      this.world.server.remove('Deployment', namespace, labName('Deployment', labType, sessionId));
      this.world.removeSlice(namespace, labName('Service', labType, sessionId));
      this.world.forgetLive(namespace, labType, sessionId);
      this.stats.lostToNodeFailures += 1;
    }
  }

  /** Called in `beforeServe` for every request of a run, before it is served. */
  atRequest(run: ChurnRun, request: ParsedRequest): void {
    this.undoRestarts(run, request);
    if (!this.enabled) return;
    const rng = Rng.of(this.seed, run.label, request.method, request.path, request.page ?? 0);
    const { verb, kind, namespace } = request;
    if (verb === 'list' && kind === 'Deployment' && request.page === 1 && namespace !== undefined && rng.chance(0.45)) {
      for (let i = rng.int(1, 3); i > 0; i--) this.beginRestart(rng, namespace, run);
    }
    if (verb === 'get' && kind === 'Deployment' && namespace !== undefined && request.name !== undefined && rng.chance(0.2)) {
      this.resume(namespace, request.name);
    }
    if (verb === 'delete' && request.query.dryRun === undefined && kind !== undefined && namespace !== undefined && request.name !== undefined && rng.chance(0.06)) {
      // The object about to be deleted is recreated under its name: the uid precondition must refuse the delete.
      if (this.replace(kind, namespace, request.name)) this.stats.replacedAtDelete += 1;
    }
    if (rng.chance(0.012)) this.createSession(rng);
    if (rng.chance(0.015)) this.world.track(this.startKeyFirst(rng, { afterLists: false }));
    for (const session of [...this.starting]) {
      if (session.afterLists ? verb !== 'list' : rng.chance(0.2)) this.finishStarting(rng, session);
    }
    if (rng.chance(0.015)) this.replaceRandom(rng);
    if (rng.chance(0.006)) this.complete(rng);
    // A stalled end finishes while a run may be about to delete the same objects: its deletes find them gone (404).
    if (this.stalled.length > 0 && rng.chance(0.02)) this.finishStalled(rng.pick(this.stalled));
  }

  /** The end of a tick: every restart still pending is finished, every session started key first gets its resources. */
  endTick(): void {
    for (const restart of [...this.restarts.values()]) {
      this.recreate(restart);
      this.stats.recreatedAtTickEnd += 1;
    }
    for (const session of [...this.starting]) this.finishStarting(Rng.of(this.seed, 'starting', session.sessionId), session);
  }

  private undoRestarts(run: ChurnRun, request: ParsedRequest): void {
    for (const restart of [...this.restarts.values()]) {
      if (request.verb === 'get' && request.kind === 'Deployment' && request.namespace === restart.namespace && request.name === restart.deployment) {
        this.recreate(restart);
        this.stats.recreatedAtRead += 1;
      } else if (restart.mode === 'list' && restart.startedBy === run.token) {
        // Before the run's first read at the latest; at a later list page with some chance.
        const listing = request.verb === 'list';
        if (!listing || Rng.of(this.seed, run.label, 'undo', restart.deployment, request.path, request.page ?? 0).chance(0.3)) {
          this.recreate(restart);
          this.stats.recreatedInListPhase += 1;
        }
      }
    }
  }

  /**
   * The controller brings an orphaned session back just as a run reads its Deployment (the
   * last look): the run must see it and spare the session. Never once a run has read it absent,
   * and never a session with nothing left (an ended session does not come back).
   */
  private resume(namespace: string, name: string): void {
    const session = parseLabName('Deployment', name);
    if (!session || this.world.server.get('Deployment', namespace, name) || this.watcher.readAbsentInFlight(namespace, name)) return;
    if (!DELETABLE_KINDS.some((kind) => this.world.server.get(kind, namespace, labName(kind, session.labType, session.sessionId)))) return;
    this.createDeployment(namespace, name);
    this.world.markLive(namespace, session.labType, session.sessionId);
    // A stalled end is called off: the controller is back in charge of the session.
    const stalled = this.stalled.findIndex((s) => s.namespace === namespace && s.labType === session.labType && s.sessionId === session.sessionId);
    if (stalled >= 0) this.stalled.splice(stalled, 1);
    this.stats.resumedAtRead += 1;
  }

  private beginRestart(rng: Rng, namespace: string, run: ChurnRun): void {
    const candidates = this.world.liveSessions(namespace);
    if (candidates.length === 0) return;
    const { labType, sessionId, deployment } = rng.pick(candidates);
    const name = deployment.metadata.name;
    this.world.server.remove('Deployment', namespace, name);
    const service = labName('Service', labType, sessionId);
    const sliceRemoved = rng.chance(0.8) && this.world.slices.has(`${namespace}/${service}`);
    if (sliceRemoved) this.world.removeSlice(namespace, service);
    this.restarts.set(`${namespace}/${name}`, {
      namespace,
      labType,
      sessionId,
      deployment: name,
      mode: rng.chance(0.5) ? 'list' : 'get',
      startedBy: run.token,
      sliceRemoved,
    });
    this.stats.restartsBegun += 1;
  }

  private recreate(restart: Restart): void {
    this.restarts.delete(`${restart.namespace}/${restart.deployment}`);
    this.createDeployment(restart.namespace, restart.deployment);
    const service = labName('Service', restart.labType, restart.sessionId);
    if (restart.sliceRemoved && this.world.server.get('Service', restart.namespace, service)) {
      this.world.createSlice(Rng.of(this.seed, 'slice', restart.deployment, this.now()), restart.namespace, service, true, this.now());
    }
  }

  private createDeployment(namespace: string, name: string): void {
    this.world.server.create('Deployment', namespace, deploymentObject(name), { creationTimestamp: new Date(this.now()) });
    this.watcher.created(namespace, name);
  }

  /** A new session, as the lab-controller creates it (all at once: no request comes in between). */
  private createSession(rng: Rng): void {
    const namespace = rng.pick(NAMESPACES);
    const sessionId = this.world.freshId(rng);
    const labType = this.world.labTypeFor(rng, namespace);
    this.world.createSession(rng, {
      namespace,
      labType,
      sessionId,
      deployment: true,
      service: true,
      ingress: true,
      configMap: true,
      endpoints: 'ready',
      createdAt: this.now(),
      key: true,
    });
    this.watcher.created(namespace, labName('Deployment', labType, sessionId));
    this.stats.sessionsCreated += 1;
  }

  /** A controller that crashed while creating a session: some resources, no Deployment, brand new. */
  private createYoungOrphan(rng: Rng): void {
    const namespace: Namespace = rng.pick(NAMESPACES);
    const [service, ingress, configMap] = rng.pick([
      [true, false, true],
      [true, true, false],
      [false, false, true],
    ] as const);
    this.world.createSession(rng, {
      namespace,
      labType: this.world.labTypeFor(rng, namespace),
      sessionId: this.world.freshId(rng),
      deployment: false,
      service,
      ingress,
      configMap,
      endpoints: 'none',
      createdAt: this.now(),
      key: rng.chance(0.5),
    });
    this.stats.youngOrphansCreated += 1;
  }

  /** A session ends: the controller deletes everything and the key, or dies after the Deployment. */
  private complete(rng: Rng): void {
    const namespace = rng.pick(NAMESPACES);
    const candidates = this.world.liveSessions(namespace);
    if (candidates.length === 0) return;
    const { labType, sessionId } = rng.pick(candidates);
    this.world.server.remove('Deployment', namespace, labName('Deployment', labType, sessionId));
    this.world.removeSlice(namespace, labName('Service', labType, sessionId));
    this.world.forgetLive(namespace, labType, sessionId);
    if (rng.chance(0.35)) {
      this.stalled.push({ namespace, labType, sessionId });
      this.stats.stalled += 1;
      return;
    }
    this.finishStalled({ namespace, labType, sessionId });
    this.stats.completed += 1;
  }

  private finishStalled(session: { namespace: string; labType: string; sessionId: string }): void {
    const index = this.stalled.indexOf(session);
    if (index >= 0) this.stalled.splice(index, 1);
    for (const kind of DELETABLE_KINDS) this.world.server.remove(kind, session.namespace, labName(kind, session.labType, session.sessionId));
    // Sometimes the key's delete is lost: a key without any session is left, for the runs to find stale.
    if (Rng.of(this.seed, 'key left', session.sessionId).chance(0.2) && this.world.resourcesOf(session.sessionId).length === 0) {
      this.world.leaveStaleKey(session.sessionId, { write: false });
      this.stats.keysLeftStale += 1;
      return;
    }
    this.world.deleteKey(session.sessionId);
  }

  /** The controller rolls a Deployment over between two runs: no run sees it missing. */
  private restartInstantly(rng: Rng): void {
    const namespace = rng.pick(NAMESPACES);
    const candidates = this.world.liveSessions(namespace);
    if (candidates.length === 0) return;
    const name = rng.pick(candidates).deployment.metadata.name;
    this.world.server.remove('Deployment', namespace, name);
    this.createDeployment(namespace, name);
    this.stats.instantRestarts += 1;
  }

  /** Some Service, Ingress or ConfigMap of a session is recreated under its name, with a new uid. */
  private replaceRandom(rng: Rng): void {
    const namespace = rng.pick(NAMESPACES);
    const kind = rng.pick(DELETABLE_KINDS);
    const named = this.world.server.list(kind, namespace).filter((o) => parseLabName(kind, o.metadata.name));
    if (named.length === 0) return;
    this.replace(kind, namespace, rng.pick(named).metadata.name);
  }

  /** Recreates an existing object with a new uid and a fresh creation time, keeping its labels and annotations. */
  private replace(kind: KubeKind, namespace: string, name: string): boolean {
    const current = this.world.server.get(kind, namespace, name);
    if (!current) return false;
    const { uid: _uid, resourceVersion: _rv, creationTimestamp: _created, ...metadata } = current.metadata;
    const fresh: KubeObject = { ...current, metadata };
    this.world.server.replace(kind, namespace, fresh, { creationTimestamp: new Date(this.now()) });
    this.stats.replaced += 1;
    return true;
  }
}
