/**
 * A minimal RESP2 client for tests: one TCP connection to a redis-server,
 * commands written in order, replies matched to them first-in first-out.
 *
 * Redis answers the commands of one connection strictly in the order it received
 * them, so a FIFO of pending callbacks is all the bookkeeping needed; no request
 * ids, no pool. Only what the Upstash bridge and the tests need is here.
 */
import { connect, type Socket } from 'node:net';

/** An error reply from Redis (`-ERR ...`), returned as a value, not thrown. */
export class RespError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RespError';
  }
}

/**
 * A parsed RESP2 reply: simple string → string, bulk string → Buffer (Redis
 * values are bytes), integer → number, nil bulk or nil array → null,
 * error → RespError, array → array of replies.
 */
export type RespReply = string | Buffer | number | null | RespError | RespReply[];

/** A command argument: strings are sent as UTF-8, Buffers as they are. */
export type RespArg = string | Buffer;

interface Pending {
  resolve(reply: RespReply): void;
  reject(error: Error): void;
}

const CRLF = '\r\n';

/** Serialises one command as a RESP array of bulk strings. */
export function encodeCommand(args: readonly RespArg[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}${CRLF}`)];
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg, 'utf8') : arg;
    parts.push(Buffer.from(`$${bytes.length}${CRLF}`), bytes, Buffer.from(CRLF));
  }
  return Buffer.concat(parts);
}

interface Parsed {
  reply: RespReply;
  next: number;
}

/**
 * Parses one reply starting at `offset`, or returns undefined when the buffer
 * does not yet hold all of it (the rest is still on the wire).
 */
export function parseReply(buf: Buffer, offset = 0): Parsed | undefined {
  const lineEnd = buf.indexOf(CRLF, offset);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buf[offset] ?? 0);
  const line = buf.toString('utf8', offset + 1, lineEnd);
  const afterLine = lineEnd + 2;
  switch (type) {
    case '+':
      return { reply: line, next: afterLine };
    case '-':
      return { reply: new RespError(line), next: afterLine };
    case ':':
      return { reply: Number(line), next: afterLine };
    case '$':
      return parseBulk(buf, Number(line), afterLine);
    case '*':
      return parseArray(buf, Number(line), afterLine);
    default:
      throw new Error(`RESP: unexpected reply type ${JSON.stringify(type)}`);
  }
}

function parseBulk(buf: Buffer, length: number, start: number): Parsed | undefined {
  if (length < 0) return { reply: null, next: start };
  const end = start + length;
  if (buf.length < end + 2) return undefined;
  return { reply: Buffer.from(buf.subarray(start, end)), next: end + 2 };
}

function parseArray(buf: Buffer, count: number, start: number): Parsed | undefined {
  if (count < 0) return { reply: null, next: start };
  const items: RespReply[] = [];
  let next = start;
  for (let i = 0; i < count; i++) {
    const item = parseReply(buf, next);
    if (!item) return undefined;
    items.push(item.reply);
    next = item.next;
  }
  return { reply: items, next };
}

/** Renders a reply for humans and assertions: Buffers become UTF-8 strings. */
export function replyToString(reply: RespReply): string | null {
  if (reply === null) return null;
  if (Buffer.isBuffer(reply)) return reply.toString('utf8');
  if (reply instanceof RespError) return reply.message;
  if (Array.isArray(reply)) return JSON.stringify(reply.map(replyToString));
  return String(reply);
}

/** One connection to a redis-server. */
export class RespClient {
  private readonly pending: Pending[] = [];
  private buffer: Buffer = Buffer.alloc(0);
  private closedError: Error | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', (error) => this.failAll(error));
    socket.on('close', () => this.failAll(new Error('RESP: connection closed')));
  }

  /** Opens a connection; rejects if nothing listens on the port. */
  static connect(port: number, host = '127.0.0.1'): Promise<RespClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.setNoDelay(true);
        resolve(new RespClient(socket));
      });
    });
  }

  /** Sends one command. Redis errors come back as a RespError value. */
  async call(...args: RespArg[]): Promise<RespReply> {
    const [reply] = await this.batch([args]);
    return reply as RespReply;
  }

  /**
   * Sends several commands in a single write. Nothing else written on this
   * connection can come between them, which MULTI … EXEC relies on.
   */
  batch(commands: readonly (readonly RespArg[])[]): Promise<RespReply[]> {
    if (this.closedError) return Promise.reject(this.closedError);
    const replies = commands.map(
      () =>
        new Promise<RespReply>((resolve, reject) => {
          this.pending.push({ resolve, reject });
        }),
    );
    this.socket.write(Buffer.concat(commands.map(encodeCommand)));
    return Promise.all(replies);
  }

  /** Closes the connection; pending commands are rejected. */
  async close(): Promise<void> {
    if (this.socket.destroyed) return;
    await new Promise<void>((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.end();
    });
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    let offset = 0;
    try {
      for (;;) {
        const parsed = parseReply(this.buffer, offset);
        if (!parsed) break;
        offset = parsed.next;
        this.pending.shift()?.resolve(parsed.reply);
      }
    } catch (error) {
      // A stream we cannot parse cannot be resynchronised: give up on it.
      this.failAll(error as Error);
      this.socket.destroy();
      return;
    }
    this.buffer = this.buffer.subarray(offset);
  }

  private failAll(error: Error): void {
    this.closedError ??= error;
    for (const waiter of this.pending.splice(0)) waiter.reject(error);
  }
}
