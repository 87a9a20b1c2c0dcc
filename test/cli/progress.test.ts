/**
 * The progress line: drawn on a terminal while a run lists and cleans, never when stderr is
 * not a terminal (CI, a pipe), and out of the way of log lines and of the output.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { terminalProgress } from '../../src/cli/progress.js';
import type { KubeApiServer } from '../support/kube-api-server.js';
import { startKubeApiServer } from '../support/kube-api-server.js';
import { runCli } from '../support/cli.js';
import { seedSession, tempFile } from '../support/lab.js';

const run = promisify(execFile);
const CLEAR_LINE = '\r\x1b[2K';

describe('terminalProgress', () => {
  it('is nothing at all when stderr is not a terminal', () => {
    expect(terminalProgress({ write: () => true })).toBeUndefined();
    expect(terminalProgress({ write: () => true, isTTY: false })).toBeUndefined();
  });

  it('redraws one line in place, at most every 100 ms, ending on the whole count', () => {
    // Prepare
    const written: string[] = [];
    let time = 0;
    const progress = terminalProgress({ write: (t: string) => written.push(t), isTTY: true }, () => time)!;

    // Act
    progress.listed('jupyter-lab', 500, false);
    time = 50;
    progress.listed('ubuntu-lab', 500, false);
    time = 150;
    progress.listed('jupyter-lab', 1000, false);
    time = 160;
    progress.listed('jupyter-lab', 1200, true);
    progress.cleaned(1, 3);
    time = 160;
    progress.cleaned(3, 3);
    progress.stop();

    // Assess: the 50 ms update is folded into the next; whole counts are drawn at once
    expect(written).toEqual([
      `${CLEAR_LINE}Listing objects: jupyter-lab 500`,
      `${CLEAR_LINE}Listing objects: jupyter-lab 1,000, ubuntu-lab 500`,
      `${CLEAR_LINE}Listing objects: jupyter-lab 1,200, ubuntu-lab 500`,
      `${CLEAR_LINE}Cleaning: 3 of 3 sessions`,
      CLEAR_LINE,
    ]);
  });

  it('clears its line before a log line, so the log line stands alone', () => {
    // Prepare
    const written: string[] = [];
    const progress = terminalProgress({ write: (t: string) => written.push(t), isTTY: true }, () => 0)!;
    progress.listed('jupyter-lab', 500, false);

    // Act
    progress.logStream.write('warning: Retrying list\n');
    progress.listed('jupyter-lab', 1000, false);

    // Assess
    expect(written).toEqual([`${CLEAR_LINE}Listing objects: jupyter-lab 500`, CLEAR_LINE, 'warning: Retrying list\n', `${CLEAR_LINE}Listing objects: jupyter-lab 1,000`]);
  });
});

describe('the progress of a run on the command line', () => {
  let server: KubeApiServer;
  let kubeconfig: string;
  beforeAll(async () => {
    server = await startKubeApiServer();
    kubeconfig = tempFile('kubeconfig', server.kubeconfig());
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => {
    server.reset();
    // 600 live sessions and 3 orphans: more than one progress step of objects.
    for (let i = 0; i < 600; i++) seedSession(server, 'jupyter-lab', 'jupyter', `live${i}`, { deployment: true });
    for (let i = 0; i < 3; i++) seedSession(server, 'jupyter-lab', 'jupyter', `dead${i}`);
  });

  it('shows objects listed and sessions cleaned on a terminal, on stderr only', async () => {
    // Act
    const result = await runCli(['apply', '--output', 'json', '--min-age', '60', '--namespaces', 'jupyter-lab'], { KUBECONFIG: kubeconfig }, undefined, { stderrIsTTY: true });

    // Assess
    expect(result.status).toBe(0);
    expect(result.stderr).toContain(`${CLEAR_LINE}Listing objects: jupyter-lab `);
    // Every object of the namespace: 603 Services, Ingresses and ConfigMaps, 600 Deployments and slices.
    expect(result.stderr).toContain('Listing objects: jupyter-lab 3,009');
    expect(result.stderr).toContain('Cleaning: 3 of 3 sessions');
    // The line is gone at the end: what stderr ends with is a whole log line, or the clearing.
    expect(result.stderr).toMatch(/(\n|\r\x1b\[2K)$/);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'ok', totals: { cleanedUp: 3 } });
  });

  it('writes no progress when stderr is not a terminal', async () => {
    // Act
    const result = await runCli(['apply', '--output', 'json', '--min-age', '60', '--namespaces', 'jupyter-lab'], { KUBECONFIG: kubeconfig });

    // Assess
    expect(result.status).toBe(0);
    expect(result.stderr).not.toContain('Listing objects');
    expect(result.stderr).not.toContain('\r');
    expect(JSON.parse(result.stdout)).toMatchObject({ totals: { cleanedUp: 3 } });
  });

  it('writes no progress from the built command line whose stderr is a pipe', async () => {
    // Act
    const { stdout, stderr } = await run(process.execPath, ['dist/cli.mjs', 'apply', '--output', 'json', '--min-age', '60', '--kubeconfig', kubeconfig, '--namespaces', 'jupyter-lab'], {
      env: { PATH: process.env.PATH ?? '' },
    });

    // Assess
    expect(stderr).not.toContain('Listing objects');
    expect(stderr).not.toContain('\r');
    expect(JSON.parse(stdout)).toMatchObject({ totals: { cleanedUp: 3 } });
  });

  it('draws the line on a real terminal (a pseudo-terminal made by script)', async () => {
    // Act: script(1) gives the command a pseudo-terminal, as a person's shell does
    const command = `${process.execPath} dist/cli.mjs apply --min-age 60 --kubeconfig ${kubeconfig} --namespaces jupyter-lab`;
    const { stdout } = await run('script', ['-qec', command, '/dev/null'], { env: { PATH: process.env.PATH ?? '', TERM: 'xterm' } });

    // Assess: the terminal saw the progress and then the table
    expect(stdout).toContain('Listing objects: jupyter-lab 3,009');
    expect(stdout).toContain('Cleaning: 3 of 3 sessions');
    expect(stdout).toMatch(/jupyter-lab\s+jupyter\s+dead0\s+cleaned/);
  });
});
