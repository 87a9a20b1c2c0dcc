/**
 * The AWS side of EKS for tests: a local EKS endpoint answering DescribeCluster with the test
 * API server's URL and CA (moto's cluster CA is random text, not a PEM), and a verifier of EKS
 * tokens that recomputes their SigV4 signature as the cluster's authenticator would, written
 * independently of the product's signer.
 */
import { createHash, createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a fault injected with {@link EksEndpoint.fail} does instead of the normal answer. */
export type EksFaultEffect =
  /** An AWS error: the HTTP status, `x-amzn-errortype`, a message, and any extra headers (`Retry-After`). */
  | { type: 'status'; status: number; errorType: string; message?: string; headers?: Record<string, string> }
  /** Destroys the connection without an answer. */
  | { type: 'reset' }
  /** Never answers, until the endpoint is closed or the client gives up. */
  | { type: 'hang' }
  /** HTTP 200 with a truncated JSON body. */
  | { type: 'malformed-json' };

/** A fault for the next `times` requests (default 1, `Infinity` for all). */
export interface EksFaultRule {
  effect: EksFaultEffect;
  times?: number;
}

export interface EksEndpoint {
  url: string;
  /** Paths asked for, in order. */
  requests: string[];
  /** Answer every DescribeCluster with this HTTP status and AWS error instead. */
  failWith: { status: number; type: string; message: string } | undefined;
  /** Injects a fault, tried before `failWith`, first injected first served; `hits` counts the requests it hit. */
  fail(rule: EksFaultRule): { readonly hits: number };
  /** Forgets the faults injected with {@link fail}, and ends the requests they left hanging. */
  clearFaults(): void;
  close(): Promise<void>;
}

/** Serves `GET /clusters/{name}` (EKS's REST-JSON DescribeCluster) for one cluster. */
export async function startEksEndpoint(cluster: { name: string; endpoint: string; caData: string }): Promise<EksEndpoint> {
  const requests: string[] = [];
  const faults: { rule: EksFaultRule; remaining: number; hits: number }[] = [];
  const hanging = new Set<ServerResponse>();
  const state: EksEndpoint = {
    url: '',
    requests,
    failWith: undefined,
    fail(rule) {
      const fault = { rule, remaining: rule.times ?? 1, hits: 0 };
      faults.push(fault);
      return {
        get hits() {
          return fault.hits;
        },
      };
    },
    clearFaults: () => {
      faults.splice(0);
      for (const res of hanging) res.socket?.destroy();
    },
    close: () => {
      // Hanging requests would keep close() waiting forever.
      for (const res of hanging) res.socket?.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const reply = (status: number, body: unknown, type?: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...(type ? { 'x-amzn-errortype': type } : {}), ...headers });
      res.end(JSON.stringify(body));
    };
    const fault = faults.find((f) => f.remaining > 0);
    if (fault) {
      fault.remaining--;
      fault.hits++;
      const effect = fault.rule.effect;
      switch (effect.type) {
        case 'status':
          return reply(effect.status, { message: effect.message ?? effect.errorType }, effect.errorType, effect.headers);
        case 'reset':
          return void req.socket.resetAndDestroy();
        case 'hang':
          hanging.add(res);
          res.once('close', () => hanging.delete(res));
          return;
        case 'malformed-json':
          res.writeHead(200, { 'content-type': 'application/json' });
          return void res.end(`{"cluster":{"name":"${cluster.name}","endpoint":"${cluster.endpoint}","certificateAu`);
      }
    }
    if (state.failWith) return reply(state.failWith.status, { message: state.failWith.message }, state.failWith.type);
    if (req.method === 'GET' && req.url === `/clusters/${encodeURIComponent(cluster.name)}`) {
      return reply(200, {
        cluster: {
          name: cluster.name,
          arn: `arn:aws:eks:us-east-1:123456789012:cluster/${cluster.name}`,
          endpoint: cluster.endpoint,
          certificateAuthority: { data: cluster.caData },
          status: 'ACTIVE',
          version: '1.33',
        },
      });
    }
    return reply(404, { message: `No cluster found for name: ${decodeURIComponent(req.url?.split('/').pop() ?? '')}.` }, 'ResourceNotFoundException');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();
const sha256 = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');
const encode = (value: string) => encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export interface TokenCheck {
  cluster: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  now?: number;
}

/**
 * Why a token is not acceptable for the cluster, or undefined when it is: the prefix, the
 * presigned STS URL, the cluster named in the signed header, a date within 15 minutes, and
 * a signature that matches the one recomputed with the secret key.
 */
export function checkEksToken(token: string, check: TokenCheck): string | undefined {
  const prefix = 'k8s-aws-v1.';
  if (!token.startsWith(prefix)) return 'no k8s-aws-v1. prefix';
  const encoded = token.slice(prefix.length);
  if (/[^A-Za-z0-9_-]/.test(encoded)) return 'not unpadded base64url';
  let url: URL;
  try {
    url = new URL(Buffer.from(encoded, 'base64url').toString('utf8'));
  } catch {
    return 'not a URL';
  }
  const host = `sts.${check.region}.amazonaws.com`;
  if (url.protocol !== 'https:' || url.host !== host || url.pathname !== '/') return `not a URL of ${host}`;
  const q = url.searchParams;
  if (q.get('Action') !== 'GetCallerIdentity' || q.get('Version') !== '2011-06-15') return 'not GetCallerIdentity';
  if (q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') return 'not SigV4';
  if (q.get('X-Amz-Expires') !== '60') return 'X-Amz-Expires is not 60';
  if (q.get('X-Amz-SignedHeaders') !== 'host;x-k8s-aws-id') return 'x-k8s-aws-id is not signed';
  const date = q.get('X-Amz-Date') ?? '';
  const credential = (q.get('X-Amz-Credential') ?? '').split('/');
  const [accessKeyId, day, region, service, terminator] = credential;
  if (accessKeyId !== check.accessKeyId || region !== check.region || service !== 'sts' || terminator !== 'aws4_request' || !date.startsWith(day ?? '-')) {
    return 'credential scope does not match';
  }
  const signedAt = Date.parse(`${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}T${date.slice(9, 11)}:${date.slice(11, 13)}:${date.slice(13, 15)}Z`);
  if (Number.isNaN(signedAt) || Math.abs((check.now ?? Date.now()) - signedAt) > 15 * 60 * 1000) return 'token is older than 15 minutes';
  const canonicalQuery = [...q.entries()]
    .filter(([key]) => key !== 'X-Amz-Signature')
    .map(([key, value]) => [encode(key), encode(value)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
  const canonicalRequest = ['GET', '/', canonicalQuery, `host:${host}`, `x-k8s-aws-id:${check.cluster}`, '', 'host;x-k8s-aws-id', sha256('')].join('\n');
  const scope = `${day}/${region}/sts/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', date, scope, sha256(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${check.secretAccessKey}`, day!), region!), 'sts'), 'aws4_request');
  const expected = hmac(key, toSign).toString('hex');
  return expected === q.get('X-Amz-Signature') ? undefined : 'signature does not match (wrong cluster, key or request)';
}
