/** Runs the command line in-process with captured output. */
import { main } from '../../src/cli/main.js';
import type { Clock } from '../../src/ports.js';

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** `stderrIsTTY` makes stderr look like a terminal, as it is when a person runs the command. */
export async function runCli(argv: string[], env: Record<string, string | undefined> = {}, clock?: Clock, { stderrIsTTY = false } = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const status = await main(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text), ...(stderrIsTTY ? { isTTY: true } : {}) },
    env,
    ...(clock ? { clock } : {}),
  });
  return { status, stdout, stderr };
}
