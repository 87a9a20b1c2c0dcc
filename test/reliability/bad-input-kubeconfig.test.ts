/**
 * Bad input: kubeconfigs, through the command line in-process (KUBECONFIG, --kubeconfig,
 * --context). Each ends in exit status 2 with a message naming the setting, before any
 * request to the (local) API server the kubeconfig points at, and never a stack trace.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { KubeApiServer } from '../support/kube-api-server.js';
import { startKubeApiServer } from '../support/kube-api-server.js';
import { runCli } from '../support/cli.js';
import type { CliResult } from '../support/cli.js';
import { seedSession } from '../support/lab.js';
import { InputCounter } from './support/input-names.js';
import type { KubeconfigDoc, Mutation } from './support/input-kubeconfig.js';
import { CONTROL, INTERNAL_ERROR, STACK_LINE, mutationsArb, validKubeconfig } from './support/input-kubeconfig.js';

const MUTATION_RUNS = 200;
const BYTES_RUNS = 150;
const counter = new InputCounter();
let server: KubeApiServer;
let dir: string;
let fileCount = 0;

beforeAll(async () => {
  server = await startKubeApiServer();
  dir = mkdtempSync(join(tmpdir(), 'lab-reconciler-kubeconfig-'));
});
afterAll(async () => {
  counter.report('bad-input-kubeconfig');
  await server.close();
});
beforeEach(() => {
  server.clear();
  server.clearRequests();
  seedSession(server, 'jupyter-lab', 'jupyter', 'dead');
});

function file(content: string | Uint8Array, name = `kubeconfig-${fileCount++}`): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function valid(): KubeconfigDoc {
  return validKubeconfig(server.url, server.caData, server.token);
}

/** Exit 2, the setting named on stderr, nothing on stdout, no request, no stack trace, no internal error. */
function expectRefused(result: CliResult, setting: string, what: string): void {
  expect(result.status, `${what}: ${result.stderr.slice(0, 300)}`).toBe(2);
  expect(result.stderr, what).toContain(`lab-reconciler: ${setting}: `);
  expect(result.stdout, what).toBe('');
  expect(server.requests, `${what}: requests were sent`).toHaveLength(0);
  expect(result.stderr, what).not.toMatch(STACK_LINE);
}

/** The explanation is in words: no internal JavaScript error as the reason, no control characters echoed from the file. */
function expectPlainExplanation(result: CliResult, what: string): void {
  expect(result.stderr, `${what}: an internal JavaScript error is given as the explanation`).not.toMatch(INTERNAL_ERROR);
  expect(result.stderr, `${what}: control characters from the file were echoed to the terminal`).not.toMatch(CONTROL);
}

describe('the local API server and a valid kubeconfig (the baseline)', () => {
  it('plans against the valid kubeconfig through KUBECONFIG, --kubeconfig and --context', async () => {
    const path = file(JSON.stringify(valid()));
    for (const [argv, env] of [
      [['plan', '--output', 'json'], { KUBECONFIG: path }],
      [['plan', '--output', 'json', '--kubeconfig', path], {}],
      [['plan', '--output', 'json', '--context', 'lab'], { KUBECONFIG: path }],
    ] as [string[], Record<string, string>][]) {
      const result = await runCli(argv, env);
      expect(result.status, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout).sessions).toHaveLength(1);
    }
    expect(server.requests.length).toBeGreaterThan(0);
  });
});

describe('bad kubeconfig files', () => {
  const cases: [string, () => string, 'KUBECONFIG' | '--kubeconfig'][] = [
    ['a missing file', () => join(dir, 'does-not-exist'), 'KUBECONFIG'],
    ['a missing file given with --kubeconfig', () => join(dir, 'does-not-exist'), '--kubeconfig'],
    ['a directory', () => {
      const path = join(dir, `a-directory-${fileCount++}`);
      mkdirSync(path);
      return path;
    }, 'KUBECONFIG'],
    ['an empty file', () => file(''), 'KUBECONFIG'],
    ['an empty file given with --kubeconfig', () => file(''), '--kubeconfig'],
    ['a file of white space and comments', () => file('  \n# nothing\n'), 'KUBECONFIG'],
    ['malformed YAML', () => file('clusters: [\n  - name: x\n    cluster: {server: "https://127.0.0.1"'), 'KUBECONFIG'],
    ['YAML with a tab indent', () => file('clusters:\n\t- name: x\n'), 'KUBECONFIG'],
    ['YAML that is a list', () => file('- a\n- b\n'), 'KUBECONFIG'],
    ['YAML that is a scalar', () => file('hello\n'), 'KUBECONFIG'],
    ['YAML that is null', () => file('null\n'), 'KUBECONFIG'],
    ['YAML that is a number', () => file('6443\n'), 'KUBECONFIG'],
    ['a JSON array', () => file('[]'), 'KUBECONFIG'],
    ['two files, the second missing', () => `${file(JSON.stringify(valid()))}:${join(dir, 'nope')}`, 'KUBECONFIG'],
    ['two files, the second malformed', () => `${file(JSON.stringify(valid()))}:${file('{{{')}`, 'KUBECONFIG'],
    ['only separators', () => '::', 'KUBECONFIG'],
  ];
  const run = (path: string, setting: string) => (setting === 'KUBECONFIG' ? runCli(['apply'], { KUBECONFIG: path }) : runCli(['apply', '--kubeconfig', path]));
  it.each(cases)('refuses %s with exit 2 naming the setting, before any request', async (what, path, setting) => {
    // Act
    const result = await run(path(), setting);
    // Assess
    expectRefused(result, setting, what);
  });
  it.each(cases)('explains %s in words, not with an internal JavaScript error', async (what, path, setting) => {
    // Act
    const result = await run(path(), setting);
    // Assess
    expectPlainExplanation(result, what);
  });
});

describe('bad contexts, clusters, users and servers', () => {
  const edit = (change: (doc: KubeconfigDoc) => void) => {
    const doc = valid();
    change(doc);
    return file(JSON.stringify(doc));
  };
  const context = (doc: KubeconfigDoc) => (doc.contexts as { context: Record<string, unknown> }[])[0]!.context;
  const cluster = (doc: KubeconfigDoc) => (doc.clusters as { cluster: Record<string, unknown> }[])[0]!.cluster;
  const user = (doc: KubeconfigDoc) => (doc.users as { user: Record<string, unknown> }[])[0]!.user;

  const cases: [string, () => string, string[], string][] = [
    ['a --context that does not exist', () => edit(() => {}), ['--context', 'nope'], '--context'],
    ['a current-context that does not exist', () => edit((d) => (d['current-context'] = 'nope')), [], 'KUBECONFIG'],
    ['no current-context', () => edit((d) => delete d['current-context']), [], 'KUBECONFIG'],
    ['a context naming a missing cluster', () => edit((d) => (context(d).cluster = 'gone')), [], 'KUBECONFIG'],
    ['a --context naming a missing cluster', () => edit((d) => (context(d).cluster = 'gone')), ['--context', 'lab'], '--context'],
    ['a context naming a missing user', () => edit((d) => (context(d).user = 'gone')), [], 'KUBECONFIG'],
    ['a cluster without a server', () => edit((d) => delete cluster(d).server), [], 'KUBECONFIG'],
    ['a server that is not a URL', () => edit((d) => (cluster(d).server = 'not a url')), [], 'KUBECONFIG'],
    ['a server without a scheme (host:port)', () => edit((d) => (cluster(d).server = `localhost:${new URL(server.url).port}`)), [], 'KUBECONFIG'],
    ['a server with a scheme other than http(s)', () => edit((d) => (cluster(d).server = `ftp://127.0.0.1:${new URL(server.url).port}`)), [], 'KUBECONFIG'],
    ['a server with a host but no scheme separator', () => edit((d) => (cluster(d).server = `127.0.0.1:${new URL(server.url).port}`)), [], 'KUBECONFIG'],
    ['a certificate-authority file that does not exist', () => edit((d) => {
      delete cluster(d)['certificate-authority-data'];
      cluster(d)['certificate-authority'] = join(dir, 'missing-ca.pem');
    }), [], 'KUBECONFIG'],
    ['a client-certificate file that does not exist', () => edit((d) => {
      delete user(d).token;
      user(d)['client-certificate'] = join(dir, 'missing-cert.pem');
      user(d)['client-key'] = join(dir, 'missing-key.pem');
    }), [], 'KUBECONFIG'],
    ['certificate-authority-data that is not a certificate', () => edit((d) => (cluster(d)['certificate-authority-data'] = Buffer.from('not a certificate').toString('base64'))), [], 'KUBECONFIG'],
  ];
  it.each(cases)('refuses %s with exit 2 naming the setting, before any request', async (what, path, extra, setting) => {
    // Act
    const result = await runCli(['apply', ...extra], { KUBECONFIG: path() });
    // Assess
    expectRefused(result, setting, what);
  });
});

describe('generated bad kubeconfigs', () => {
  async function runMutated(mutations: Mutation[], viaFlag: boolean, asYaml: boolean): Promise<CliResult> {
    server.clearRequests();
    const doc = valid();
    for (const m of mutations) m.apply(doc);
    const path = file(asYaml ? toYaml(doc) : JSON.stringify(doc));
    return viaFlag ? runCli(['apply', '--kubeconfig', path]) : runCli(['apply'], { KUBECONFIG: path });
  }
  const describeMutations = (mutations: Mutation[]) => mutations.map((m) => m.name).join(' + ');

  it(`refuses every kubeconfig broken by 1 to 3 mutations (${MUTATION_RUNS} generated kubeconfigs)`, async () => {
    await fc.assert(
      fc.asyncProperty(mutationsArb, fc.boolean(), fc.boolean(), async (mutations, viaFlag, asYaml) => {
        counter.add('mutated kubeconfigs');
        const result = await runMutated(mutations, viaFlag, asYaml);
        expectRefused(result, viaFlag ? '--kubeconfig' : 'KUBECONFIG', describeMutations(mutations));
      }),
      { numRuns: MUTATION_RUNS },
    );
  });

  it(`explains every mutated kubeconfig in words (${MUTATION_RUNS} generated kubeconfigs)`, async () => {
    await fc.assert(
      fc.asyncProperty(mutationsArb, fc.boolean(), fc.boolean(), async (mutations, viaFlag, asYaml) => {
        counter.add('mutated kubeconfigs (explanations)');
        const result = await runMutated(mutations, viaFlag, asYaml);
        expectPlainExplanation(result, describeMutations(mutations));
      }),
      { numRuns: MUTATION_RUNS },
    );
  });

  async function runBytes(bytes: Uint8Array): Promise<CliResult> {
    server.clearRequests();
    return runCli(['apply'], { KUBECONFIG: file(bytes) });
  }

  it(`refuses random bytes with exit 2 naming KUBECONFIG (${BYTES_RUNS} generated files)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 400 }), async (bytes) => {
        counter.add('random-byte kubeconfigs');
        expectRefused(await runBytes(bytes), 'KUBECONFIG', `${bytes.length} random bytes`);
      }),
      { numRuns: BYTES_RUNS },
    );
  });

  it(`explains random bytes in words, not with an internal JavaScript error (${BYTES_RUNS} generated files)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 400 }), async (bytes) => {
        counter.add('random-byte kubeconfigs (explanations)');
        const result = await runBytes(bytes);
        expect(result.stderr, `${bytes.length} random bytes: an internal JavaScript error is given as the explanation`).not.toMatch(INTERNAL_ERROR);
      }),
      { numRuns: BYTES_RUNS },
    );
  });

  it(`echoes no control characters from random bytes to the terminal (${BYTES_RUNS} generated files)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 400 }), async (bytes) => {
        counter.add('random-byte kubeconfigs (control characters)');
        const result = await runBytes(bytes);
        expect(result.stderr, `${bytes.length} random bytes: control characters were echoed`).not.toMatch(CONTROL);
      }),
      { numRuns: BYTES_RUNS },
    );
  });
});

/** A small YAML writer for the kubeconfig shapes used here (block style, JSON-quoted scalars). */
function toYaml(value: unknown, indent = ''): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return value.map((v) => `\n${indent}- ${toYaml(v, `${indent}  `).replace(/^\n\s*/, '')}`).join('');
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    if (entries.length === 0) return '{}';
    return entries.map(([k, v]) => `\n${indent}${JSON.stringify(k)}: ${toYaml(v, `${indent}  `)}`).join('');
  }
  return JSON.stringify(value) ?? 'null';
}
