/**
 * A private moto server (python3 -m moto.server) on a free port, for the AWS APIs the product
 * calls besides EKS: SSM here. Started by the tests, stopped by them.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { findFreePort } from './redis-server.js';

export interface MotoServer {
  url: string;
  stop(): Promise<void>;
}

export async function startMoto(): Promise<MotoServer> {
  const port = await findFreePort();
  const child: ChildProcess = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto server exited (is moto[server] installed for python3?): ${stderr.slice(-500)}`);
    try {
      const response = await fetch(`${url}/moto-api/`);
      if (response.ok || response.status < 500) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto server did not start on ${url}: ${stderr.slice(-500)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
