/**
 * A thin request layer for the Kubernetes API on Node's own HTTP stack. client-node keeps what
 * it is good at: the kubeconfig, every auth method (tokens, token files, exec plugins,
 * client certificates, auth providers), TLS settings and proxies, all applied by
 * `KubeConfig.applyToHTTPSOptions` before each request. What it costs more than it gives is
 * its generated request path (request contexts, middleware, node-fetch, a whole-body decode)
 * for the handful of calls the reconciler makes: here a request is one `https.request` over
 * one keep-alive agent, and the body is handed over as the stream it is.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/** The API server answered, with a status outside 2xx. */
export class KubeApiError extends Error {
  override name = 'KubeApiError';
  constructor(
    readonly code: number,
    /** The body as text (a Status object as JSON, mostly), at most 64 KiB of it. */
    readonly body: string,
    readonly headers: IncomingHttpHeaders,
  ) {
    super(`HTTP ${code}`);
  }
}

/** No answer: the connection failed or was cut, or the attempt timed out. */
export class KubeTransportError extends Error {
  override name = 'KubeTransportError';
  constructor(
    message: string,
    readonly timedOut: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface KubeRequest {
  method: 'GET' | 'DELETE' | 'POST';
  /** `/api/v1/namespaces/x/services`, appended to the cluster's server URL. */
  path: string;
  query?: Record<string, string | number | undefined>;
  accept?: string;
  /** Sent as JSON. */
  body?: unknown;
}

export interface KubeHttpOptions {
  /** Most connections kept open to the API server. */
  maxSockets: number;
  /** Each attempt, body included, is abandoned after this long. */
  timeoutMs: number;
}

/** Most bytes of an error answer kept for its message. */
const ERROR_BODY_LIMIT = 64 * 1024;

/** Requests to the current cluster of a kubeconfig. */
export class KubeHttp {
  private agent: HttpsAgent | HttpAgent | undefined;

  constructor(
    private readonly kc: KubeConfig,
    private readonly options: KubeHttpOptions,
  ) {}

  /**
   * Sends one request and hands a 2xx answer's body to `read`, whose result it resolves to;
   * rejects with KubeApiError for any other status and KubeTransportError when there is no
   * whole answer in time (`read`'s own errors pass through).
   */
  async send<T>(request: KubeRequest, read: (body: IncomingMessage) => Promise<T>): Promise<T> {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error('The kubeconfig has no current cluster');
    // Auth is applied per request: tokens are renewed in place, exec plugins refresh theirs.
    const auth: RequestOptions = {};
    await this.kc.applyToHTTPSOptions(auth);
    this.agent ??= keepAliveAgent(auth.agent, this.options.maxSockets);
    const url = requestUrl(cluster.server, request);
    const body = request.body === undefined ? undefined : JSON.stringify(request.body);
    const headers: OutgoingHttpHeaders = {
      ...(auth.headers as OutgoingHttpHeaders | undefined),
      Accept: request.accept ?? 'application/json',
      'User-Agent': 'lab-reconciler',
      ...(body !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } : {}),
    };
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise<T>((resolve, reject) => {
      let timedOut = false;
      let settled = false;
      const finish = (error: unknown, value?: T) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error === undefined) resolve(value as T);
        else reject(error);
      };
      const req: ClientRequest = send(url, { method: request.method, headers, agent: this.agent, ...(auth.auth ? { auth: auth.auth } : {}) });
      const { timeoutMs } = this.options;
      const timer = setTimeout(() => {
        timedOut = true;
        const error = timeoutError(timeoutMs);
        req.destroy(error);
        finish(error);
      }, timeoutMs);
      // No whole answer: a timeout once the timer fired, a transport failure otherwise.
      const failed = (error: unknown) => finish(timedOut ? timeoutError(timeoutMs, error) : transportError(error));
      req.once('error', failed);
      req.once('response', (res: IncomingMessage) => {
        res.once('aborted', () => failed(new Error('the connection closed before the answer was whole')));
        const code = res.statusCode ?? 0;
        if (code < 200 || code > 299) {
          readText(res, ERROR_BODY_LIMIT).then(
            (text) => finish(new KubeApiError(code, text, res.headers)),
            (error: unknown) => failed(error),
          );
          return;
        }
        read(res).then(
          (value) => finish(undefined, value),
          (error: unknown) => {
            // A reader that gave up leaves a body half read: that connection is not reused.
            if (!res.complete) res.destroy();
            // A body cut short (timeout, reset) is a transport failure; anything else is the reader's.
            if (timedOut || isConnectionError(error)) failed(error);
            else finish(error);
          },
        );
      });
      req.end(body);
    });
  }
}

/**
 * The agent client-node built for this cluster, made keep-alive with `maxSockets`: client-node
 * builds a new agent (so a new TLS handshake) per request. Proxy agents are kept as built.
 */
function keepAliveAgent(agent: unknown, maxSockets: number): HttpsAgent | HttpAgent {
  if (agent instanceof HttpsAgent && agent.constructor === HttpsAgent) {
    return new HttpsAgent({ ...agent.options, keepAlive: true, maxSockets });
  }
  if (agent instanceof HttpAgent && agent.constructor === HttpAgent) {
    return new HttpAgent({ keepAlive: true, maxSockets });
  }
  if (agent instanceof HttpAgent) return agent;
  return new HttpsAgent({ keepAlive: true, maxSockets });
}

function requestUrl(server: string, request: KubeRequest): URL {
  const url = new URL(server);
  // A server URL with a path (a proxy's prefix) keeps it.
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${request.path}`;
  for (const [key, value] of Object.entries(request.query ?? {})) {
    if (value !== undefined && value !== '') url.searchParams.set(key, String(value));
  }
  return url;
}

/** A body as text, at most `limit` bytes of it. */
export async function readText(body: IncomingMessage, limit = Number.POSITIVE_INFINITY): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (size < limit) chunks.push(chunk.subarray(0, Math.max(0, limit - size)));
    size += chunk.length;
  }
  return Buffer.concat(chunks).toString('utf8');
}

function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(ECONN|EPIPE|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ERR_STREAM_PREMATURE_CLOSE)/.test(code);
}

function timeoutError(timeoutMs: number, cause?: unknown): KubeTransportError {
  return new KubeTransportError(`the request timed out after ${timeoutMs} ms`, true, cause === undefined ? undefined : { cause });
}

function transportError(error: unknown): KubeTransportError {
  if (error instanceof KubeTransportError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return new KubeTransportError(`${message}${typeof code === 'string' && !message.includes(code) ? ` (${code})` : ''}`, false, { cause: error });
}
