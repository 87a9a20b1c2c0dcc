/**
 * Faults a test injects into the local API server: which requests they hit, how many times,
 * and what happens instead of the normal answer.
 */
import type { KubeKind } from './resources.js';

/** The Kubernetes verb of a request, derived from method and path as the server does. */
export type KubeVerb = 'list' | 'get' | 'create' | 'delete';

/** What happens instead of the normal answer. */
export type FaultEffect =
  /**
   * Answer with this HTTP status. The body defaults to the Status the real server sends for
   * that code; an object is sent as JSON, a string as text/plain (the real API Priority and
   * Fairness filter answers its 429s with plain text `Too many requests, please try again
   * later.`). A `Retry-After` header also fills a 429 Status's `details.retryAfterSeconds`.
   */
  | { type: 'status'; code: number; headers?: Record<string, string>; body?: object | string }
  /** Destroy the socket without an answer: the client sees ECONNRESET / socket hang up. */
  | { type: 'reset' }
  /** Never answer; the request stays open until the client gives up or the server closes. */
  | { type: 'hang' }
  /** Answer 200 with a truncated JSON body. */
  | { type: 'malformed-json' };

/** Which requests a fault hits; every field given must match. */
export interface FaultMatch {
  /** HTTP method: `GET` covers both get and list. */
  method?: string;
  verb?: KubeVerb;
  kind?: KubeKind;
  namespace?: string;
  name?: string;
  /** List page: 1 is the request without `continue`, 2 the one with the first token, ... */
  page?: number;
}

/** A fault to inject. */
export interface FaultRule extends FaultMatch {
  effect: FaultEffect;
  /** How many matching requests it hits; default 1, `Infinity` for all. */
  times?: number;
}

/** The request attributes a fault is matched against. */
export interface FaultTarget {
  method: string;
  verb?: KubeVerb;
  kind?: KubeKind;
  namespace?: string;
  name?: string;
  page?: number;
}

/** A fault once injected: how often it has hit, how many hits are left. */
export class InjectedFault {
  hits = 0;
  remaining: number;

  constructor(readonly rule: FaultRule) {
    this.remaining = rule.times ?? 1;
  }

  /** True when the fault applies to this request and still has hits left. */
  matches(target: FaultTarget): boolean {
    const { rule } = this;
    return (
      this.remaining > 0 &&
      (rule.method === undefined || rule.method.toUpperCase() === target.method) &&
      (rule.verb === undefined || rule.verb === target.verb) &&
      (rule.kind === undefined || rule.kind === target.kind) &&
      (rule.namespace === undefined || rule.namespace === target.namespace) &&
      (rule.name === undefined || rule.name === target.name) &&
      (rule.page === undefined || rule.page === target.page)
    );
  }

  /** Counts one hit. */
  consume(): FaultEffect {
    this.hits++;
    this.remaining--;
    return this.rule.effect;
  }
}

/** The faults of a server, first injected first served. */
export class FaultSet {
  private faults: InjectedFault[] = [];

  add(rule: FaultRule): InjectedFault {
    const fault = new InjectedFault(rule);
    this.faults.push(fault);
    return fault;
  }

  /** The effect of the first fault matching the request, consuming one of its hits. */
  take(target: FaultTarget): FaultEffect | undefined {
    return this.faults.find((f) => f.matches(target))?.consume();
  }

  clear(): void {
    this.faults = [];
  }
}
