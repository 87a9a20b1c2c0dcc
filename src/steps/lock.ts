/**
 * The run lock in the session store: taken before anything is read (`SET ... NX PX`), kept
 * while the run works, released by its owner only. A dry run takes none: it writes nothing.
 */
import { randomUUID } from 'node:crypto';
import type { Logger, SessionStore } from '../ports.js';
import { messageOf } from '../errors.js';

export const DEFAULT_LOCK_TTL_MS = 15 * 60 * 1000;

/** The lock as the run holds it (or a stand-in when there is nothing to lock). */
export interface HeldLock {
  /** False once the lock was lost: the run then starts nothing more and deletes no key. */
  stillLocked(): boolean;
  /** Stops keeping it and releases it; resolves to what went wrong, if anything did. */
  release(): Promise<string | undefined>;
}

/** Why a run could not start: another run holds the lock, or the store could not be asked. */
export type LockRefusal = { status: 'locked' | 'failed'; message: string };

/** Takes the lock (unless there is no store, or `dryRun`); resolves to it, or to why not. */
export async function takeLock(
  store: SessionStore | undefined,
  { dryRun, ttlMs = DEFAULT_LOCK_TTL_MS, logger }: { dryRun: boolean; ttlMs?: number; logger: Logger },
): Promise<HeldLock | LockRefusal> {
  if (!store || dryRun) return { stillLocked: () => true, release: async () => undefined };
  const owner = `run-${randomUUID()}`;
  let acquired: boolean;
  try {
    acquired = await store.acquireLock(owner, ttlMs);
  } catch (error) {
    const message = `Could not take the run lock in the session store, so nothing was done: ${messageOf(error)}`;
    logger.error(message);
    return { status: 'failed', message };
  }
  if (!acquired) {
    const message = 'Another run holds the lock; this run did nothing';
    logger.warn(message);
    return { status: 'locked', message };
  }
  const keeper = new LockKeeper(store, owner, ttlMs, logger);
  return {
    stillLocked: () => keeper.held,
    // Released before the summary is made, so that a release that fails is in it: a lock left
    // behind stops the next runs until its time to live runs out.
    async release() {
      const lost = keeper.stop();
      try {
        // Released by owner only: harmless when another run took it meanwhile.
        await store.releaseLock(owner);
        return lost;
      } catch (error) {
        const message = `Failed to release the run lock; runs are locked out until it expires (at most ${Math.round(ttlMs / 60_000)} minutes): ${messageOf(error)}`;
        logger.error(message);
        return message;
      }
    },
  };
}

/**
 * Keeps the run lock while the run works: renews it every third of its time to live, so that
 * a long run is not overtaken by the next one. A renewal that fails, or finds the lock taken,
 * marks it lost: the run then starts no more sessions and deletes no more keys.
 */
class LockKeeper {
  held = true;
  private problem: string | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: SessionStore,
    private readonly owner: string,
    private readonly ttlMs: number,
    private readonly logger: Logger,
  ) {
    this.timer = setInterval(() => void this.renew(), Math.max(10, Math.floor(ttlMs / 3)));
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    if (!this.held) return;
    try {
      if (await this.store.renewLock(this.owner, this.ttlMs)) return;
      this.lose('the run lock expired and another run may hold it');
    } catch (error) {
      this.lose(`the run lock could not be renewed: ${messageOf(error)}`);
    }
  }

  private lose(why: string): void {
    if (!this.held) return;
    this.held = false;
    this.problem = `Stopped acting: ${why}; sessions not yet started were left for a later run`;
    this.logger.error(this.problem);
  }

  /** Stops renewing; resolves to what went wrong when the lock was lost. */
  stop(): string | undefined {
    clearInterval(this.timer);
    return this.problem;
  }
}
