/** Runs one {@link ChildJob} in a fresh Node process and waits for its report. */
import type { ChildProcess } from 'node:child_process';
import { fork, spawn } from 'node:child_process';
import type { ChildEntry } from './bundle.js';
import { childBundle } from './bundle.js';
import type { ChildJob, ChildReport } from './child.js';

/** How a child process ended: its report, if it sent one, and its exit. */
export interface ChildExit<Report = ChildReport> {
  report: Report | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The end of what it wrote to stderr, when captured. */
  stderr: string;
  /** From spawn to exit. */
  elapsedMs: number;
}

export interface SpawnOptions {
  /** Node flags before the entry (BENCH_CHILD_ARGS are added after them). */
  execArgv?: string[];
  /** Cgroups' `cgroup.procs`: the child moves itself in before Node starts, so all its memory (and CPU) is charged there. */
  cgroupProcs?: string[];
  /** Keep stderr (its last 16 KB) in {@link ChildExit.stderr} instead of passing it through. */
  captureStderr?: boolean;
  /** Leave NODE_OPTIONS out of the child's environment (the Lambda runtime sets none; the bench's own may raise its heap). */
  dropNodeOptions?: boolean;
}

const STDERR_KEPT = 16 * 1024;

/** Starts the bundled child, hands it the job, and resolves once it has exited, whatever the way. */
export function spawnChild(job: ChildJob, options: SpawnOptions = {}): Promise<ChildExit> {
  return spawnEntry<ChildReport>('child', job, options);
}

/** {@link spawnChild} for any of the bench's child entries, whose job and report are its own. */
export async function spawnEntry<Report>(name: ChildEntry, job: object, options: SpawnOptions = {}): Promise<ChildExit<Report>> {
  const entry = await childBundle(name);
  // BENCH_CHILD_ARGS passes Node flags to the child, e.g. `--cpu-prof` to see where a run's time goes.
  const execArgv = [...(options.execArgv ?? []), ...(process.env.BENCH_CHILD_ARGS ?? '').split(' ').filter((a) => a !== '')];
  const stdio = ['ignore', 'inherit', options.captureStderr ? 'pipe' : 'inherit', 'ipc'] as const;
  const { NODE_OPTIONS: _dropped, ...withoutOptions } = process.env;
  const env = options.dropNodeOptions ? withoutOptions : process.env;
  const started = performance.now();
  // Through a shell that writes its own pid to the cgroup, then becomes Node (exec keeps the
  // pid and the IPC channel's descriptor): the process is in the cgroup from its first page.
  const child: ChildProcess = options.cgroupProcs?.length
    ? spawn('/bin/sh', ['-c', 'for procs in $BENCH_CGROUP_PROCS; do echo $$ > "$procs" || exit 1; done; exec "$@"', 'sh', process.execPath, ...execArgv, entry], {
        stdio: [...stdio],
        env: { ...env, BENCH_CGROUP_PROCS: options.cgroupProcs.join(' ') },
      })
    : fork(entry, [], { execPath: process.execPath, execArgv, stdio: [...stdio], env });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_KEPT);
  });
  return new Promise<ChildExit<Report>>((resolve, reject) => {
    let report: Report | undefined;
    child.once('message', (message) => {
      report = message as Report;
    });
    child.once('error', reject);
    // 'close', not 'exit': by then stderr is read to its end.
    child.once('close', (code, signal) => resolve({ report, code, signal, stderr, elapsedMs: performance.now() - started }));
    // A child killed before it reads the job closes the channel under this send: the exit says why.
    child.send(job, (error) => {
      if (error && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
  });
}

/** Runs the job in a plain child; rejects when it fails or dies. */
export async function runInChild(job: ChildJob): Promise<Extract<ChildReport, { ok: true }>> {
  const { report, code, signal } = await spawnChild(job);
  if (!report) throw new Error(`The ${job.algorithm} child exited without a report (code ${code}, signal ${signal})`);
  if (!report.ok) throw new Error(`The ${job.algorithm} run failed in its child process:\n${report.error}`);
  return report;
}
