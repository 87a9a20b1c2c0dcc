/**
 * A fault-injecting HTTP proxy in front of an S3 endpoint (moto), for the real AWS SDK client
 * (path-style URLs, `AWS_ENDPOINT_URL_S3` pointing here). Every request is forwarded as it
 * came; the proxy logs each one, keeps the objects of the PutObjects the endpoint accepted (so
 * that a test can ask, synchronously, what had been stored at a given moment), and, for the
 * next N PutObjects, can answer in the endpoint's place: an S3 error as S3 writes it (XML, its
 * code and message: 500 InternalError, 403 AccessDenied), or nothing at all (the request hangs
 * until the client gives up). With `latencyMs`, every answer waits that long first, like the
 * other local servers' (the bench counts and times S3 through it).
 *
 * ```ts
 * const proxy = await S3Proxy.start({ target: moto.url });
 * const fault = proxy.failPuts({ effect: 'access-denied', times: Infinity });
 * ... fault.hits, proxy.puts, proxy.requests ...
 * await proxy.close();
 * ```
 */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What happens to a PutObject a fault hits, instead of forwarding it. */
export type S3FaultEffect =
  /** 500 InternalError, which the SDK retries. */
  | 'internal-error'
  /** 403 AccessDenied, which it does not. */
  | 'access-denied'
  /** Never answered: the client's request timeout ends it. Nothing reaches the endpoint. */
  | 'hang'
  /** Any other S3 error. */
  | { status: number; code: string; message: string };

/** One request, as the proxy saw it. */
export interface S3RequestRecord {
  method: string;
  /** The path and query, as received. */
  path: string;
  /** Bytes of request body received (a PUT's record, with the SDK's chunk framing if any). */
  bodyBytes: number;
  /** `PutObject` for a PUT of an object (not a copy, not a part), `other` for anything else. */
  operation: 'PutObject' | 'other';
  bucket: string | undefined;
  key: string | undefined;
  /** HTTP status answered (by the endpoint or by a fault); undefined while pending, or when it hung. */
  status?: number;
  /** The fault that answered instead of the endpoint, if any. */
  fault?: S3FaultEffect;
}

/** An object the endpoint accepted (a 2xx to its PutObject), as it was sent. */
export interface StoredPut {
  bucket: string;
  key: string;
  body: string;
}

interface ActiveFault {
  effect: S3FaultEffect;
  remaining: number;
  hits: number;
}

const ERRORS: Record<'internal-error' | 'access-denied', { status: number; code: string; message: string }> = {
  'internal-error': { status: 500, code: 'InternalError', message: 'We encountered an internal error. Please try again.' },
  'access-denied': { status: 403, code: 'AccessDenied', message: 'Access Denied' },
};

export class S3Proxy {
  /** Every request received, oldest first. */
  readonly requests: S3RequestRecord[] = [];
  /** The objects the endpoint accepted, in the order its answers came. */
  readonly puts: StoredPut[] = [];
  private readonly faults: ActiveFault[] = [];
  private readonly hanging = new Set<ServerResponse>();
  /** Delay before every answer, in milliseconds; settable. */
  latencyMs = 0;

  private constructor(
    private readonly server: Server,
    private readonly target: URL,
    /** `http://127.0.0.1:{port}`: what `AWS_ENDPOINT_URL_S3` should say. */
    readonly url: string,
  ) {}

  /** Listens on a free port of 127.0.0.1, forwarding to `target` (e.g. moto's URL). */
  static async start({ target, latencyMs = 0 }: { target: string; latencyMs?: number }): Promise<S3Proxy> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const proxy = new S3Proxy(server, new URL(target), `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    proxy.latencyMs = latencyMs;
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void proxy.handle(req, res));
    return proxy;
  }

  /** The next `times` PutObjects (default 1; `Infinity` for all) get `effect` instead of the endpoint's answer. */
  failPuts(rule: { effect: S3FaultEffect; times?: number }): { readonly hits: number } {
    const fault: ActiveFault = { effect: rule.effect, remaining: rule.times ?? 1, hits: 0 };
    this.faults.push(fault);
    return {
      get hits() {
        return fault.hits;
      },
    };
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Ends the requests left hanging (their connections reset), as an endpoint that gives up would. */
  dropHanging(): void {
    for (const res of this.hanging) res.socket?.destroy();
    this.hanging.clear();
  }

  /** Forgets faults and logs. */
  reset(): void {
    this.clearFaults();
    this.requests.length = 0;
    this.puts.length = 0;
  }

  /** Stops listening and drops open connections (hanging requests too). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const [bucket, ...rest] = url.pathname.slice(1).split('/');
    const key = rest.length > 0 ? decodeURIComponent(rest.join('/')) : undefined;
    const isPut = req.method === 'PUT' && key !== undefined && key !== '' && req.headers['x-amz-copy-source'] === undefined && !url.searchParams.has('partNumber');
    const record: S3RequestRecord = { method: req.method ?? 'GET', path: req.url ?? '/', bodyBytes: 0, operation: isPut ? 'PutObject' : 'other', bucket: bucket || undefined, key };
    this.requests.push(record);
    try {
      const body = await readBody(req);
      record.bodyBytes = body.length;
      if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
      const fault = isPut ? this.takeFault() : undefined;
      if (fault) {
        record.fault = fault;
        if (fault === 'hang') {
          // Never answered: the client gives up first, or dropHanging() or close() drops it.
          this.hanging.add(res);
          res.once('close', () => this.hanging.delete(res));
          return;
        }
        const error = typeof fault === 'string' ? ERRORS[fault] : fault;
        record.status = error.status;
        return sendError(res, error);
      }
      const answer = await this.forward(req, url, body);
      record.status = answer.status;
      if (isPut && answer.status >= 200 && answer.status < 300) this.puts.push({ bucket: bucket!, key: key!, body: decodePayload(req.headers, body).toString('utf8') });
      res.writeHead(answer.status, answer.headers).end(answer.body);
    } catch (error) {
      record.status = 502;
      if (!res.headersSent && !res.destroyed) res.writeHead(502, { 'content-type': 'text/plain' }).end(`s3 proxy: ${String(error)}`);
    }
  }

  private takeFault(): S3FaultEffect | undefined {
    const fault = this.faults.find((f) => f.remaining > 0);
    if (!fault) return undefined;
    fault.remaining -= 1;
    fault.hits += 1;
    return fault.effect;
  }

  /** Sends the request on to the endpoint as it came (headers, signature and all). */
  private forward(req: IncomingMessage, url: URL, body: Buffer): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const upstream = httpRequest(
        { host: this.target.hostname, port: this.target.port, method: req.method, path: `${url.pathname}${url.search}`, headers: req.headers },
        (answer) => {
          readBody(answer).then((text) => resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: text }), reject);
        },
      );
      upstream.once('error', reject);
      upstream.end(body);
    });
  }
}

function readBody(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

/**
 * The object's bytes: the body itself, or, for the SDK's `aws-chunked` encoding (a streamed
 * body with a trailing checksum), the data of its chunks (`{hex size}[;ext]\r\n{data}\r\n`, up
 * to the chunk of size 0 and the trailers).
 */
function decodePayload(headers: IncomingHttpHeaders, body: Buffer): Buffer {
  const encoding = String(headers['content-encoding'] ?? '');
  const sha = String(headers['x-amz-content-sha256'] ?? '');
  if (!encoding.includes('aws-chunked') && !sha.startsWith('STREAMING-')) return body;
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    if (eol < 0) break;
    const size = Number.parseInt(body.subarray(at, eol).toString('latin1').split(';')[0]!, 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/** An S3 error answer, as S3 writes one. */
function sendError(res: ServerResponse, { status, code, message }: { status: number; code: string; message: string }): void {
  const requestId = randomBytes(8).toString('hex').toUpperCase();
  const xml =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${message}</Message><RequestId>${requestId}</RequestId><HostId>${randomBytes(24).toString('base64')}</HostId></Error>`;
  res.writeHead(status, { 'content-type': 'application/xml', 'x-amz-request-id': requestId }).end(xml);
}
