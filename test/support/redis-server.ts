/**
 * A private, throwaway redis-server for tests: its own port on 127.0.0.1, its
 * own temporary directory, no persistence. Never the machine's Redis on 6379,
 * so tests can flush it freely and run in parallel.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RespClient, replyToString } from './resp-client.js';

/** A running private redis-server. */
export interface RedisServer {
  /** The TCP port it listens on, on 127.0.0.1. */
  port: number;
  /** `redis://127.0.0.1:{port}` */
  url: string;
  /** Stops the server and deletes its temporary directory. Safe to call twice. */
  stop(): Promise<void>;
}

const BINARY = 'redis-server';
const HOST = '127.0.0.1';
const PORT_ATTEMPTS = 5;
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const OUTPUT_KEPT = 4_000;

/** Raised when the port chosen was taken between probing and binding. */
class PortTakenError extends Error {}

/**
 * Starts a private redis-server on a free port and resolves once it answers
 * PING. Throws a clear error when redis-server is not installed.
 */
export async function startRedisServer(): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'lab-reconciler-redis-'));
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await findFreePort();
      try {
        return await launch(port, dir);
      } catch (error) {
        // Another process may grab the port between our probe and Redis's bind.
        if (!(error instanceof PortTakenError) || attempt >= PORT_ATTEMPTS) throw error;
      }
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Asks the kernel for an unused port by binding port 0, then releases it. */
export async function findFreePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const probe = createServer();
      probe.once('error', reject);
      probe.listen(0, HOST, () => {
        const address = probe.address();
        const found = typeof address === 'object' && address ? address.port : 0;
        probe.close(() => resolve(found));
      });
    });
    // Ephemeral ports never include 6379 on Linux, but the promise is "never".
    if (port !== 0 && port !== 6379) return port;
  }
}

async function launch(port: number, dir: string): Promise<RedisServer> {
  const child = spawn(
    BINARY,
    ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output = captureOutput(child);
  const exit = watchExit(child);
  // If the test process dies without calling stop(), do not leave Redis behind.
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);

  try {
    await waitUntilAnswering(port, child, () => exit.info, output);
  } catch (error) {
    process.off('exit', killOnExit);
    await terminate(child, exit.done);
    throw error;
  }

  let stopped: Promise<void> | undefined;
  return {
    port,
    url: `redis://${HOST}:${port}`,
    stop: () =>
      (stopped ??= (async () => {
        process.off('exit', killOnExit);
        await terminate(child, exit.done);
        await rm(dir, { recursive: true, force: true });
      })()),
  };
}

type ExitInfo = { code: number | null; signal: NodeJS.Signals | null } | { spawnError: NodeJS.ErrnoException };

/**
 * Tracks how the child ended. 'close' rather than 'exit': it comes after
 * stdout/stderr are drained, so the output explains the exit.
 */
function watchExit(child: ChildProcess): { readonly info: ExitInfo | undefined; done: Promise<void> } {
  const state: { info: ExitInfo | undefined; done: Promise<void> } = { info: undefined, done: Promise.resolve() };
  state.done = new Promise((resolve) => {
    child.once('error', (spawnError: NodeJS.ErrnoException) => {
      state.info ??= { spawnError };
      resolve();
    });
    child.once('close', (code, signal) => {
      state.info ??= { code, signal };
      resolve();
    });
  });
  return state;
}

/** Turns an early exit into the most helpful error we can give. */
function failedToStart(how: ExitInfo, output: string): never {
  if ('spawnError' in how) {
    if (how.spawnError.code === 'ENOENT') {
      throw new Error(
        `${BINARY} was not found on PATH. The Redis-backed tests need a local Redis server ` +
          `(Debian/Ubuntu: apt-get install redis-server).`,
      );
    }
    throw new Error(`Could not start ${BINARY}: ${how.spawnError.message}`);
  }
  if (/address already in use/i.test(output)) throw new PortTakenError(output);
  throw new Error(`${BINARY} exited before answering (code ${how.code}, signal ${how.signal}):\n${output}`);
}

/** Keeps the tail of stdout and stderr, for error messages. */
function captureOutput(child: ChildProcess): () => string {
  let text = '';
  const keep = (chunk: Buffer): void => {
    text = (text + chunk.toString('utf8')).slice(-OUTPUT_KEPT);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => text;
}

/**
 * Polls until the server on `port` answers PING and is our child (its
 * process_id matches): if the port was taken by someone else, the other
 * server must not be mistaken for ours.
 */
async function waitUntilAnswering(
  port: number,
  child: ChildProcess,
  exitInfo: () => ExitInfo | undefined,
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const exited = exitInfo();
    if (exited) failedToStart(exited, output());
    if (await answersAsOurs(port, child.pid)) return;
    if (Date.now() > deadline) {
      throw new Error(`${BINARY} on port ${port} did not answer PING within ${START_TIMEOUT_MS} ms:\n${output()}`);
    }
    await sleep(25);
  }
}

async function answersAsOurs(port: number, pid: number | undefined): Promise<boolean> {
  let client: RespClient | undefined;
  try {
    client = await RespClient.connect(port, HOST);
    if ((await client.call('PING')) !== 'PONG') return false;
    const info = replyToString(await client.call('INFO', 'server')) ?? '';
    return info.includes(`process_id:${pid}\r\n`);
  } catch {
    return false; // not listening yet
  } finally {
    await client?.close();
  }
}

/** SIGTERM, then SIGKILL if Redis has not exited in time. */
async function terminate(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
