/** Runs one {@link ChildJob} in a fresh Node process and waits for its report. */
import { fork } from 'node:child_process';
import { childBundle } from './bundle.js';
import type { ChildJob, ChildReport } from './child.js';

/** Forks the bundled child, hands it the job, and resolves to its report; rejects when it fails or dies. */
export async function runInChild(job: ChildJob): Promise<Extract<ChildReport, { ok: true }>> {
  const entry = await childBundle();
  // BENCH_CHILD_ARGS passes Node flags to the child, e.g. `--cpu-prof` to see where a run's time goes.
  const execArgv = (process.env.BENCH_CHILD_ARGS ?? '').split(' ').filter((a) => a !== '');
  const child = fork(entry, [], { execPath: process.execPath, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const report = await new Promise<ChildReport>((resolve, reject) => {
    let answered = false;
    child.once('message', (message) => {
      answered = true;
      resolve(message as ChildReport);
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (!answered) reject(new Error(`The ${job.algorithm} child exited without a report (code ${code}, signal ${signal})`));
    });
    child.send(job);
  });
  if (!report.ok) throw new Error(`The ${job.algorithm} run failed in its child process:\n${report.error}`);
  return report;
}
