/** What a run tells about itself as a whole: warnings, and the errors that belong to no session. */
import type { Logger } from '../ports.js';
import type { Plan } from '../core/plan.js';

export class RunNotes {
  readonly warnings: string[] = [];
  errors = 0;

  constructor(private readonly logger: Logger) {}

  /** Something an operator should act on; not an error. */
  warn(message: string): void {
    this.warnings.push(message);
    this.logger.warn(message);
  }

  /** Something an operator should know about the run, that is no fault (why keys were not judged...). */
  note(message: string): void {
    this.warnings.push(message);
    this.logger.info(message);
  }

  /** An error of the run: counted, and in the warnings. */
  problem(message: string): void {
    this.warnings.push(message);
    this.errors += 1;
    this.logger.error(message);
  }

  /** The plan found more to delete than the cap: the status says `aborted`; not an error count. */
  circuitBreaker(plan: Plan, maxDeletions: number): void {
    const sessions = plan.decisions.filter((d) => d.reason === 'cap-exceeded').length;
    const keys = plan.staleKeys.filter((k) => k.reason === 'cap-exceeded').length;
    const found = keys > 0 ? `${sessions} sessions to clean and ${keys} stale session keys to delete` : `${sessions} sessions to clean`;
    const message = `Found ${found}, more than RECONCILIATION_MAX_DELETIONS (${maxDeletions}): ${keys > 0 ? 'deleted none of them' : 'cleaned none'} (circuit breaker open)`;
    this.warnings.push(message);
    this.logger.error(message);
  }

  /** Stale keys were held back: an allowlisted namespace listed nothing, perhaps because it does not exist. */
  emptyNamespaces(namespaces: readonly string[]): void {
    this.warn(
      `Deleted no stale session key: ${namespaces.join(', ')} listed no object at all; a namespace that does not exist lists as empty, and the sessions it was meant to name would look stale (check RECONCILIATION_NAMESPACES, or remove the namespace while it is unused)`,
    );
  }

  /** A problem already logged by whoever found it. */
  add(message: string | undefined): void {
    if (message === undefined) return;
    this.warnings.push(message);
    this.errors += 1;
  }
}
