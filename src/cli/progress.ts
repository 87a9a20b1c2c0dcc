/**
 * The progress line of the command line on a terminal: objects listed per namespace as pages
 * arrive, then sessions cleaned of those to clean. One line on stderr, redrawn in place at
 * most every {@link REDRAW_MS}; none at all when stderr is not a terminal (CI, a pipe, a
 * file), where it would only be noise. Log lines written meanwhile go above it.
 */
import type { Progress } from '../ports.js';
import type { Writable } from './logger.js';

const REDRAW_MS = 100;
/** Back to the start of the line, and clear it. */
const CLEAR_LINE = '\r\x1b[2K';

export interface TerminalProgress extends Progress {
  /** A stream for the logger: each write first clears the progress line, which is redrawn after. */
  readonly logStream: Writable;
  /** Clears the line for good. */
  stop(): void;
}

/** The progress line on `stderr`, or undefined when `stderr` is not a terminal. */
export function terminalProgress(stderr: Writable, now: () => number = () => performance.now()): TerminalProgress | undefined {
  if (stderr.isTTY !== true) return undefined;
  const listed = new Map<string, number>();
  let cleaning: { done: number; total: number } | undefined;
  let shown = false;
  let lastDraw = Number.NEGATIVE_INFINITY;
  let stopped = false;

  const text = (): string => {
    if (cleaning) return `Cleaning: ${cleaning.done.toLocaleString('en-US')} of ${cleaning.total.toLocaleString('en-US')} sessions`;
    const parts = [...listed].map(([namespace, objects]) => `${namespace} ${objects.toLocaleString('en-US')}`);
    return `Listing objects: ${parts.join(', ')}`;
  };
  const draw = (force: boolean) => {
    if (stopped) return;
    const at = now();
    if (!force && at - lastDraw < REDRAW_MS) return;
    lastDraw = at;
    stderr.write(`${CLEAR_LINE}${text()}`);
    shown = true;
  };
  const clear = () => {
    if (shown) stderr.write(CLEAR_LINE);
    shown = false;
  };

  return {
    listed(namespace, objects, complete) {
      listed.set(namespace, objects);
      // A namespace's whole count is always shown.
      draw(complete);
    },
    cleaned(done, total) {
      cleaning = { done, total };
      // The last session is always shown, so that the line ends on the whole count.
      draw(done === total);
    },
    logStream: {
      isTTY: true,
      write(line: string) {
        clear();
        stderr.write(line);
        // Redrawn at the next update rather than now: a burst of log lines stays readable.
        lastDraw = Number.NEGATIVE_INFINITY;
        return true;
      },
    },
    stop() {
      clear();
      stopped = true;
    },
  };
}
