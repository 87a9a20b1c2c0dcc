/**
 * The command line's logger: readable progress on stderr when stderr is a terminal; when it
 * is not (CI, a pipe), only warnings and errors, so that scripts see what matters.
 */
import type { Logger } from '../ports.js';

export interface Writable {
  write(text: string): unknown;
  isTTY?: boolean;
}

export function terminalLogger(stderr: Writable, { verbose = stderr.isTTY === true }: { verbose?: boolean } = {}): Logger {
  const line = (level: string, message: string) => stderr.write(`${level}${message}\n`);
  return {
    debug() {},
    info(message) {
      if (verbose) line('', message);
    },
    warn(message) {
      line('warning: ', message);
    },
    error(message) {
      line('error: ', message);
    },
  };
}
