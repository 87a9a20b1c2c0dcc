/**
 * A local stand-in for Upstash Redis: an HTTP server speaking the Upstash REST
 * protocol in front of a real redis-server, so the real `@upstash/redis` client
 * can be tested unchanged, with faults injected at the HTTP layer.
 *
 * What the client (1.39) sends and expects, and so what this implements:
 * - `POST {url}` with a JSON array `["set","k","v","nx","px",1000]` → `{"result": …}`;
 *   numbers and booleans arrive as JSON numbers and booleans, not strings.
 * - `POST {url}/pipeline` and `POST {url}/multi-exec` with an array of those →
 *   `[{"result": …} | {"error": "…"}]`, HTTP 200 even when a command failed.
 *   Auto-pipelining (on by default) sends nearly every command through /pipeline.
 * - `Authorization: Bearer {token}`; a wrong token is 401 `{"error":"Unauthorized"}`.
 * - `Upstash-Encoding: base64` (the default): every string in a result, at any
 *   depth, is base64 of its bytes; numbers and null are left alone; errors are
 *   never encoded. Without the header, strings are plain UTF-8.
 * - A Redis error on the single-command endpoint is HTTP 400 `{"error":"ERR …"}`.
 * - `upstash-sync-token`: sent on every request (read-your-writes); we answer
 *   with a fresh one, which the client echoes on its next request.
 */
import { createServer, STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { RespClient, RespError, type RespReply } from './resp-client.js';

/** Runs before each command is sent to Redis; may await, e.g. to let a race test act. */
export type BeforeCommandHook = (command: readonly string[]) => void | Promise<void>;

/**
 * What a fault does to the HTTP request it hits:
 * - `{ status, body?, headers? }`: answers with that status; `body` an object (sent as
 *   JSON) or a raw string; default `{"error": "<reason phrase>"}`; `headers` are
 *   added to the answer (e.g. `Retry-After` on a 429).
 * - `'reset'`: resets the TCP connection without an answer (the client's fetch throws).
 * - `'hang'`: never answers, until the bridge is closed.
 * - `'malformed-json'`: HTTP 200 with a truncated JSON body.
 */
export type FaultEffect = 'reset' | 'hang' | 'malformed-json' | { status: number; body?: string | object; headers?: Record<string, string> };

/** Which requests a fault hits, how often, and what it does. */
export interface FaultRule {
  /** Command name, case-insensitive (`'DEL'`, `'EVAL'`; `'EVALSHA'` is another name). Omitted or `'*'`: any. */
  command?: string;
  /**
   * Narrows `command`: a command matches only when this also returns true for it (the
   * name upper-cased, arguments as strings), e.g. to hit the DEL of one key prefix only.
   */
  match?: (command: readonly string[]) => boolean;
  /** How many matching HTTP requests it hits; default 1; `Infinity` for all. */
  times?: number;
  /** Delay before anything else happens to the request. */
  latencyMs?: number;
  /** Omitted: the request is only delayed, then served normally. */
  effect?: FaultEffect;
  /**
   * `'before'` (default): the request never reaches Redis. `'after'`: its
   * commands run, then the answer is replaced by the effect (a write that
   * happened although the client saw a failure).
   */
  when?: 'before' | 'after';
}

/** A registered fault; `hits` counts the requests it has hit so far. */
export interface Fault {
  readonly hits: number;
}

/** One authorised HTTP request, as received. */
export interface RecordedRequest {
  /** `/`, `/pipeline` or `/multi-exec` */
  path: string;
  headers: IncomingHttpHeaders;
  /** Its commands, normalised as in {@link UpstashBridge.commands}. */
  commands: string[][];
  /** The fault that hit it, if one did: its effect, and whether the commands ran first. */
  fault?: { effect: FaultEffect; when: 'before' | 'after' };
}

/** Options of {@link UpstashBridge.start}. */
export interface UpstashBridgeOptions {
  /** Port of the redis-server on 127.0.0.1 to forward to. */
  redisPort: number;
  /** Bearer token to require; random when omitted. */
  token?: string;
  beforeCommand?: BeforeCommandHook;
}

type Route = 'single' | 'pipeline' | 'multi-exec';
type Entry = { result: unknown } | { error: string };
interface Answer {
  status: number;
  body: unknown;
}
interface ActiveFault {
  rule: FaultRule;
  remaining: number;
  hits: number;
}

/** Commands that would change the state of the shared Redis connection for everyone. */
const CONNECTION_STATE_COMMANDS = new Set([
  'MULTI', 'EXEC', 'DISCARD', 'WATCH', 'UNWATCH', 'SELECT', 'QUIT', 'RESET',
  'SUBSCRIBE', 'PSUBSCRIBE', 'SSUBSCRIBE', 'MONITOR', 'CLIENT', 'HELLO', 'AUTH',
]);

/** A request the protocol rejects with 400. */
class BadRequest extends Error {}

/** The Upstash REST stand-in. Create it with {@link UpstashBridge.start}. */
export class UpstashBridge {
  /**
   * Every command received with a valid token, in order of arrival, including
   * those a fault stopped: the name upper-cased, arguments as strings exactly
   * as sent (the client sends options in lower case: `['SET','k','v','nx','px','1000']`).
   */
  readonly commands: string[][] = [];
  /** Every HTTP request received with a valid token, in order of arrival. */
  readonly requests: RecordedRequest[] = [];
  /** Called before each command goes to Redis, also for commands sent from inside the hook. */
  beforeCommand: BeforeCommandHook | undefined;

  private readonly faults: ActiveFault[] = [];
  private syncToken = 0;

  private constructor(
    private readonly server: Server,
    private readonly redis: RespClient,
    /** Base URL to give `new Redis({ url })`. */
    readonly url: string,
    /** The token the bridge requires. */
    readonly token: string,
  ) {}

  /** Connects to the redis-server and listens on a free port of 127.0.0.1. */
  static async start(options: UpstashBridgeOptions): Promise<UpstashBridge> {
    const redis = await RespClient.connect(options.redisPort);
    const token = options.token ?? randomBytes(16).toString('hex');
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const bridge = new UpstashBridge(server, redis, `http://127.0.0.1:${port}`, token);
    bridge.beforeCommand = options.beforeCommand;
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void bridge.serve(req, res));
    return bridge;
  }

  /** Registers a fault; faults are tried in the order registered, the first that matches wins. */
  fail(rule: FaultRule): Fault {
    if (rule.effect === undefined && rule.latencyMs === undefined) {
      throw new Error('A fault needs an effect, a latencyMs, or both');
    }
    const fault: ActiveFault = { rule, remaining: rule.times ?? 1, hits: 0 };
    this.faults.push(fault);
    return {
      get hits() {
        return fault.hits;
      },
    };
  }

  /** Forgets the faults only, keeping the logs and the hook. */
  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Forgets faults, logs and the hook: a clean bridge for the next test. */
  reset(): void {
    this.faults.length = 0;
    this.commands.length = 0;
    this.requests.length = 0;
    this.beforeCommand = undefined;
  }

  /** Stops listening, drops open connections (hung requests too) and disconnects from Redis. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
    await this.redis.close();
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await this.handle(req, res);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof BadRequest) this.send(res, { status: 400, body: { error: message } });
      else this.send(res, { status: 500, body: { error: `bridge: ${message}` } });
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const route = routeOf(req);
    if (!route) return this.send(res, { status: 404, body: { error: 'ERR not found' } });
    // Upstash checks the token before it looks at the body.
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      return this.send(res, { status: 401, body: { error: 'Unauthorized' } });
    }
    const commands = parseBody(route, await readBody(req));
    this.commands.push(...commands);
    const recorded: RecordedRequest = { path: req.url ?? '/', headers: { ...req.headers }, commands };
    this.requests.push(recorded);

    const fault = this.takeFault(commands);
    if (fault?.effect) recorded.fault = { effect: fault.effect, when: fault.when ?? 'before' };
    if (fault?.latencyMs) await sleep(fault.latencyMs);
    if (fault?.effect && fault.when !== 'after') return applyEffect(fault.effect, req, res);
    const answer = await this.execute(route, commands, wantsBase64(req));
    if (fault?.effect) return applyEffect(fault.effect, req, res);
    this.send(res, answer);
  }

  private takeFault(commands: string[][]): FaultRule | undefined {
    const fault = this.faults.find(
      (f) => f.remaining > 0 && commands.some((command) => matches(f.rule.command, command[0] ?? '') && (f.rule.match?.(command) ?? true)),
    );
    if (!fault) return undefined;
    fault.remaining -= 1;
    fault.hits += 1;
    return fault.rule;
  }

  private async execute(route: Route, commands: string[][], base64: boolean): Promise<Answer> {
    if (route === 'single') {
      const entry = toEntry(await this.run(commands[0] ?? []), base64);
      return { status: 'error' in entry ? 400 : 200, body: entry };
    }
    if (route === 'pipeline') {
      // One after the other, as Upstash does: a pipeline is not atomic.
      const entries: Entry[] = [];
      for (const command of commands) entries.push(toEntry(await this.run(command), base64));
      return { status: 200, body: entries };
    }
    return this.multiExec(commands, base64);
  }

  private async run(command: string[]): Promise<RespReply> {
    await this.beforeCommand?.(command);
    return this.redis.call(...command);
  }

  /** MULTI, the commands, EXEC in one write, so no other command gets in between. */
  private async multiExec(commands: string[][], base64: boolean): Promise<Answer> {
    for (const command of commands) await this.beforeCommand?.(command);
    const replies = await this.redis.batch([['MULTI'], ...commands, ['EXEC']]);
    const exec = replies.at(-1);
    if (!Array.isArray(exec)) {
      // EXECABORT: a command was refused while queuing; name the first refusal.
      const refused = replies.find((reply): reply is RespError => reply instanceof RespError);
      return { status: 400, body: { error: refused?.message ?? 'EXECABORT Transaction discarded' } };
    }
    return { status: 200, body: exec.map((reply) => toEntry(reply, base64)) };
  }

  private send(res: ServerResponse, answer: Answer): void {
    if (res.headersSent || res.destroyed) return;
    this.syncToken += 1;
    res.writeHead(answer.status, {
      'content-type': 'application/json',
      'upstash-sync-token': String(this.syncToken),
    });
    res.end(JSON.stringify(answer.body));
  }
}

function routeOf(req: IncomingMessage): Route | undefined {
  if (req.method !== 'POST') return undefined;
  const path = new URL(req.url ?? '/', 'http://bridge').pathname;
  if (path === '/') return 'single';
  if (path === '/pipeline') return 'pipeline';
  if (path === '/multi-exec') return 'multi-exec';
  return undefined;
}

function wantsBase64(req: IncomingMessage): boolean {
  return String(req.headers['upstash-encoding'] ?? '').toLowerCase() === 'base64';
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The body as a list of commands: one for `/`, any number for the others. */
function parseBody(route: Route, text: string): string[][] {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new BadRequest('ERR failed to parse the request body as JSON');
  }
  if (route === 'single') return [parseCommand(body)];
  if (!Array.isArray(body) || body.length === 0) {
    throw new BadRequest('ERR the body must be a non-empty array of commands');
  }
  return body.map(parseCommand);
}

/** A command as Redis arguments: JSON numbers and booleans become their text. */
function parseCommand(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0 || typeof value[0] !== 'string') {
    throw new BadRequest('ERR a command must be a non-empty array starting with its name');
  }
  const args = value.map((arg: unknown) => {
    if (typeof arg === 'string') return arg;
    if (typeof arg === 'number' || typeof arg === 'boolean') return String(arg);
    throw new BadRequest(`ERR unsupported argument ${JSON.stringify(arg)}`);
  });
  const name = (args[0] ?? '').toUpperCase();
  // One shared connection serves every request, so it must stay stateless.
  if (CONNECTION_STATE_COMMANDS.has(name)) throw new BadRequest(`ERR command ${name} is not supported by the bridge`);
  return [name, ...args.slice(1)];
}

function matches(ruleCommand: string | undefined, name: string): boolean {
  return ruleCommand === undefined || ruleCommand === '*' || ruleCommand.toUpperCase() === name;
}

function toEntry(reply: RespReply, base64: boolean): Entry {
  return reply instanceof RespError ? { error: reply.message } : { result: encode(reply, base64) };
}

/** A reply as Upstash's JSON: strings base64-encoded at every depth when asked. */
function encode(reply: RespReply, base64: boolean): unknown {
  if (reply === null || typeof reply === 'number') return reply;
  if (Array.isArray(reply)) return reply.map((item) => encode(item, base64));
  // An error nested in an array (e.g. a Lua table holding a pcall error) is rare; keep its text.
  const bytes = Buffer.isBuffer(reply) ? reply : Buffer.from(reply instanceof RespError ? reply.message : reply, 'utf8');
  return base64 ? bytes.toString('base64') : bytes.toString('utf8');
}

function applyEffect(effect: FaultEffect, req: IncomingMessage, res: ServerResponse): void {
  if (effect === 'hang') return; // close() drops the connection
  if (effect === 'reset') {
    req.socket.resetAndDestroy();
    return;
  }
  if (effect === 'malformed-json') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":"T0s');
    return;
  }
  const body = effect.body ?? { error: STATUS_CODES[effect.status] ?? 'Error' };
  res.writeHead(effect.status, { 'content-type': 'application/json', ...effect.headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}
