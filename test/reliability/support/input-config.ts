/**
 * Bad input, configuration: generators of environment values, and what the contract (and the
 * services the values name) says of each: a value that must be accepted, one that must be
 * refused, or one where either is fine.
 */
import fc from 'fast-check';
import type { Config, Variable } from '../../../src/config.js';

export type Verdict = 'accept' | 'reject' | 'either';

/** The environment a variable is tried in, so that the only problem is the variable itself. */
export const CONTEXT: Readonly<Partial<Record<Variable, Record<string, string>>>> = {
  EKS_CLUSTER_NAME: { K8S_MODE: 'eks', AWS_REGION: 'eu-west-1' },
  AWS_REGION: { K8S_MODE: 'eks', EKS_CLUSTER_NAME: 'labs' },
  UPSTASH_REDIS_REST_URL: { UPSTASH_REDIS_REST_TOKEN: 'token' },
  UPSTASH_REDIS_REST_TOKEN: { UPSTASH_REDIS_REST_URL: 'https://eu1-example.upstash.io' },
  UPSTASH_REDIS_REST_TOKEN_PARAMETER: { UPSTASH_REDIS_REST_URL: 'https://eu1-example.upstash.io' },
  K8S_MODE: { EKS_CLUSTER_NAME: 'labs', AWS_REGION: 'eu-west-1' },
};

const INTEGERS: Partial<Record<Variable, { min: number; max: number; step?: number; field: keyof Config }>> = {
  RECONCILIATION_MIN_AGE_SECONDS: { min: 0, max: 2_592_000, field: 'minAgeSeconds' },
  RECONCILIATION_CONFIRM_SECONDS: { min: 0, max: 2_592_000, field: 'confirmSeconds' },
  RECONCILIATION_MAX_DELETIONS: { min: 1, max: 100_000, field: 'maxDeletions' },
  RECONCILIATION_CONCURRENCY: { min: 1, max: 64, field: 'concurrency' },
  RECONCILIATION_INTERVAL: { min: 60, max: 86_400, step: 60, field: 'intervalSeconds' },
};

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** EKS: "alphanumeric characters (case-sensitive), hyphens, and underscores; starts with an alphanumeric; at most 100". */
const EKS_NAME = /^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/;
/** SSM parameter names: a-zA-Z0-9_.- and `/` for hierarchies. */
const SSM_NAME = /^[a-zA-Z0-9_.\-/]{1,2048}$/;
/** CloudWatch namespaces: printable ASCII, 1 to 255, not starting with ':' , not the reserved AWS/ prefix. */
function cloudWatchNamespaceOk(v: string): boolean {
  return v.length >= 1 && v.length <= 255 && /^[\x20-\x7e]+$/.test(v) && !v.startsWith(':') && !v.startsWith('AWS/') && v.trim() !== '';
}

function httpUrl(v: string): boolean {
  try {
    const url = new URL(v);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/** Variables whose values name things in AWS, checked against the services' documented formats. */
export const AWS_NAMED: readonly Variable[] = ['METRICS_NAMESPACE', 'EKS_CLUSTER_NAME', 'AWS_REGION', 'UPSTASH_REDIS_REST_TOKEN_PARAMETER'];

/**
 * What the contract itself says of `value` given to `variable` (alone, in its CONTEXT):
 * numbers, booleans, the allowlist, the mode, the URL, required values. The formats of names
 * in AWS are left to {@link awsVerdict}.
 */
export function verdict(variable: Variable, value: string): Verdict {
  if (AWS_NAMED.includes(variable)) {
    const required = variable !== 'METRICS_NAMESPACE' || value === '';
    return value.trim() === '' && required ? 'reject' : value === '' ? 'reject' : 'either';
  }
  return fullVerdict(variable, value);
}

/** As {@link verdict}, and names in AWS must also follow the service's documented format. */
export function awsVerdict(variable: Variable, value: string): Verdict {
  return fullVerdict(variable, value);
}

function fullVerdict(variable: Variable, value: string): Verdict {
  const t = value.trim();
  const padded = t !== value;
  const integer = INTEGERS[variable];
  if (integer) {
    if (!/^[+-]?\d+$/.test(t)) return 'reject';
    const n = Number(t);
    const ok = Number.isSafeInteger(n) && n >= integer.min && n <= integer.max && n % (integer.step ?? 1) === 0;
    if (!ok) return 'reject';
    return padded || t.startsWith('+') || t.startsWith('-') ? 'either' : 'accept';
  }
  switch (variable) {
    case 'RECONCILIATION_ENABLED':
    case 'RECONCILIATION_DRY_RUN':
      return /^(true|false)$/i.test(t) ? (padded || !/^(true|false)$/.test(t) ? 'either' : 'accept') : 'reject';
    case 'RECONCILIATION_NAMESPACES': {
      const names = value.split(',').map((n) => n.trim()).filter((n) => n !== '');
      // `key` would share its sightings' names with the stale keys' (lab-reconciler:sighting:key:*).
      if (names.length === 0 || names.some((n) => n.length > 63 || !DNS_LABEL.test(n) || n === 'key')) return 'reject';
      return value.split(',').every((n) => n !== '' && n === n.trim()) ? 'accept' : 'either';
    }
    case 'K8S_MODE':
      return ['eks', 'kubeconfig', 'in-cluster'].includes(value) ? 'accept' : ['eks', 'kubeconfig', 'in-cluster'].includes(t) ? 'either' : 'reject';
    case 'RECONCILIATION_STALE_KEYS':
      return ['report', 'delete', 'off'].includes(value) ? 'accept' : ['report', 'delete', 'off'].includes(t) ? 'either' : 'reject';
    case 'SESSION_KEY_PREFIX':
      return value === '' ? 'reject' : /\s/.test(value) ? 'either' : 'accept';
    case 'METRICS_NAMESPACE':
      return !cloudWatchNamespaceOk(value) ? 'reject' : /^[A-Za-z0-9._#:/-]+$/.test(value) ? 'accept' : 'either';
    case 'EKS_CLUSTER_NAME':
      return t === '' || !EKS_NAME.test(t) ? 'reject' : padded ? 'either' : 'accept';
    case 'AWS_REGION':
      return t === '' || !/^[A-Za-z0-9-]+$/.test(t) ? 'reject' : /^[a-z]{2}(-[a-z]+)+-\d+$/.test(value) ? 'accept' : 'either';
    case 'KUBECONFIG':
    case 'ARCHIVE_DIR':
      return 'either';
    case 'ARCHIVE_BUCKET':
      // S3's rules for a bucket name; blank is "no archive".
      return t === '' ? 'accept' : !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(t) ? 'reject' : padded ? 'either' : 'accept';
    case 'UPSTASH_REDIS_REST_URL':
      // Blank means "no session store", which with a token set is itself an error.
      return t === '' || !httpUrl(t) ? 'reject' : padded || /\s/.test(t) ? 'either' : 'accept';
    case 'UPSTASH_REDIS_REST_TOKEN':
      return t === '' ? 'reject' : /\s/.test(value) ? 'either' : 'accept';
    case 'UPSTASH_REDIS_REST_TOKEN_PARAMETER':
      return t === '' || !SSM_NAME.test(t) ? 'reject' : padded ? 'either' : 'accept';
    default:
      return 'either';
  }
}

/** The value an accepted variable must have in the Config. */
export function readBack(variable: Variable, config: Config): unknown {
  const integer = INTEGERS[variable];
  if (integer) return config[integer.field];
  switch (variable) {
    case 'RECONCILIATION_ENABLED':
      return config.enabled;
    case 'RECONCILIATION_DRY_RUN':
      return config.dryRun;
    case 'RECONCILIATION_NAMESPACES':
      return config.namespaces;
    case 'K8S_MODE':
      return config.k8sMode;
    case 'RECONCILIATION_STALE_KEYS':
      return config.staleKeys;
    case 'SESSION_KEY_PREFIX':
      return config.sessionKeyPrefix;
    case 'METRICS_NAMESPACE':
      return config.metricsNamespace;
    case 'EKS_CLUSTER_NAME':
      return config.eksClusterName;
    case 'AWS_REGION':
      return config.awsRegion;
    case 'KUBECONFIG':
      return config.kubeconfigPath;
    case 'UPSTASH_REDIS_REST_URL':
      return config.upstash?.url;
    case 'UPSTASH_REDIS_REST_TOKEN':
      return config.upstash?.token;
    case 'UPSTASH_REDIS_REST_TOKEN_PARAMETER':
      return config.upstash?.tokenParameter;
    case 'ARCHIVE_BUCKET':
      return config.archive?.bucket;
    case 'ARCHIVE_DIR':
      return config.archive?.dir;
  }
}

/** What an accepted value must read back as (the contract's meaning of the text). */
export function meaning(variable: Variable, value: string): unknown {
  if (INTEGERS[variable]) return Number(value.trim());
  switch (variable) {
    case 'RECONCILIATION_ENABLED':
    case 'RECONCILIATION_DRY_RUN':
      return value.trim().toLowerCase() === 'true';
    case 'RECONCILIATION_NAMESPACES':
      return [...new Set(value.split(',').map((n) => n.trim()).filter((n) => n !== ''))];
    case 'K8S_MODE':
    case 'RECONCILIATION_STALE_KEYS':
      return value.trim();
    case 'EKS_CLUSTER_NAME':
    case 'AWS_REGION':
    case 'UPSTASH_REDIS_REST_URL':
    case 'UPSTASH_REDIS_REST_TOKEN':
    case 'UPSTASH_REDIS_REST_TOKEN_PARAMETER':
    case 'KUBECONFIG':
    case 'ARCHIVE_BUCKET':
    case 'ARCHIVE_DIR':
      // Optional values: blank is unset.
      return value.trim() === '' ? undefined : value.trim();
    default:
      return value;
  }
}

/** Values worth trying on any variable. */
export const NASTY_VALUES = [
  '', ' ', '\t', '\n', '-1', '-0', '0', '1', '2', '59', '60', '61', '64', '65', '300', '3600', '86400', '86460', '100000', '100001', '2592000', '2592001',
  '1.5', '1.0', '.5', '1e3', '1E3', '0x10', '0o17', '0b11', '+5', '-300', ' 300 ', '3 00', '300s', '5m', 'NaN', 'Infinity', '-Infinity',
  '99999999999999999999', '9007199254740993', '٣٠٠', '３００', '1_000', '1,000',
  'true', 'false', 'TRUE', 'False', ' true ', 'yes', 'no', 'on', 'off', 't', 'f',
  'eks', 'kubeconfig', 'in-cluster', 'EKS', ' eks', 'in_cluster', 'incluster', 'magic',
  'report', 'delete', ' delete', 'Delete', 'purge', 'key', 'jupyter-lab,key',
  'jupyter-lab', 'jupyter-lab,ubuntu-lab', 'jupyter-lab,,ubuntu-lab', ',', ' , ', 'Jupyter-Lab', 'jupyter_lab', '-lab', 'lab-', 'a'.repeat(63), 'a'.repeat(64), 'kube-system,*',
  'x'.repeat(100_000), '\u0000', 'é', '😀', 'a b', 'AWS/Lambda', ':x', 'LabReconciler', 'Lab Reconciler', 'lab_session:',
  'https://eu1-example.upstash.io', 'http://127.0.0.1:8080', 'http://', 'https://', 'ftp://x.example', 'javascript:alert(1)', 'eu1-example.upstash.io', 'https://exa mple.io',
  '/lab-reconciler/prod/token', 'lab reconciler token', 'token with spaces', 'labs-prod', 'labs_prod', '-labs', 'x'.repeat(101), 'eu-west-1', 'us-gov-west-1', 'EU-WEST-1', 'eu west 1', 'eu-west-1/x',
  'labs-archive-1a2b3c', 'labs.archive', 's3://labs-archive', 'Labs-Archive', '/var/lib/lab-reconciler/archive',
  '~/.kube/config', '/tmp/dir with space/config', '/a:/b', '__proto__', 'constructor',
];

/** A value for any variable: nasty ones, integers around every range, and random strings. */
export const envValueArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...NASTY_VALUES) },
  { weight: 2, arbitrary: fc.integer({ min: -1_000, max: 3_000_000 }).map(String) },
  { weight: 1, arbitrary: fc.integer({ min: -2, max: 1_441 }).map((n) => String(n * 60)) },
  { weight: 1, arbitrary: fc.double().map(String) },
  { weight: 2, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
);
