import { describe, expect, it } from 'vitest';
import type { LoadOptions } from '../src/config.js';
import { ConfigError, DEFAULTS, VARIABLES, loadConfig } from '../src/config.js';

/** A command-line load with only these variables set. */
function load(env: Record<string, string | undefined>, options: Partial<LoadOptions> = {}) {
  return loadConfig({ env, defaultMode: 'kubeconfig', ...options });
}

/** The ConfigError a load throws; fails the test when it does not throw one. */
function errorOf(act: () => unknown): ConfigError {
  try {
    act();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError, but the configuration loaded');
}

const EKS = { EKS_CLUSTER_NAME: 'labs', AWS_REGION: 'eu-west-1' };

describe('loadConfig', () => {
  it("gives every variable the contract's default", () => {
    // Act
    const config = load({});
    // Assess
    expect(config).toEqual({
      enabled: true,
      namespaces: ['jupyter-lab', 'ubuntu-lab', 'vscode-lab', 'postgresql-lab'],
      dryRun: false,
      minAgeSeconds: 300,
      confirmSeconds: 240,
      maxDeletions: 50,
      concurrency: 8,
      intervalSeconds: 300,
      staleKeys: 'report',
      sessionKeyPrefix: 'lab_session:',
      k8sMode: 'kubeconfig',
      eksClusterName: undefined,
      awsRegion: undefined,
      kubeconfigPath: undefined,
      kubeContext: undefined,
      upstash: undefined,
      archive: undefined,
      metricsNamespace: 'LabReconciler',
    });
  });

  it('defaults K8S_MODE to eks in the Lambda', () => {
    const config = loadConfig({ env: EKS, defaultMode: 'eks' });
    expect(config).toMatchObject({ k8sMode: 'eks', eksClusterName: 'labs', awsRegion: 'eu-west-1' });
  });

  it('declares every default once, and names every variable of the contract', () => {
    expect([...VARIABLES].sort()).toEqual(
      [
        'RECONCILIATION_ENABLED',
        'RECONCILIATION_NAMESPACES',
        'RECONCILIATION_DRY_RUN',
        'RECONCILIATION_MIN_AGE_SECONDS',
        'RECONCILIATION_CONFIRM_SECONDS',
        'RECONCILIATION_MAX_DELETIONS',
        'RECONCILIATION_CONCURRENCY',
        'RECONCILIATION_INTERVAL',
        'RECONCILIATION_STALE_KEYS',
        'SESSION_KEY_PREFIX',
        'METRICS_NAMESPACE',
        'K8S_MODE',
        'EKS_CLUSTER_NAME',
        'AWS_REGION',
        'KUBECONFIG',
        'UPSTASH_REDIS_REST_URL',
        'UPSTASH_REDIS_REST_TOKEN',
        'UPSTASH_REDIS_REST_TOKEN_PARAMETER',
        'ARCHIVE_BUCKET',
        'ARCHIVE_DIR',
      ].sort(),
    );
    expect(DEFAULTS.RECONCILIATION_NAMESPACES).toBe('jupyter-lab,ubuntu-lab,vscode-lab,postgresql-lab');
  });

  it('reads valid values of every variable', () => {
    // Prepare
    const env = {
      RECONCILIATION_ENABLED: 'FALSE',
      RECONCILIATION_NAMESPACES: ' jupyter-lab , ubuntu-lab,,jupyter-lab ',
      RECONCILIATION_DRY_RUN: 'True',
      RECONCILIATION_MIN_AGE_SECONDS: '0',
      RECONCILIATION_CONFIRM_SECONDS: '0',
      RECONCILIATION_MAX_DELETIONS: '1',
      RECONCILIATION_CONCURRENCY: '64',
      RECONCILIATION_INTERVAL: '600',
      RECONCILIATION_STALE_KEYS: ' delete ',
      SESSION_KEY_PREFIX: 'session:',
      K8S_MODE: 'in-cluster',
      KUBECONFIG: '/tmp/kubeconfig',
      UPSTASH_REDIS_REST_URL: 'https://eu1-labs.upstash.io',
      UPSTASH_REDIS_REST_TOKEN: 'AXXX-token',
      METRICS_NAMESPACE: 'Labs/Reconciler',
    };
    // Act
    const config = load(env, { context: 'kind-lab' });
    // Assess
    expect(config).toEqual({
      enabled: false,
      namespaces: ['jupyter-lab', 'ubuntu-lab'],
      dryRun: true,
      minAgeSeconds: 0,
      confirmSeconds: 0,
      maxDeletions: 1,
      concurrency: 64,
      intervalSeconds: 600,
      staleKeys: 'delete',
      sessionKeyPrefix: 'session:',
      k8sMode: 'in-cluster',
      eksClusterName: undefined,
      awsRegion: undefined,
      kubeconfigPath: '/tmp/kubeconfig',
      kubeContext: 'kind-lab',
      upstash: { url: 'https://eu1-labs.upstash.io', token: 'AXXX-token', tokenParameter: undefined },
      metricsNamespace: 'Labs/Reconciler',
    });
  });

  it('accepts the token from an SSM parameter name instead of the token', () => {
    const config = load({ UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:8079', UPSTASH_REDIS_REST_TOKEN_PARAMETER: '/labs/upstash-token' });
    expect(config.upstash).toEqual({ url: 'http://127.0.0.1:8079', token: undefined, tokenParameter: '/labs/upstash-token' });
  });

  it('treats blank optional values as unset', () => {
    const config = load({ UPSTASH_REDIS_REST_URL: '', UPSTASH_REDIS_REST_TOKEN: '  ', KUBECONFIG: '' });
    expect(config.upstash).toBeUndefined();
    expect(config.kubeconfigPath).toBeUndefined();
  });

  it.each([
    ['RECONCILIATION_ENABLED', ''],
    ['RECONCILIATION_ENABLED', 'yes'],
    ['RECONCILIATION_ENABLED', '1'],
    ['RECONCILIATION_DRY_RUN', 'ture'],
    ['RECONCILIATION_DRY_RUN', ''],
  ])('refuses %s=%j, naming the variable', (variable, value) => {
    const error = errorOf(() => load({ [variable]: value }));
    expect(error.setting).toBe(variable);
    expect(error.message).toMatch(new RegExp(`^${variable}: must be true or false`));
  });

  it.each([
    ['RECONCILIATION_MIN_AGE_SECONDS', ''],
    ['RECONCILIATION_MIN_AGE_SECONDS', '-1'],
    ['RECONCILIATION_MIN_AGE_SECONDS', 'five'],
    ['RECONCILIATION_MIN_AGE_SECONDS', '300s'],
    ['RECONCILIATION_MIN_AGE_SECONDS', '1.5'],
    ['RECONCILIATION_MIN_AGE_SECONDS', '1e3'],
    ['RECONCILIATION_MIN_AGE_SECONDS', '2592001'],
    ['RECONCILIATION_CONFIRM_SECONDS', '-240'],
    ['RECONCILIATION_CONFIRM_SECONDS', 'NaN'],
    ['RECONCILIATION_CONFIRM_SECONDS', '99999999999999999999'],
    ['RECONCILIATION_MAX_DELETIONS', '0'],
    ['RECONCILIATION_MAX_DELETIONS', '-5'],
    ['RECONCILIATION_MAX_DELETIONS', 'many'],
    ['RECONCILIATION_MAX_DELETIONS', '100001'],
    ['RECONCILIATION_CONCURRENCY', '0'],
    ['RECONCILIATION_CONCURRENCY', '65'],
    ['RECONCILIATION_CONCURRENCY', ' '],
    ['RECONCILIATION_INTERVAL', '59'],
    ['RECONCILIATION_INTERVAL', '86401'],
    ['RECONCILIATION_INTERVAL', 'hourly'],
  ])('refuses %s=%j, naming the variable', (variable, value) => {
    const error = errorOf(() => load({ [variable]: value }));
    expect(error.setting).toBe(variable);
    expect(error.message).toMatch(new RegExp(`^${variable}: must be a whole number from \\d+ to \\d+, got`));
  });

  it.each(['yes', 'Delete', '', 'report,delete'])('refuses RECONCILIATION_STALE_KEYS=%j, naming the variable and the choices', (value) => {
    const error = errorOf(() => load({ RECONCILIATION_STALE_KEYS: value }));
    expect(error.setting).toBe('RECONCILIATION_STALE_KEYS');
    expect(error.message).toBe(`RECONCILIATION_STALE_KEYS: must be one of report, delete, off, got ${JSON.stringify(value)}`);
  });

  it.each(['lab-reconciler:', 'lab-reconciler:sessions:'])("refuses SESSION_KEY_PREFIX=%j, under which the reconciler's own keys would look like sessions'", (prefix) => {
    const error = errorOf(() => load({ SESSION_KEY_PREFIX: prefix }));
    expect(error.setting).toBe('SESSION_KEY_PREFIX');
    expect(error.message).toMatch(/cannot start with lab-reconciler: \(the reconciler's own keys, such as its lock, would be taken for session keys\)/);
  });

  it('refuses the namespace "key", whose sightings would be named like the stale keys\'', () => {
    const error = errorOf(() => load({ RECONCILIATION_NAMESPACES: 'jupyter-lab,key' }));
    expect(error.setting).toBe('RECONCILIATION_NAMESPACES');
    expect(error.message).toMatch(/cannot include the namespace "key"/);
  });

  it('refuses an interval that is not a whole number of minutes (the schedule is in minutes)', () => {
    const error = errorOf(() => load({ RECONCILIATION_INTERVAL: '90' }));
    expect(error.setting).toBe('RECONCILIATION_INTERVAL');
    expect(error.message).toContain('multiple of 60');
  });

  it.each([[''], [','], [' , ,']])('refuses an empty namespace list %j, naming the variable', (value) => {
    const error = errorOf(() => load({ RECONCILIATION_NAMESPACES: value }));
    expect(error.setting).toBe('RECONCILIATION_NAMESPACES');
    expect(error.message).toContain('at least one namespace');
  });

  it.each([['Jupyter-Lab'], ['-lab'], ['lab-'], ['jupyter_lab'], ['a.b'], ['x'.repeat(64)], ['jupyter-lab,ubuntu lab']])(
    'refuses the invalid namespace name in %j, naming the variable and the name',
    (value) => {
      const error = errorOf(() => load({ RECONCILIATION_NAMESPACES: value }));
      expect(error.setting).toBe('RECONCILIATION_NAMESPACES');
      expect(error.message).toContain('is not a valid namespace name');
    },
  );

  it('accepts a namespace name of exactly 63 characters', () => {
    expect(load({ RECONCILIATION_NAMESPACES: 'x'.repeat(63) }).namespaces).toEqual(['x'.repeat(63)]);
  });

  it.each([[''], ['local'], ['EKS'], ['cluster']])('refuses K8S_MODE=%j, naming the variable', (value) => {
    const error = errorOf(() => load({ K8S_MODE: value }));
    expect(error.setting).toBe('K8S_MODE');
    expect(error.message).toContain('must be one of eks, kubeconfig, in-cluster');
  });

  it.each([
    ['SESSION_KEY_PREFIX', ''],
    ['SESSION_KEY_PREFIX', 'lab session:'],
    ['METRICS_NAMESPACE', ''],
    ['METRICS_NAMESPACE', 'Lab Reconciler'],
  ])('refuses %s=%j, naming the variable', (variable, value) => {
    const error = errorOf(() => load({ [variable]: value }));
    expect(error.setting).toBe(variable);
  });

  it('requires EKS_CLUSTER_NAME in eks mode', () => {
    const error = errorOf(() => load({ K8S_MODE: 'eks', AWS_REGION: 'eu-west-1' }));
    expect(error.setting).toBe('EKS_CLUSTER_NAME');
    expect(error.message).toBe('EKS_CLUSTER_NAME: is required when K8S_MODE is eks');
  });

  it('requires AWS_REGION in eks mode, also when eks is only the default mode', () => {
    const error = errorOf(() => loadConfig({ env: { EKS_CLUSTER_NAME: 'labs', AWS_REGION: ' ' }, defaultMode: 'eks' }));
    expect(error.setting).toBe('AWS_REGION');
  });

  it('does not require the EKS settings outside eks mode', () => {
    expect(() => load({ K8S_MODE: 'in-cluster' })).not.toThrow();
  });

  it.each([['UPSTASH_REDIS_REST_TOKEN', 't0k3n'], ['UPSTASH_REDIS_REST_TOKEN_PARAMETER', '/labs/token']])(
    'refuses %s without UPSTASH_REDIS_REST_URL, naming the URL',
    (variable, value) => {
      const error = errorOf(() => load({ [variable]: value }));
      expect(error.setting).toBe('UPSTASH_REDIS_REST_URL');
      expect(error.message).toContain(variable);
    },
  );

  it('refuses UPSTASH_REDIS_REST_URL without a token, naming the token', () => {
    const error = errorOf(() => load({ UPSTASH_REDIS_REST_URL: 'https://eu1-labs.upstash.io' }));
    expect(error.setting).toBe('UPSTASH_REDIS_REST_TOKEN');
  });

  it('refuses both a token and a token parameter', () => {
    const error = errorOf(() =>
      load({ UPSTASH_REDIS_REST_URL: 'https://eu1-labs.upstash.io', UPSTASH_REDIS_REST_TOKEN: 't', UPSTASH_REDIS_REST_TOKEN_PARAMETER: '/p' }),
    );
    expect(error.setting).toBe('UPSTASH_REDIS_REST_TOKEN_PARAMETER');
  });

  it.each([['eu1-labs.upstash.io'], ['redis://eu1-labs.upstash.io:6379'], ['not a url']])(
    'refuses UPSTASH_REDIS_REST_URL=%j, which is not an http(s) URL',
    (value) => {
      const error = errorOf(() => load({ UPSTASH_REDIS_REST_URL: value, UPSTASH_REDIS_REST_TOKEN: 't' }));
      expect(error.setting).toBe('UPSTASH_REDIS_REST_URL');
    },
  );

  it('reads the archive: a bucket, or a directory (ARCHIVE_DIR, or --archive-dir over it)', () => {
    expect(load({ ARCHIVE_BUCKET: 'labs-archive-1a2b' }).archive).toEqual({ bucket: 'labs-archive-1a2b' });
    expect(load({ ARCHIVE_DIR: ' /var/lib/lab archive ' }).archive).toEqual({ dir: '/var/lib/lab archive' });
    const flagged = load({ ARCHIVE_DIR: '/a' }, { overrides: { ARCHIVE_DIR: { value: '/b', source: '--archive-dir' } } });
    expect(flagged.archive).toEqual({ dir: '/b' });
    expect(load({ ARCHIVE_BUCKET: ' ', ARCHIVE_DIR: '' }).archive).toBeUndefined();
  });

  it.each([['s3://labs-archive'], ['Labs_Archive'], ['ab'], ['-labs']])('refuses ARCHIVE_BUCKET=%j, naming it and what a bucket name is', (value) => {
    const error = errorOf(() => load({ ARCHIVE_BUCKET: value }));
    expect(error.setting).toBe('ARCHIVE_BUCKET');
    expect(error.message).toContain('an S3 bucket name');
  });

  it('refuses a bucket and a directory together, naming the one that came last (the flag)', () => {
    const error = errorOf(() => load({ ARCHIVE_BUCKET: 'labs-archive' }, { overrides: { ARCHIVE_DIR: { value: '/b', source: '--archive-dir' } } }));
    expect(error.message).toBe('--archive-dir: cannot be set together with ARCHIVE_BUCKET (labs-archive): choose one archive');
  });

  it('lets an override (a flag) win over its variable', () => {
    const config = load(
      { RECONCILIATION_MIN_AGE_SECONDS: '300', RECONCILIATION_MAX_DELETIONS: '50' },
      { overrides: { RECONCILIATION_MIN_AGE_SECONDS: { value: '60', source: '--min-age' } } },
    );
    expect(config.minAgeSeconds).toBe(60);
    expect(config.maxDeletions).toBe(50);
  });

  it.each([
    ['RECONCILIATION_MIN_AGE_SECONDS', '--min-age'],
    ['RECONCILIATION_CONFIRM_SECONDS', '--confirm-seconds'],
    ['RECONCILIATION_MAX_DELETIONS', '--max-deletions'],
  ] as const)('names the flag, not the variable, when the bad value of %s came from %s', (variable, flag) => {
    // Prepare: the variable is fine, the flag overriding it is not
    const overrides = { [variable]: { value: '-3', source: flag } };
    // Act
    const error = errorOf(() => load({ [variable]: '10' }, { overrides }));
    // Assess
    expect(error.setting).toBe(flag);
    expect(error.message).toMatch(new RegExp(`^${flag}: `));
  });

  it('names --context for a bad context', () => {
    const error = errorOf(() => load({}, { context: 'two words' }));
    expect(error.setting).toBe('--context');
  });

  it('shortens a very long bad value in the message', () => {
    const error = errorOf(() => load({ RECONCILIATION_CONCURRENCY: '9'.repeat(500) }));
    expect(error.message.length).toBeLessThan(200);
  });
});
