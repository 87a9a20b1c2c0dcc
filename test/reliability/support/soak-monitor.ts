/**
 * The race soak's invariants, checked while the runs are in flight (at each DELETE the API
 * server serves, at each DEL of a session key and each stale key delete the bridge passes to
 * Redis, at each request for who is acting), after each run (its summary against what the
 * servers saw), after each tick (every live session's key still there), and at the end (the
 * clean state: no key without a session left, so the truly stale keys were deleted); and, with
 * the archive (soak-archive.ts), at each DELETE and each key delete (stale keys too), that a
 * record already holds that uid or value, and at the end that they all still do. Every
 * breach is written down as a sentence naming the run, the object and the moment; the test
 * asserts that none was.
 */
import type { KubeObject, ParsedRequest } from '../../support/kube-api-server.js';
import { keyDeletesIn, sessionKeysDeletedBy } from './archive-records.js';
import type { SoakArchive } from './soak-archive.js';
import type { Churn } from './soak-churn.js';
import type { MonitorStats, SoakRun } from './soak-run.js';
import { staleKeyDeleteOf } from './soak-world.js';
import type { LabKind, World } from './soak-world.js';
import {
  DELETABLE_KINDS,
  KEEP_ANNOTATION,
  KEY_SIGHTINGS,
  KEY_SIGHTING_PREFIX,
  LAB_TYPES,
  LOCK_KEY,
  PENDING_KEYS,
  SESSION_KEY_PREFIX,
  SIGHTING_PREFIX,
  labName,
  parseLabName,
  sightingKey,
} from './soak-world.js';

export type { MonitorStats, SoakRun } from './soak-run.js';

const MAX_VIOLATIONS = 50;

export class Monitor {
  readonly violations: string[] = [];
  readonly stats: MonitorStats = {
    runs: 0,
    locked: 0,
    aborted: 0,
    partial: 0,
    dryRuns: 0,
    deletes: {},
    conflicts: 0,
    sessionsCleaned: 0,
    sparedReappeared: 0,
    keyDeletesChecked: 0,
    windowHits: 0,
    staleKeyDeletesSent: 0,
    staleKeysDeleted: 0,
    staleKeysGone: 0,
    liveKeysChecked: 0,
  };
  /** Where the soak is (`tick 7`, `convergence`), for breaches that belong to no run. */
  phase = 'seeding';
  churn: Churn | undefined;
  /** Where the runs archive, checked at each delete. */
  archive: SoakArchive | undefined;

  private readonly runs = new Map<string, SoakRun>();
  /** The run that sent the latest delete, and the runs whose deletes must not resume since another's began. */
  private acting: SoakRun | undefined;
  private readonly done = new Set<string>();
  private readonly interleaved = new Set<string>();
  /** The object each DELETE found, taken just before it was served. */
  private readonly deleting = new WeakMap<ParsedRequest, KubeObject | undefined>();
  private readonly pending: Promise<void>[] = [];
  /** Who last sent a delete of each session key through the bridge, to explain a key lost. */
  private readonly lastDelete = new Map<string, string>();

  constructor(
    private readonly world: World,
    private readonly options: { confirmSeconds: number; minAgeSeconds: number },
  ) {}

  breach(message: string): void {
    if (this.violations.length < MAX_VIOLATIONS) this.violations.push(`[${this.phase}] ${message}`);
    else if (this.violations.length === MAX_VIOLATIONS) this.violations.push('... more breaches left out');
  }

  register(run: SoakRun): void {
    this.runs.set(run.token, run);
    this.stats.runs += 1;
    if (run.settings.dryRun) this.stats.dryRuns += 1;
  }

  /** The API server's `beforeServe`: who is acting, the churn, and the object a DELETE is about to remove. */
  beforeServe(request: ParsedRequest): void {
    const run = this.runs.get(request.token ?? '');
    if (!run) return;
    run.requests += 1;
    this.checkActing(run, request);
    this.churn?.atRequest(run, request);
    run.onRequest?.(run.requests);
    if (request.verb === 'delete' && request.kind && request.namespace !== undefined && request.name !== undefined) {
      this.deleting.set(request, this.world.server.get(request.kind, request.namespace, request.name));
    }
  }

  /** The API server's `afterServe`: the invariants at the moment of each delete. */
  afterServe(request: ParsedRequest, answer: { code: number }): void {
    const run = this.runs.get(request.token ?? '');
    if (!run) return;
    const { kind, namespace, name } = request;
    if (kind === undefined || namespace === undefined || name === undefined) return;
    if (request.verb === 'get' && kind === 'Deployment' && answer.code === 404) run.readAbsent.add(`${namespace}/${name}`);
    if (request.verb !== 'delete') return;
    const dryRun = request.query.dryRun !== undefined;
    const code = `${answer.code}${dryRun ? ' dry' : ''}`;
    this.stats.deletes[code] = (this.stats.deletes[code] ?? 0) + 1;
    if (answer.code === 409) this.stats.conflicts += 1;
    if (!dryRun && run.settings.dryRun) this.breach(`${run.label}, a dry run, sent DELETE ${kind} ${namespace}/${name} without dryRun`);
    if (answer.code !== 200 || dryRun) return;
    run.deletesAccepted += 1;
    this.checkDelete(run, kind as LabKind, namespace, name, this.deleting.get(request));
    this.archive?.atDelete(run.label, kind, namespace, name, this.deleting.get(request)?.metadata.uid);
  }

  /**
   * The bridge's `beforeCommand`: a session key goes only when no resource of its session id is
   * left, and a record holds its value; so does a stale key (checked before the churn acts on it: a key a new session took
   * over is the session's, and its protection is checkLiveKeys'). Then the churn's turn at a
   * stale key delete, awaited: the command reaches Redis only after it.
   */
  beforeCommand(command: readonly string[]): void | Promise<void> {
    if (command[0] === 'SCAN' && command[1] === '0') return this.churn?.atScan();
    // A DEL, or the compare-and-delete of a key archived.
    const keys = sessionKeysDeletedBy(command, SESSION_KEY_PREFIX);
    if (keys.length > 0) {
      for (const key of keys) {
        this.stats.keyDeletesChecked += 1;
        this.lastDelete.set(key, `a ${command[0]} sent in ${this.phase}`);
        const left = this.world.resourcesOf(key.slice(SESSION_KEY_PREFIX.length));
        if (left.length > 0) this.breach(`the session key ${key} was deleted while ${left.join(', ')} existed`);
      }
      return this.archive?.atKeyDelete(this.phase, keyDeletesIn(command, SESSION_KEY_PREFIX), this.world.redis);
    }
    if (command[0] === 'DEL') return;
    const id = staleKeyDeleteOf(command);
    if (id === undefined) return;
    const key = `${SESSION_KEY_PREFIX}${id}`;
    this.stats.staleKeyDeletesSent += 1;
    this.lastDelete.set(key, `a stale key delete sent in ${this.phase}`);
    // A key a new session took over may still meet another run's delete (a run that outlived its
    // lock): the compare-and-delete must find it changed; checkLiveKeys sees to it.
    if (!this.world.reused.has(id)) {
      if (this.world.liveKeys.has(id)) this.breach(`a stale key delete was sent for ${key}, the key of a live session`);
      const left = this.world.resourcesOf(id);
      if (left.length > 0) this.breach(`a stale key delete was sent for ${key} while ${left.join(', ')} existed`);
    }
    // The archive's check first: the churn may rewrite the key before the delete reaches Redis.
    const checked = this.archive?.atKeyDelete(this.phase, keyDeletesIn(command, SESSION_KEY_PREFIX), this.world.redis);
    return checked ? checked.then(() => this.churn?.atKeyDelete(id)) : this.churn?.atKeyDelete(id);
  }

  /**
   * After each tick, and at the end: the key of every live session (written for a session that
   * has, or is about to get, its Deployment) is still in Redis. Only the controller deletes
   * those, when the session ends.
   */
  async checkLiveKeys(): Promise<void> {
    const ids = [...this.world.liveKeys];
    if (ids.length === 0) return;
    const values = (await this.world.redis.call('MGET', ...ids.map((id) => `${SESSION_KEY_PREFIX}${id}`))) as (Buffer | null)[];
    this.stats.liveKeysChecked += ids.length;
    ids.forEach((id, i) => {
      if (values[i] !== null) return;
      const key = `${SESSION_KEY_PREFIX}${id}`;
      const resources = this.world.resourcesOf(id);
      this.breach(
        `the key ${key} of a live session${this.world.reused.has(id) ? ' (which took over a stale key)' : ''} was deleted (last delete seen: ${this.lastDelete.get(key) ?? 'none through the bridge'}; resources: ${resources.join(', ') || 'not yet created'})`,
      );
    });
  }

  /** A Deployment the churn created: if a run in flight has read it absent, its deletes may follow (the window). */
  deploymentCreated(namespace: string, name: string): void {
    for (const run of this.runs.values()) {
      if (!run.finished && !run.settings.dryRun && run.readAbsent.has(`${namespace}/${name}`)) {
        this.stats.windowHits += 1;
        this.breach(`harness: the churn created Deployment ${namespace}/${name} after ${run.label} read it absent (the window no product can close)`);
      }
    }
  }

  readAbsentInFlight(namespace: string, name: string): boolean {
    return [...this.runs.values()].some((run) => !run.finished && !run.settings.dryRun && run.readAbsent.has(`${namespace}/${name}`));
  }

  /** Waits for the checks that read Redis. */
  async settle(): Promise<void> {
    await Promise.all(this.pending.splice(0));
  }

  /**
   * Never two runs acting at once: once a run's deletes have begun, no earlier run may delete
   * again, so the deletes of two runs never interleave. A dry run takes no lock (the contract:
   * it writes nothing to the session store) and deletes nothing, so it is left out.
   */
  private checkActing(run: SoakRun, request: ParsedRequest): void {
    if (run.settings.dryRun || request.verb !== 'delete' || request.query.dryRun !== undefined || this.acting === run) return;
    const other = this.acting;
    if (this.done.has(run.token) && other && !this.interleaved.has(`${run.token} ${other.token}`)) {
      // Once per pair: the first delete that resumed after the other run's had begun.
      this.interleaved.add(`${run.token} ${other.token}`).add(`${other.token} ${run.token}`);
      this.breach(
        `two runs acted at once: ${run.label} sent DELETE ${request.kind} ${request.namespace}/${request.name} after ${other.label} had begun deleting (their deletes interleaved)`,
      );
    }
    if (this.acting) this.done.add(this.acting.token);
    this.acting = run;
  }

  private checkDelete(run: SoakRun, kind: LabKind, namespace: string, name: string, object: KubeObject | undefined): void {
    const what = `${run.label} deleted ${kind} ${namespace}/${name}`;
    if (!DELETABLE_KINDS.includes(kind)) {
      this.breach(`${what}: only Services, Ingresses and ConfigMaps may ever be deleted`);
      return;
    }
    const session = parseLabName(kind, name);
    if (!session) {
      this.breach(`${what}, a name outside the naming convention`);
      return;
    }
    const { labType, sessionId } = session;
    const deployment = labName('Deployment', labType, sessionId);
    if (this.world.server.get('Deployment', namespace, deployment)) {
      this.breach(`${what} while Deployment ${namespace}/${deployment} existed: a live session lost a resource`);
    }
    if (this.churn?.isRestarting(namespace, deployment)) {
      this.breach(`${what} while the lab-controller was restarting the session (its Deployment is recreated at the latest when a run reads it)`);
    }
    if (!run.readAbsent.has(`${namespace}/${deployment}`)) {
      this.breach(`${what} without having read Deployment ${namespace}/${deployment} absent first in this run (the last look before deleting)`);
    }
    const keep = DELETABLE_KINDS.some((k) => this.world.server.get(k, namespace, labName(k, labType, sessionId))?.metadata.annotations?.[KEEP_ANNOTATION] === 'true');
    if (keep || object?.metadata.annotations?.[KEEP_ANNOTATION] === 'true') {
      this.breach(`${what} of a session annotated ${KEEP_ANNOTATION}: "true"`);
    }
    if (this.world.hasReadyEndpoints(namespace, labName('Service', labType, sessionId))) {
      this.breach(`${what} of a session whose Service has ready endpoints`);
    }
    const created = Date.parse(object?.metadata.creationTimestamp ?? '');
    if (!(created <= run.now - this.options.minAgeSeconds * 1000)) {
      this.breach(`${what}, created ${object?.metadata.creationTimestamp ?? 'at no known time'}, younger than the grace period at ${new Date(run.now).toISOString()}`);
    }
    const { confirmSeconds } = this.options;
    if (confirmSeconds > 0) {
      const key = sightingKey(namespace, sessionId);
      this.pending.push(
        this.world.redis.call('GET', key).then((value) => {
          const seen = value === null ? Number.NaN : Number(String(value));
          if (!(run.now - seen >= confirmSeconds * 1000)) {
            this.breach(`${what} of a session not seen orphaned ${confirmSeconds} s before (${key} = ${value === null ? 'absent' : String(value)}, run at ${run.now})`);
          }
        }),
      );
    }
  }

  /** After a run: its summary against what the servers saw. */
  checkRun(run: SoakRun, context: { lockMayBeHeld: boolean }): void {
    const summary = run.summary;
    if (!summary) {
      this.breach(`${run.label} did not finish`);
      return;
    }
    const where = `${run.label} (${summary.status})`;
    if (summary.status === 'locked') {
      this.stats.locked += 1;
      if (!context.lockMayBeHeld) this.breach(`${where} found the lock held although no other run was in flight`);
      if (run.requests > 0) this.breach(`${where} sent ${run.requests} requests to the API server although it did not hold the lock`);
      return;
    }
    if (summary.status === 'aborted') this.stats.aborted += 1;
    if (summary.status === 'partial') this.stats.partial += 1;
    if (!['ok', 'partial', 'aborted'].includes(summary.status)) {
      this.breach(`${where}: status ${summary.status}, with no fault injected (errors: ${run.errors.slice(0, 3).join(' | ')})`);
    }
    for (const ns of summary.namespaces) if (ns.error) this.breach(`${where}: namespace ${ns.namespace} was not reconciled: ${ns.error}`);
    if (!summary.dryRun && summary.totals.resourcesDeleted !== run.deletesAccepted) {
      this.breach(`${where} reported resourcesDeleted ${summary.totals.resourcesDeleted}, but the API server accepted ${run.deletesAccepted} deletes from it`);
    }
    if (summary.status === 'aborted' && run.deletesAccepted > 0) this.breach(`${where} deleted ${run.deletesAccepted} resources although the circuit breaker opened`);
    const staleDeleted = summary.staleSessionKeys.filter((k) => k.action === 'deleted');
    if (summary.totals.staleSessionKeysDeleted !== staleDeleted.length) {
      this.breach(`${where} reported staleSessionKeysDeleted ${summary.totals.staleSessionKeysDeleted}, but ${staleDeleted.length} stale keys deleted`);
    }
    for (const k of summary.staleSessionKeys) {
      if (k.action === 'deleted') this.stats.staleKeysDeleted += 1;
      if (k.reason === 'gone') this.stats.staleKeysGone += 1;
      if (summary.dryRun && (k.action === 'deleted' || k.action === 'failed')) this.breach(`${where}, a dry run, reported stale key ${k.key} ${k.action}`);
      if (k.action === 'deleted' && this.world.liveKeys.has(k.sessionId)) this.breach(`${where} deleted stale key ${k.key}, the key of a live session`);
      if (k.action === 'deleted' && k.firstSeenAt !== undefined && run.now - Date.parse(k.firstSeenAt) < Math.max(this.options.minAgeSeconds, this.options.confirmSeconds) * 1000) {
        this.breach(`${where} deleted stale key ${k.key}, first seen stale at ${k.firstSeenAt}, before its confirm period was over`);
      }
    }
    for (const session of summary.sessions) {
      if (session.reason === 'deployment-reappeared') this.stats.sparedReappeared += 1;
      if (session.action !== 'cleaned') continue;
      this.stats.sessionsCleaned += 1;
      for (const resource of session.resources) {
        const [kind, name] = resource.split('/') as [LabKind, string];
        if (this.world.server.get(kind, session.namespace, name)) {
          this.breach(`${where} reported ${session.namespace}/${session.labType}/${session.sessionId} cleaned, but ${kind} ${session.namespace}/${name} is still there`);
        }
      }
    }
  }

  /** Between ticks: every live session still has every resource it was made with. */
  checkLiveSessions(): void {
    for (const [id, resources] of this.world.live) {
      const [namespace, labType, sessionId] = id.split('/') as [string, string, string];
      const deployment = labName('Deployment', labType, sessionId);
      if (!this.world.server.get('Deployment', namespace, deployment)) continue;
      for (const resource of resources) {
        const [kind, name] = resource.split('/') as [LabKind, string];
        if (!this.world.server.get(kind, namespace, name)) this.breach(`live session ${id} lost ${kind} ${namespace}/${name}`);
      }
    }
  }

  /**
   * The clean state, after the churn stopped and two runs went: no orphan left but those
   * legitimately spared (keep annotation, ready endpoints), every live session whole, nothing
   * outside the convention touched, no session key without a session, no pending key, no
   * lock, no sighting of a session that is alive.
   */
  async checkCleanState(): Promise<void> {
    const { sessions } = this.world.snapshot();
    for (const s of sessions) {
      if (!s.deployment && s.resources.length > 0 && !s.keep && !s.readyEndpoints) {
        this.breach(`orphan left after convergence: ${s.namespace}/${s.labType}/${s.sessionId} (${s.resources.join(', ')})`);
      }
    }
    this.checkLiveSessions();
    for (const o of this.world.untouchable) {
      const now = this.world.server.get(o.kind, o.namespace, o.name);
      if (now?.metadata.uid !== o.uid) this.breach(`${o.kind} ${o.namespace}/${o.name}, outside the naming convention, was ${now ? 'replaced' : 'deleted'}`);
    }
    const redis = this.world.redis;
    const keys = ((await redis.call('KEYS', `${SESSION_KEY_PREFIX}*`)) as Buffer[]).map(String);
    for (const key of keys) {
      if (this.world.resourcesOf(key.slice(SESSION_KEY_PREFIX.length)).length === 0) this.breach(`session key ${key} left behind: no resource of its session is left`);
    }
    const pending = ((await redis.call('SMEMBERS', PENDING_KEYS)) as Buffer[]).map(String);
    if (pending.length > 0) this.breach(`${pending.length} session keys still pending: ${pending.slice(0, 10).join(', ')}`);
    const lock = await redis.call('GET', LOCK_KEY);
    if (lock !== null) this.breach(`the run lock is still held by ${String(lock)}`);
    await this.checkLiveKeys();
    // No stale key is left (above), so no sighting of one may be either.
    const keySightings = ((await redis.call('KEYS', `${KEY_SIGHTING_PREFIX}*`)) as Buffer[]).map(String);
    if (keySightings.length > 0) this.breach(`${keySightings.length} stale key sightings kept after convergence: ${keySightings.slice(0, 10).join(', ')}`);
    const sighted = ((await redis.call('SMEMBERS', KEY_SIGHTINGS)) as Buffer[]).map(String);
    if (sighted.length > 0) this.breach(`${sighted.length} ids still in ${KEY_SIGHTINGS}: ${sighted.slice(0, 10).join(', ')}`);
    const orphaned = new Set(sessions.filter((s) => !s.deployment).map((s) => `${s.namespace}:${s.sessionId}`));
    for (const key of ((await redis.call('KEYS', `${SIGHTING_PREFIX}*`)) as Buffer[]).map(String)) {
      if (key.startsWith(KEY_SIGHTING_PREFIX)) continue;
      const rest = key.slice(SIGHTING_PREFIX.length);
      const [namespace, sessionId] = [rest.slice(0, rest.indexOf(':')), rest.slice(rest.indexOf(':') + 1)];
      const alive = LAB_TYPES.some((labType) => this.world.server.get('Deployment', namespace, labName('Deployment', labType, sessionId)));
      if (alive && !orphaned.has(`${namespace}:${sessionId}`)) this.breach(`sighting ${key} kept although the session is alive`);
    }
  }
}
