/** Runs the command line in-process with captured output. */
import { main } from '../../src/cli/main.js';
import type { Clock } from '../../src/ports.js';

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

export async function runCli(argv: string[], env: Record<string, string | undefined> = {}, clock?: Clock): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const status = await main(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env,
    ...(clock ? { clock } : {}),
  });
  return { status, stdout, stderr };
}
