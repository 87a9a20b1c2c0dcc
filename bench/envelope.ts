/**
 * The Lambda's memory envelope, reproduced on this machine: the V8 flags the Lambda Node.js
 * runtime starts a function of M MB with, inside a cgroup v1 memory cgroup of M MB (the
 * Lambda kills a function whose process exceeds its memory, as the cgroup's OOM killer
 * does here). The cgroup needs root and the v1 memory controller at /sys/fs/cgroup/memory;
 * without them the run gets the flags alone, and says so.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildJob, ChildReport } from './child.js';
import type { ChildExit } from './fork.js';
import { spawnChild } from './fork.js';

const CONTROLLER = '/sys/fs/cgroup/memory';
const MB = 1024 * 1024;

/**
 * The runtime's flags for a function of `memoryMb`: `--max-semi-space-size=M/20` and
 * `--max-old-space-size=M-M/10`, in whole MB (the bootstrap's shell arithmetic).
 */
export function lambdaFlags(memoryMb: number): string[] {
  return [`--max-semi-space-size=${Math.floor(memoryMb / 20)}`, `--max-old-space-size=${memoryMb - Math.floor(memoryMb / 10)}`];
}

/** What a cgroup saw of the processes it held. */
export interface CgroupReading {
  /** `memory.max_usage_in_bytes`: the peak of the memory charged (resident pages, page cache, kernel memory). */
  maxUsageBytes: number;
  /**
   * `memory.failcnt` plus `memory.memsw.failcnt`: how often a charge hit the limit (the kernel
   * then reclaimed, or killed). With swap accounted, the memory+swap counter is charged first,
   * so a limit reached shows in its count. Some kernels leave both at 0 even when the OOM
   * killer fires (6.18 here): `oomKills` and the exit are what tell a kill.
   */
  failcnt: number;
  /** `oom_kill` of `memory.oom_control` (kernels since 4.13): processes the OOM killer ended in it. */
  oomKills: number | undefined;
}

/** One memory cgroup of the bench's own, made for one child and removed after it. */
export interface MemoryCgroup {
  path: string;
  /** The file a process writes its pid to, to move itself in. */
  procs: string;
  read(): CgroupReading;
  remove(): void;
}

/** Why no cgroup can be made here; undefined when one can be. */
export function cgroupUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return 'not root';
  if (!existsSync(join(CONTROLLER, 'memory.limit_in_bytes'))) return `no cgroup v1 memory controller at ${CONTROLLER}`;
  return undefined;
}

let made = 0;
const PREFIX = 'lab-reconciler-bench-';

/** Makes a memory cgroup limited to `memoryMb` (swap included where the kernel accounts it); throws when it cannot. */
export function createCgroup(memoryMb: number): MemoryCgroup {
  if (made === 0) removeLeftovers();
  const path = join(CONTROLLER, `${PREFIX}${process.pid}-${++made}`);
  mkdirSync(path);
  const cgroup: MemoryCgroup = {
    path,
    procs: join(path, 'cgroup.procs'),
    read: () => readCgroup(path),
    remove: () => removeCgroup(path),
  };
  try {
    const limit = String(memoryMb * MB);
    writeFileSync(join(path, 'memory.limit_in_bytes'), limit);
    // The memory+swap limit can only be set once the memory limit is (it must not be lower).
    const memsw = join(path, 'memory.memsw.limit_in_bytes');
    if (existsSync(memsw)) writeFileSync(memsw, limit);
  } catch (error) {
    cgroup.remove();
    throw error;
  }
  return cgroup;
}

const CPU_CONTROLLER = '/sys/fs/cgroup/cpu';
/** The Lambda gives a function one vCPU at 1,769 MB, and CPU in proportion to memory below that. */
export const MB_PER_VCPU = 1769;

/** The share of one CPU the Lambda gives a function of `memoryMb`. */
export function lambdaCpuShare(memoryMb: number): number {
  return memoryMb / MB_PER_VCPU;
}

/**
 * A cgroup v1 cpu cgroup whose CFS quota is the Lambda's CPU share for `memoryMb` (one vCPU at
 * 1,769 MB): so that a run's wall time is what the function's CPU allows, not this machine's.
 */
export function createCpuCgroup(memoryMb: number): { procs: string; remove(): void } {
  if (!existsSync(join(CPU_CONTROLLER, 'cpu.cfs_quota_us'))) throw new Error(`no cgroup v1 cpu controller at ${CPU_CONTROLLER}`);
  const path = join(CPU_CONTROLLER, `${PREFIX}${process.pid}-${++made}`);
  mkdirSync(path);
  const period = 100_000;
  writeFileSync(join(path, 'cpu.cfs_period_us'), String(period));
  writeFileSync(join(path, 'cpu.cfs_quota_us'), String(Math.max(1000, Math.round(period * lambdaCpuShare(memoryMb)))));
  return { procs: join(path, 'cgroup.procs'), remove: () => removeCgroup(path) };
}

/** Removes the empty cgroups of benches that are gone (one killed before it could remove its own). */
function removeLeftovers(): void {
  for (const name of readdirSync(CONTROLLER)) {
    const pid = Number(new RegExp(`^${PREFIX}(\\d+)-\\d+$`).exec(name)?.[1]);
    if (!pid || pid === process.pid || existsSync(`/proc/${pid}`)) continue;
    try {
      rmdirSync(join(CONTROLLER, name));
    } catch {
      // Still holds a process: left alone.
    }
  }
}

function readCgroup(path: string): CgroupReading {
  const number = (file: string) => (existsSync(join(path, file)) ? Number(readFileSync(join(path, file), 'utf8').trim()) : 0);
  const oom = /^oom_kill (\d+)$/m.exec(readFileSync(join(path, 'memory.oom_control'), 'utf8'));
  const failcnt = number('memory.failcnt') + number('memory.memsw.failcnt');
  return { maxUsageBytes: number('memory.max_usage_in_bytes'), failcnt, oomKills: oom ? Number(oom[1]) : undefined };
}

/**
 * Removes the cgroup once its processes are gone (a killed process leaves it a moment after
 * its exit is reported). Its page cache is handed to the parent cgroup by the kernel.
 */
function removeCgroup(path: string): void {
  for (let attempt = 0; ; attempt++) {
    try {
      rmdirSync(path);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || attempt >= 50) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

/** How the child was held to the envelope: a cgroup and the flags, or the flags alone (and why). */
export type Confinement = { by: 'cgroup' } | { by: 'flags'; why: string };

/** Figures of a run that completed inside the envelope. */
export interface EnvelopeOk {
  status: 'ok';
  memoryMb: number;
  confinement: Confinement;
  /** The cgroup's peak; with the flags alone, the process's peak resident set. */
  peakBytes: number;
  /** How often the cgroup's limit was hit and the kernel had to reclaim (page cache) to go on (see {@link CgroupReading}). */
  failcnt: number | undefined;
  report: Extract<ChildReport, { ok: true }>;
}

/** A run that the envelope ended: the cgroup's OOM killer (`killed`), or V8 at its heap limit (`out of heap`). */
export interface EnvelopeKilled {
  status: 'killed' | 'out of heap';
  memoryMb: number;
  confinement: Confinement;
  peakBytes: number | undefined;
  failcnt: number | undefined;
  /** From spawn to death. */
  elapsedMs: number;
  detail: string;
}

export type EnvelopeResult = EnvelopeOk | EnvelopeKilled;

/** Where a child's memory failure shows: a report of an allocation error, or V8's fatal message on stderr. */
const OUT_OF_MEMORY = /heap out of memory|Reached heap limit|allocation failed|Cannot allocate memory|ENOMEM/i;

/**
 * Runs the job in a child held to `memoryMb` as the Lambda would hold it. A child the limit
 * ends is a result, not an error; a child that fails otherwise rejects, as a plain run does.
 */
export async function runInEnvelope(job: ChildJob, memoryMb: number, useCgroup = true, lambdaCpu = false): Promise<EnvelopeResult> {
  let cpu: { procs: string; remove(): void } | undefined;
  let confinement: Confinement = { by: 'flags', why: useCgroup ? (cgroupUnavailable() ?? '') : 'cgroup turned off (--no-cgroup)' };
  let cgroup: MemoryCgroup | undefined;
  if (confinement.why === '') {
    try {
      cgroup = createCgroup(memoryMb);
      confinement = { by: 'cgroup' };
    } catch (error) {
      confinement = { by: 'flags', why: `cgroup not made: ${error instanceof Error ? error.message : String(error)}` };
    }
  }
  let exit: ChildExit;
  let reading: CgroupReading | undefined;
  try {
    cpu = lambdaCpu && cgroup ? createCpuCgroup(memoryMb) : undefined;
    const procs = [...(cgroup ? [cgroup.procs] : []), ...(cpu ? [cpu.procs] : [])];
    exit = await spawnChild(job, { execArgv: lambdaFlags(memoryMb), captureStderr: true, dropNodeOptions: true, cgroupProcs: procs });
    reading = cgroup?.read();
  } finally {
    cgroup?.remove();
    cpu?.remove();
  }
  const { report, code, signal, stderr, elapsedMs } = exit;
  const common = { memoryMb, confinement, failcnt: reading?.failcnt };
  if (report?.ok) {
    if (stderr) process.stderr.write(stderr);
    return { status: 'ok', ...common, peakBytes: reading?.maxUsageBytes ?? report.memory.maxRssBytes, report };
  }
  const peakBytes = reading?.maxUsageBytes;
  const said = report ? report.error : stderr;
  if (signal === 'SIGKILL' || code === 137) {
    const oom = reading?.oomKills === undefined ? '' : `, ${reading.oomKills} OOM kill(s) in the cgroup`;
    return { status: 'killed', ...common, peakBytes, elapsedMs, detail: `SIGKILL after ${(elapsedMs / 1000).toFixed(1)} s${oom}` };
  }
  const fatal = said.split('\n').find((l) => OUT_OF_MEMORY.test(l));
  if (fatal) {
    return { status: 'out of heap', ...common, peakBytes, elapsedMs, detail: `${signal ?? `exit ${code}`} after ${(elapsedMs / 1000).toFixed(1)} s: ${fatal.trim().slice(0, 200)}` };
  }
  throw new Error(`The ${job.algorithm} child in a ${memoryMb} MB envelope failed (code ${code}, signal ${signal}): ${report ? report.error : stderr.slice(-2000)}`);
}
