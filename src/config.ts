/**
 * Configuration: environment variables (and command-line overrides) → a validated Config.
 * This is the only module that knows the variables' names and defaults, and the only
 * reader of the environment (callers pass `process.env` in). A bad value is a ConfigError
 * naming the variable or flag, raised before anything is listed or deleted.
 */

import type { StaleKeysMode } from './core/keys.js';
import { STALE_KEYS_MODES } from './core/keys.js';

export type K8sMode = 'eks' | 'kubeconfig' | 'in-cluster';
export const K8S_MODES: readonly K8sMode[] = ['eks', 'kubeconfig', 'in-cluster'];

export interface UpstashSettings {
  url: string;
  /** The token itself, or undefined when it is to be read from SSM (`tokenParameter`). */
  token: string | undefined;
  tokenParameter: string | undefined;
}

/** Where the archive records go: an S3 bucket (the Lambda's), or a directory (the command line's). */
export type ArchiveSettings = { bucket: string; dir?: undefined } | { dir: string; bucket?: undefined };

/** The validated configuration of a run. */
export interface Config {
  enabled: boolean;
  namespaces: string[];
  dryRun: boolean;
  minAgeSeconds: number;
  confirmSeconds: number;
  maxDeletions: number;
  concurrency: number;
  intervalSeconds: number;
  staleKeys: StaleKeysMode;
  sessionKeyPrefix: string;
  k8sMode: K8sMode;
  eksClusterName: string | undefined;
  awsRegion: string | undefined;
  kubeconfigPath: string | undefined;
  kubeContext: string | undefined;
  upstash: UpstashSettings | undefined;
  /** Undefined: no archive (nothing deleted can be restored; the run warns). */
  archive: ArchiveSettings | undefined;
  metricsNamespace: string;
}

/** The settings of one run: the configuration, possibly narrowed by an event or flags. */
export type RunSettings = Pick<
  Config,
  'enabled' | 'namespaces' | 'dryRun' | 'minAgeSeconds' | 'confirmSeconds' | 'maxDeletions' | 'concurrency' | 'intervalSeconds' | 'staleKeys'
> & {
  /** The namespaces were narrowed (an event's `namespaces`, `--namespaces`): the keys are not judged. */
  narrowed: boolean;
};

/** A configuration value that cannot be used; `setting` names the variable or flag. */
export class ConfigError extends Error {
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(`${setting}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** One value as given, with where it came from (a variable, or a flag that overrides it). */
export interface Given {
  value: string;
  /** What to name in an error: the variable, or the flag such as `--min-age`. */
  source: string;
}

/** The defaults of the contract, declared once. */
export const DEFAULTS = {
  RECONCILIATION_ENABLED: 'true',
  RECONCILIATION_NAMESPACES: 'jupyter-lab,ubuntu-lab,vscode-lab,postgresql-lab',
  RECONCILIATION_DRY_RUN: 'false',
  RECONCILIATION_MIN_AGE_SECONDS: '300',
  RECONCILIATION_CONFIRM_SECONDS: '240',
  RECONCILIATION_MAX_DELETIONS: '50',
  RECONCILIATION_CONCURRENCY: '8',
  RECONCILIATION_INTERVAL: '300',
  RECONCILIATION_STALE_KEYS: 'report',
  SESSION_KEY_PREFIX: 'lab_session:',
  METRICS_NAMESPACE: 'LabReconciler',
} as const;

/** Every variable the reconciler reads. */
export const VARIABLES = [
  ...(Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]),
  'K8S_MODE',
  'EKS_CLUSTER_NAME',
  'AWS_REGION',
  'KUBECONFIG',
  'UPSTASH_REDIS_REST_URL',
  'UPSTASH_REDIS_REST_TOKEN',
  'UPSTASH_REDIS_REST_TOKEN_PARAMETER',
  'ARCHIVE_BUCKET',
  'ARCHIVE_DIR',
] as const;
export type Variable = (typeof VARIABLES)[number];

export interface LoadOptions {
  /** The environment, usually `process.env`. */
  env: Readonly<Record<string, string | undefined>>;
  /** Values that override the environment, such as command-line flags. */
  overrides?: Partial<Record<Variable, Given>>;
  /** `eks` in the Lambda, `kubeconfig` on the command line. */
  defaultMode: K8sMode;
  /** The kubeconfig context (`--context`); the command line's only, no variable. */
  context?: string;
}

/** Reads and validates the whole configuration; throws ConfigError on the first bad value. */
export function loadConfig(options: LoadOptions): Config {
  const read = reader(options);
  const k8sMode = parseMode(read('K8S_MODE') ?? { value: options.defaultMode, source: 'K8S_MODE' });
  const config: Config = {
    enabled: parseBoolean(read('RECONCILIATION_ENABLED')),
    namespaces: parseNamespaces(read('RECONCILIATION_NAMESPACES')),
    dryRun: parseBoolean(read('RECONCILIATION_DRY_RUN')),
    minAgeSeconds: parseInteger(read('RECONCILIATION_MIN_AGE_SECONDS'), 0, 30 * 86_400),
    confirmSeconds: parseInteger(read('RECONCILIATION_CONFIRM_SECONDS'), 0, 30 * 86_400),
    maxDeletions: parseInteger(read('RECONCILIATION_MAX_DELETIONS'), 1, 100_000),
    concurrency: parseInteger(read('RECONCILIATION_CONCURRENCY'), 1, 64),
    intervalSeconds: parseInteger(read('RECONCILIATION_INTERVAL'), 60, 86_400),
    staleKeys: parseChoice(required(read('RECONCILIATION_STALE_KEYS')), STALE_KEYS_MODES),
    sessionKeyPrefix: parsePrefix(read('SESSION_KEY_PREFIX')),
    k8sMode,
    eksClusterName: matching(optionalToken(read('EKS_CLUSTER_NAME')), 'EKS_CLUSTER_NAME', EKS_CLUSTER, 'an EKS cluster name (letters, digits, - and _, at most 100, starting with a letter or digit)'),
    awsRegion: matching(optionalToken(read('AWS_REGION')), 'AWS_REGION', AWS_REGION, 'an AWS region such as eu-west-1'),
    kubeconfigPath: optionalPath(read('KUBECONFIG')),
    kubeContext: optionalToken(options.context === undefined ? undefined : { value: options.context, source: '--context' }),
    upstash: parseUpstash(read),
    archive: parseArchive(read),
    metricsNamespace: parseMetricsNamespace(read('METRICS_NAMESPACE')),
  };
  if (config.intervalSeconds % 60 !== 0) {
    throw new ConfigError(sourceOf(read, 'RECONCILIATION_INTERVAL'), `must be a whole number of minutes (a multiple of 60), got ${config.intervalSeconds}`);
  }
  if (config.namespaces.includes('key')) {
    // Its orphans' sightings would be named like stale keys' (lab-reconciler:sighting:key:{id}).
    throw new ConfigError(sourceOf(read, 'RECONCILIATION_NAMESPACES'), 'cannot include the namespace "key": its sightings would share names with the stale session keys\' (lab-reconciler:sighting:key:*)');
  }
  if (k8sMode === 'eks') {
    if (!config.eksClusterName) throw new ConfigError('EKS_CLUSTER_NAME', 'is required when K8S_MODE is eks');
    if (!config.awsRegion) throw new ConfigError('AWS_REGION', 'is required when K8S_MODE is eks');
  }
  return config;
}

type Read = (name: Variable) => Given | undefined;

/** Overrides first, then the environment, then the contract's default; blank counts as unset only for optional values. */
function reader({ env, overrides }: LoadOptions): Read {
  return (name) => {
    const override = overrides?.[name];
    if (override !== undefined) return override;
    const value = env[name];
    if (value !== undefined) return { value, source: name };
    const fallback = (DEFAULTS as Record<string, string>)[name];
    return fallback === undefined ? undefined : { value: fallback, source: name };
  };
}

function sourceOf(read: Read, name: Variable): string {
  return read(name)?.source ?? name;
}

function required(given: Given | undefined): Given {
  // Only variables with a default reach here, so `given` is always set; keep the check honest.
  if (!given) throw new Error('internal: a required setting has no default');
  return given;
}

function show(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
}

/** `true` or `false`, in any case, and nothing else: a typo must not silently mean false. */
export function parseBoolean(given: Given | undefined): boolean {
  const { value, source } = required(given);
  const normalized = value.trim().toLowerCase();
  if (normalized === 'true') return true;
  if (normalized === 'false') return false;
  throw new ConfigError(source, `must be true or false, got ${show(value)}`);
}

/** A whole number within [min, max]. */
export function parseInteger(given: Given | undefined, min: number, max: number): number {
  const { value, source } = required(given);
  const text = value.trim();
  if (!/^-?\d+$/.test(text)) {
    throw new ConfigError(source, `must be a whole number from ${min} to ${max}, got ${show(value)}`);
  }
  const number = Number(text);
  if (!Number.isSafeInteger(number) || number < min || number > max) {
    throw new ConfigError(source, `must be a whole number from ${min} to ${max}, got ${show(value)}`);
  }
  return number;
}

const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A comma-separated list of Kubernetes namespace names (DNS-1123 labels), at least one. */
export function parseNamespaces(given: Given | undefined): string[] {
  const { value, source } = required(given);
  const names = value
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (names.length === 0) throw new ConfigError(source, 'must name at least one namespace');
  for (const name of names) {
    if (name.length > 63 || !NAMESPACE_NAME.test(name)) {
      throw new ConfigError(source, `${show(name)} is not a valid namespace name (lowercase letters, digits and '-', at most 63)`);
    }
  }
  return [...new Set(names)];
}

function parseMode(given: Given): K8sMode {
  return parseChoice(given, K8S_MODES);
}

/** One of a few words, exactly (surrounding spaces aside). */
function parseChoice<T extends string>(given: Given, choices: readonly T[]): T {
  const value = given.value.trim();
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new ConfigError(given.source, `must be one of ${choices.join(', ')}, got ${show(given.value)}`);
}

/** A non-empty value without white space. */
function parseToken(given: Given | undefined): string {
  const { value, source } = required(given);
  if (value === '' || /\s/.test(value)) {
    throw new ConfigError(source, `must be non-empty and without spaces, got ${show(value)}`);
  }
  return value;
}

/** A key prefix that cannot reach the product's own keys (the lock, sightings, pending keys). */
function parsePrefix(given: Given | undefined): string {
  const value = parseToken(given);
  if (value.startsWith('lab-reconciler:')) {
    throw new ConfigError(given!.source, `cannot start with lab-reconciler: (the reconciler's own keys, such as its lock, would be taken for session keys), got ${show(value)}`);
  }
  return value;
}

/** Unset or empty is undefined; anything else must be a plain token. */
function optionalToken(given: Given | undefined): string | undefined {
  if (!given || given.value.trim() === '') return undefined;
  return parseToken({ value: given.value.trim(), source: given.source });
}

// The formats AWS documents: EKS cluster names, regions, SSM parameter names (or ARNs).
const EKS_CLUSTER = /^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/;
const AWS_REGION = /^[a-z]{2,}(-[a-z]+)+-\d+$/;
const SSM_PARAMETER = /^(arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter\/[a-zA-Z0-9_.\-/]+|[a-zA-Z0-9_.\-/]{1,2048})$/;

function matching(value: string | undefined, setting: string, pattern: RegExp, what: string): string | undefined {
  if (value !== undefined && !pattern.test(value)) throw new ConfigError(setting, `must be ${what}, got ${show(value)}`);
  return value;
}

/** A path: spaces inside are kept (kubectl allows them), around it trimmed; unset or blank is undefined. */
function optionalPath(given: Given | undefined): string | undefined {
  if (!given || given.value.trim() === '') return undefined;
  return given.value.trim();
}

/** A CloudWatch namespace: 1 to 255 printable ASCII characters, not starting with ':' or AWS/. */
function parseMetricsNamespace(given: Given | undefined): string {
  const value = parseToken(given);
  if (value.length > 255 || !/^[\x21-\x7e]+$/.test(value) || value.startsWith(':') || value.startsWith('AWS/')) {
    throw new ConfigError(given!.source, `must be a CloudWatch namespace (up to 255 ASCII characters, not starting with ':' or AWS/), got ${show(value)}`);
  }
  return value;
}

// S3's rules for a bucket name.
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** `ARCHIVE_BUCKET` or `ARCHIVE_DIR` (`--archive-dir`), at most one. */
function parseArchive(read: Read): ArchiveSettings | undefined {
  const bucket = matching(optionalToken(read('ARCHIVE_BUCKET')), 'ARCHIVE_BUCKET', BUCKET_NAME, 'an S3 bucket name (3 to 63 lowercase letters, digits, . and -), not an s3:// URI');
  const dir = read('ARCHIVE_DIR');
  const path = optionalPath(dir);
  if (bucket && path) throw new ConfigError(dir!.source, `cannot be set together with ARCHIVE_BUCKET (${bucket}): choose one archive`);
  if (bucket) return { bucket };
  return path ? { dir: path } : undefined;
}

function parseUpstash(read: Read): UpstashSettings | undefined {
  const url = optionalToken(read('UPSTASH_REDIS_REST_URL'));
  const token = optionalToken(read('UPSTASH_REDIS_REST_TOKEN'));
  const tokenParameter = matching(
    optionalToken(read('UPSTASH_REDIS_REST_TOKEN_PARAMETER')),
    'UPSTASH_REDIS_REST_TOKEN_PARAMETER',
    SSM_PARAMETER,
    'an SSM parameter name (letters, digits, _ . - /) or its ARN',
  );
  if (!url) {
    if (token || tokenParameter) {
      const which = token ? 'UPSTASH_REDIS_REST_TOKEN' : 'UPSTASH_REDIS_REST_TOKEN_PARAMETER';
      throw new ConfigError('UPSTASH_REDIS_REST_URL', `is required when ${which} is set`);
    }
    return undefined;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError('UPSTASH_REDIS_REST_URL', `must be an http(s) URL, got ${show(url)}`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new ConfigError('UPSTASH_REDIS_REST_URL', `must be an http(s) URL, got ${show(url)}`);
  }
  if (!token && !tokenParameter) {
    throw new ConfigError('UPSTASH_REDIS_REST_TOKEN', 'is required when UPSTASH_REDIS_REST_URL is set (or set UPSTASH_REDIS_REST_TOKEN_PARAMETER)');
  }
  if (token && tokenParameter) {
    throw new ConfigError('UPSTASH_REDIS_REST_TOKEN_PARAMETER', 'cannot be set together with UPSTASH_REDIS_REST_TOKEN: choose one');
  }
  return { url, token, tokenParameter };
}
