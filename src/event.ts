/**
 * The Lambda's event: an EventBridge scheduled event runs with the configuration; an ad hoc
 * event (`aws lambda invoke --payload ...`) may narrow the run with `dryRun`, `namespaces`
 * (a subset of the allowlist) and `maxDeletions`. Anything else is rejected with an error
 * that names it, before anything is touched.
 */
import type { Config } from './config.js';
import type { RunSettings } from './reconcile.js';

/** A bad event: the invocation fails with this message and nothing is touched. */
export class EventError extends Error {
  override readonly name = 'EventError';
}

/** What an ad hoc event may change. */
export interface RunRequest {
  dryRun?: boolean;
  namespaces?: string[];
  maxDeletions?: number;
}

const FIELDS = new Set(['dryRun', 'namespaces', 'maxDeletions']);
/** Larger than any sensible allowlist: a bigger array is a mistake, not a request. */
const MAX_NAMESPACES = 100;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value)}`;
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

/**
 * Whether the event is EventBridge's scheduled event, which carries no request. One that also
 * carries a request field is not: it is checked as an ad hoc event (and its EventBridge fields
 * rejected), so that a dryRun in it is never silently dropped.
 */
function isScheduled(event: Record<string, unknown>): boolean {
  return event.source === 'aws.events' && event['detail-type'] === 'Scheduled Event' && ![...FIELDS].some((field) => Object.hasOwn(event, field));
}

/** A field name as it may be shown in a message: quoted, and cut when very long. */
function fieldName(key: string): string {
  return JSON.stringify(key.length > 60 ? `${key.slice(0, 57)}...` : key);
}

/** Parses an event; throws EventError naming the first field that is wrong. */
export function parseEvent(event: unknown, allowlist: readonly string[]): RunRequest {
  if (event === undefined || event === null) return {};
  if (typeof event !== 'object' || Array.isArray(event)) {
    throw new EventError(`The event must be a JSON object such as {"dryRun": true}, got ${describe(event)}`);
  }
  const fields = event as Record<string, unknown>;
  if (isScheduled(fields)) return {};
  const request: RunRequest = {};
  for (const key of Object.keys(fields)) {
    if (!FIELDS.has(key)) {
      throw new EventError(`Unknown event field ${fieldName(key)}: an ad hoc event may set only dryRun, namespaces and maxDeletions`);
    }
  }
  if (Object.hasOwn(fields, 'dryRun')) {
    if (typeof fields.dryRun !== 'boolean') throw new EventError(`Event field dryRun must be true or false, got ${describe(fields.dryRun)}`);
    request.dryRun = fields.dryRun;
  }
  if (Object.hasOwn(fields, 'maxDeletions')) {
    const value = fields.maxDeletions;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 100_000) {
      throw new EventError(`Event field maxDeletions must be a whole number from 1 to 100000, got ${describe(value)}`);
    }
    request.maxDeletions = value;
  }
  if (Object.hasOwn(fields, 'namespaces')) request.namespaces = parseNamespaces(fields.namespaces, allowlist);
  return request;
}

function parseNamespaces(value: unknown, allowlist: readonly string[]): string[] {
  if (!Array.isArray(value)) throw new EventError(`Event field namespaces must be an array of namespace names, got ${describe(value)}`);
  if (value.length === 0) throw new EventError('Event field namespaces must name at least one namespace');
  if (value.length > MAX_NAMESPACES) throw new EventError(`Event field namespaces has ${value.length} entries, more than ${MAX_NAMESPACES}`);
  const names: string[] = [];
  for (const [index, name] of value.entries()) {
    if (typeof name !== 'string') throw new EventError(`Event field namespaces[${index}] must be a string, got ${describe(name)}`);
    if (!allowlist.includes(name)) {
      throw new EventError(`Event field namespaces[${index}] ${describe(name)} is not in the allowlist RECONCILIATION_NAMESPACES (${allowlist.join(', ')})`);
    }
    if (!names.includes(name)) names.push(name);
  }
  return names;
}

/**
 * The run's settings: the configuration, narrowed by the request. An event may make a run a
 * dry run, never the reverse: `{"dryRun": false}` cannot lift RECONCILIATION_DRY_RUN=true.
 */
export function narrowSettings(config: Config, request: RunRequest): RunSettings {
  if (config.dryRun && request.dryRun === false) {
    throw new EventError('Event field dryRun cannot be false while RECONCILIATION_DRY_RUN is true: an event may only narrow a run');
  }
  return {
    enabled: config.enabled,
    namespaces: request.namespaces ?? config.namespaces,
    dryRun: request.dryRun ?? config.dryRun,
    minAgeSeconds: config.minAgeSeconds,
    confirmSeconds: config.confirmSeconds,
    maxDeletions: request.maxDeletions ?? config.maxDeletions,
    concurrency: config.concurrency,
    intervalSeconds: config.intervalSeconds,
    staleKeys: config.staleKeys,
    narrowed: request.namespaces !== undefined,
  };
}
