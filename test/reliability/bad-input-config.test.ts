/**
 * Bad input: configuration. Every variable (and every flag that overrides one) given empty,
 * negative, non-numeric, fractional, hex, padded, out of range, huge, an unknown mode, or a
 * random string ends in a valid Config or in a ConfigError naming the variable (or the flag),
 * never another exception; through the command line, exit status 2 and the name on stderr.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Config, Given, LoadOptions, Variable } from '../../src/config.js';
import { ConfigError, VARIABLES, loadConfig } from '../../src/config.js';
import { runCli } from '../support/cli.js';
import type { KubeApiServer } from '../support/kube-api-server.js';
import { startKubeApiServer } from '../support/kube-api-server.js';
import { InputCounter } from './support/input-names.js';
import { AWS_NAMED, CONTEXT, awsVerdict, envValueArb, meaning, readBack, verdict } from './support/input-config.js';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SINGLE_RUNS = 4000;
const MIXED_RUNS = 1000;
const AWS_RUNS = 1000;
const OVERRIDE_RUNS = 1000;
const CLI_RUNS = 200;
const counter = new InputCounter();
afterAll(() => counter.report('bad-input-config'));

type Loaded = { config: Config } | { error: ConfigError };

/** Loads, and fails on any exception that is not a ConfigError. */
function load(options: LoadOptions): Loaded {
  try {
    return { config: loadConfig(options) };
  } catch (error) {
    if (error instanceof ConfigError) return { error };
    throw new Error(`loadConfig threw ${(error as Error)?.name}, not a ConfigError: ${String(error)}`);
  }
}

function show(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...(${value.length})` : value);
}

/** The error names the setting: as its `setting`, or (for a pair of settings) in its message. */
function namesSetting(error: ConfigError, setting: string): boolean {
  return error.setting === setting || error.message.includes(setting);
}

function assessOne(variable: Variable, value: string, loaded: Loaded, setting: string = variable, judge: typeof verdict = verdict): void {
  const expected = judge(variable, value);
  const label = `${variable}=${show(value)} (${expected})`;
  if ('error' in loaded) {
    expect(expected, `${label} was refused: ${loaded.error.message.slice(0, 200)}`).not.toBe('accept');
    expect(namesSetting(loaded.error, setting), `${label}: the error names ${loaded.error.setting}, not ${setting}`).toBe(true);
    expect(loaded.error.message.length, `${label}: a message of ${loaded.error.message.length} characters`).toBeLessThanOrEqual(1_000);
  } else {
    expect(expected, `${label} was accepted as ${show(String(readBack(variable, loaded.config)))}`).not.toBe('reject');
    expect(readBack(variable, loaded.config), label).toEqual(meaning(variable, value));
  }
}

describe('loadConfig over generated values', () => {
  it(`accepts a valid value or names the variable, for every variable (${SINGLE_RUNS} generated values)`, () => {
    fc.assert(
      fc.property(fc.constantFrom(...VARIABLES), envValueArb, (variable, value) => {
        counter.add('single-variable values');
        // Prepare
        const env = { ...CONTEXT[variable], [variable]: value };
        // Act
        const loaded = load({ env, defaultMode: 'kubeconfig' });
        // Assess
        assessOne(variable, value, loaded);
      }),
      { numRuns: SINGLE_RUNS },
    );
  });

  it(`refuses names that AWS would refuse, at start (${AWS_RUNS} generated values of ${AWS_NAMED.join(', ')})`, () => {
    fc.assert(
      fc.property(fc.constantFrom(...AWS_NAMED), envValueArb, (variable, value) => {
        counter.add('AWS-named values');
        const loaded = load({ env: { ...CONTEXT[variable], [variable]: value }, defaultMode: 'kubeconfig' });
        assessOne(variable, value, loaded, variable, awsVerdict);
      }),
      { numRuns: AWS_RUNS },
    );
  });

  it(`with several variables set at once, refuses with a ConfigError naming one of them (${MIXED_RUNS} generated environments)`, () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...VARIABLES), envValueArb, { minKeys: 1, maxKeys: 6 }), fc.constantFrom('eks', 'kubeconfig') as fc.Arbitrary<'eks' | 'kubeconfig'>, (env, defaultMode) => {
        counter.add('mixed environments');
        // Act
        const loaded = load({ env, defaultMode });
        // Assess: a refusal names a variable that was set, or one that the set ones require.
        if ('error' in loaded) {
          const named = Object.keys(env).some((v) => namesSetting(loaded.error, v)) || (defaultMode === 'eks' && /EKS_CLUSTER_NAME|AWS_REGION/.test(loaded.error.setting));
          expect(named, `${JSON.stringify(env).slice(0, 300)}: ${loaded.error.message.slice(0, 200)}`).toBe(true);
          expect(VARIABLES as readonly string[]).toContain(loaded.error.setting);
        } else {
          for (const [variable, value] of Object.entries(env) as [Variable, string][]) {
            // Values whose meaning depends on another setting (a token without its URL) are not read back alone.
            if (verdict(variable, value) === 'reject' && !(variable in CONTEXT)) {
              throw new Error(`${variable}=${show(value)} should have been refused, but the configuration loaded`);
            }
          }
        }
      }),
      { numRuns: MIXED_RUNS },
    );
  });

  const FLAGS: [string, Variable][] = [
    ['--min-age', 'RECONCILIATION_MIN_AGE_SECONDS'],
    ['--confirm-seconds', 'RECONCILIATION_CONFIRM_SECONDS'],
    ['--max-deletions', 'RECONCILIATION_MAX_DELETIONS'],
    ['--kubeconfig', 'KUBECONFIG'],
  ];
  it(`names the flag, not the variable, when an override is bad (${OVERRIDE_RUNS} generated overrides)`, () => {
    fc.assert(
      fc.property(fc.constantFrom(...FLAGS), envValueArb, fc.boolean(), ([flag, variable], value, alsoVariable) => {
        counter.add('flag overrides');
        // Prepare: the variable itself is valid (or absent): only the flag can be at fault.
        const env = alsoVariable ? { [variable]: variable === 'KUBECONFIG' ? '/etc/kubeconfig' : '120' } : {};
        const overrides: Partial<Record<Variable, Given>> = { [variable]: { value, source: flag } };
        // Act
        const loaded = load({ env, overrides, defaultMode: 'kubeconfig' });
        // Assess
        if ('error' in loaded) expect(loaded.error.setting, `${flag}=${show(value)}`).toBe(flag);
        assessOne(variable, value, loaded, flag);
      }),
      { numRuns: OVERRIDE_RUNS },
    );
  });

  it(`names --context when the context is bad (${OVERRIDE_RUNS} generated contexts)`, () => {
    fc.assert(
      fc.property(envValueArb, (context) => {
        counter.add('contexts');
        const loaded = load({ env: {}, defaultMode: 'kubeconfig', context });
        if ('error' in loaded) expect(loaded.error.setting).toBe('--context');
        else expect(loaded.config.kubeContext === undefined ? context.trim() === '' : loaded.config.kubeContext === context.trim()).toBe(true);
      }),
      { numRuns: OVERRIDE_RUNS },
    );
  });
});

describe('loadConfig, case by case', () => {
  const NUMERIC: Variable[] = ['RECONCILIATION_MIN_AGE_SECONDS', 'RECONCILIATION_CONFIRM_SECONDS', 'RECONCILIATION_MAX_DELETIONS', 'RECONCILIATION_CONCURRENCY', 'RECONCILIATION_INTERVAL'];
  const BAD_NUMBERS: [string, string][] = [
    ['empty', ''],
    ['blank', '   '],
    ['negative', '-1'],
    ['non-numeric', 'soon'],
    ['fractional', '1.5'],
    ['hex', '0x3c'],
    ['exponent', '6e1'],
    ['with a unit', '300s'],
    ['with inner spaces', '3 00'],
    ['huge', '99999999999999999999999'],
    ['far out of range', '1000000000'],
    ['non-ASCII digits', '３００'],
  ];
  const cases = NUMERIC.flatMap((variable) => BAD_NUMBERS.map(([why, value]) => [variable, why, value] as const));
  it.each(cases)('refuses %s %s (%j) with a ConfigError naming it and quoting the value', (variable, _why, value) => {
    // Act
    const loaded = load({ env: { [variable]: value }, defaultMode: 'kubeconfig' });
    // Assess
    expect('error' in loaded && loaded.error.setting).toBe(variable);
    expect((loaded as { error: ConfigError }).error.message).toContain(JSON.stringify(value.slice(0, 60)).slice(1, -1));
  });

  it.each([
    ['RECONCILIATION_ENABLED', 'yes'],
    ['RECONCILIATION_DRY_RUN', '1'],
    ['RECONCILIATION_DRY_RUN', ''],
    ['RECONCILIATION_NAMESPACES', ''],
    ['RECONCILIATION_NAMESPACES', 'jupyter-lab,Kube_System'],
    ['K8S_MODE', 'EKS'],
    ['K8S_MODE', ''],
    ['K8S_MODE', 'kubernetes'],
    ['SESSION_KEY_PREFIX', ''],
    ['METRICS_NAMESPACE', ''],
    ['RECONCILIATION_INTERVAL', '90'],
  ] as const)('refuses %s=%j with a ConfigError naming it', (variable, value) => {
    const loaded = load({ env: { [variable]: value }, defaultMode: 'kubeconfig' });
    expect('error' in loaded && loaded.error.setting).toBe(variable);
  });

  it.each([
    ['METRICS_NAMESPACE', 'the reserved AWS/ prefix', 'AWS/Lambda'],
    ['METRICS_NAMESPACE', 'more than 255 characters', 'x'.repeat(256)],
    ['METRICS_NAMESPACE', 'a non-ASCII character', 'Labs\u00e9'],
    ['EKS_CLUSTER_NAME', 'a slash', 'labs/prod'],
    ['EKS_CLUSTER_NAME', 'more than 100 characters', 'x'.repeat(101)],
    ['AWS_REGION', 'a slash', 'eu-west-1/x'],
    ['UPSTASH_REDIS_REST_TOKEN_PARAMETER', 'characters SSM refuses', 'lab-reconciler:token!'],
  ] as const)('refuses %s with %s at start, naming it, rather than failing every run', (variable, _why, value) => {
    // Prepare
    const env = { ...CONTEXT[variable], [variable]: value };
    // Act
    const loaded = load({ env, defaultMode: 'kubeconfig' });
    // Assess
    expect('error' in loaded, `${variable}=${show(value)} was accepted`).toBe(true);
    expect((loaded as { error: ConfigError }).error.setting).toBe(variable);
  });
});

describe('bad configuration through the command line', () => {
  const EXAMPLE = 'examples/cluster-snapshot.json';
  const CLI_FLAGS = ['--min-age', '--confirm-seconds', '--max-deletions', '--namespaces', '--output', '--now', '--context'] as const;

  it(`exits 2 naming the flag, or runs (${CLI_RUNS} generated flag values)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...CLI_FLAGS), envValueArb, async (flag, value) => {
        counter.add('command-line flag values');
        // Act
        const result = await runCli(['plan', '--snapshot', EXAMPLE, '--output', 'json', ...(flag === '--now' ? [] : ['--now', '2026-11-26T12:00:00Z']), `${flag}=${value}`]);
        // Assess
        if (result.status === 2) {
          expect(result.stderr, `${flag}=${show(value)}`).toContain(`lab-reconciler: ${flag}: `);
          expect(result.stdout).toBe('');
        } else {
          expect([0, 1], `${flag}=${show(value)}: ${result.stderr.slice(0, 200)}`).toContain(result.status);
          if (flag !== '--output') expect(() => JSON.parse(result.stdout), `${flag}=${show(value)}: ${result.stderr.slice(0, 200)}`).not.toThrow();
        }
        expect(result.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
      }),
      { numRuns: CLI_RUNS },
    );
  });

  it(`exits 2 naming the variable, before any request, for every bad variable (${CLI_RUNS} generated values)`, async () => {
    const server: KubeApiServer = await startKubeApiServer();
    try {
      const dir = mkdtempSync(join(tmpdir(), 'lab-reconciler-'));
      const kubeconfig = join(dir, 'config');
      writeFileSync(kubeconfig, server.kubeconfig({ context: 'config-test' }));
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...VARIABLES.filter((v) => v !== 'KUBECONFIG' && v !== 'K8S_MODE')), envValueArb, async (variable, value) => {
          counter.add('command-line variable values');
          if (verdict(variable, value) !== 'reject' || variable in CONTEXT) return;
          counter.add('command-line variable values refused (checked)');
          server.clearRequests();
          // Act: apply, against a live (local) cluster: a bad value must stop it before any request.
          const result = await runCli(['apply', '--output', 'json'], { KUBECONFIG: kubeconfig, [variable]: value });
          // Assess
          expect(result.status, `${variable}=${show(value)}: ${result.stderr.slice(0, 200)}`).toBe(2);
          expect(result.stderr).toContain(variable);
          expect(server.requests).toHaveLength(0);
        }),
        { numRuns: CLI_RUNS },
      );
    } finally {
      await server.close();
    }
  });

  it('accepts a KUBECONFIG path with a space in a directory name, as kubectl does', async () => {
    // Prepare
    const server = await startKubeApiServer();
    try {
      const dir = join(mkdtempSync(join(tmpdir(), 'lab-reconciler-')), 'My Documents');
      mkdirSync(dir);
      const kubeconfig = join(dir, 'kube config');
      writeFileSync(kubeconfig, server.kubeconfig({ context: 'spaced' }));
      // Act
      const result = await runCli(['plan', '--output', 'json'], { KUBECONFIG: kubeconfig });
      // Assess
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
    } finally {
      await server.close();
    }
  });
});
