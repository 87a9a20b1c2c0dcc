/**
 * A plain HTTP proxy in front of the moto server for the archive's bench: it adds the same
 * latency before every answer as the API server and the Upstash bridge do, and logs every
 * request (method, path, bytes of body sent, status), so that the S3 requests of a run are
 * counted on the wire like the others. Bodies and headers pass unchanged (the SDK signs the
 * proxy's host; moto checks no signature).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  method: string;
  path: string;
  /** Bytes of request body received (a PUT's record, with the SDK's chunk framing if any). */
  bodyBytes: number;
  status: number | undefined;
}

export interface S3Proxy {
  url: string;
  /** Every request, oldest first. */
  readonly requests: ProxiedRequest[];
  latencyMs: number;
  close(): Promise<void>;
}

/** Starts the proxy to `target` (`http://host:port`) on a free port of 127.0.0.1. */
export async function startS3Proxy(target: string, latencyMs = 0): Promise<S3Proxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true });
  const requests: ProxiedRequest[] = [];
  const proxy: S3Proxy = { url: '', requests, latencyMs, close: async () => {} };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const logged: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', bodyBytes: body.length, status: undefined };
      requests.push(logged);
      setTimeout(() => {
        const out = request(
          { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent },
          (answer) => {
            logged.status = answer.statusCode;
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        out.on('error', (error) => {
          logged.status = 502;
          if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' });
          res.end(String(error));
        });
        out.end(body);
      }, proxy.latencyMs);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    agent.destroy();
    await closed;
  };
  return proxy;
}
