/**
 * Amazon EKS authentication, as `aws eks get-token` does it: the cluster's endpoint and CA
 * from DescribeCluster (cached for the life of the execution environment), and a bearer
 * token that is a presigned STS GetCallerIdentity URL with the cluster's name signed in the
 * `x-k8s-aws-id` header. With the same credentials and time, the token is byte for byte the
 * one awscli makes (test/vectors/eks-token.json).
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { DescribeClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
// client-node's kubeconfig module alone: its index also loads every generated API class and model.
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { messageOf } from '../errors.js';

/** AWS credentials, as the SDK's providers resolve them. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}
export type CredentialsProvider = () => Promise<AwsCredentials>;

export const TOKEN_PREFIX = 'k8s-aws-v1.';
/** How long the presigned URL itself is valid; EKS accepts the token for 15 minutes. */
const URL_EXPIRES_SECONDS = 60;
/** A run still going after this long makes a fresh token (EKS stops accepting at 15). */
export const TOKEN_RENEW_AFTER_MS = 10 * 60 * 1000;
/** DescribeCluster, retries included, gives up after this long. */
const DESCRIBE_TIMEOUT_MS = 12_000;

// botocore's order of the presigned URL's parameters; the signature covers them sorted,
// but the token is the URL text, so the order must be awscli's for the tokens to be equal.
const QUERY_ORDER = [
  'Action',
  'Version',
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
  'X-Amz-Security-Token',
  'X-Amz-Signature',
];

/** RFC 3986 encoding, as SigV4 and botocore use it. */
function encode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Makes the token for `cluster`, signed with `credentials` at `now`. */
export async function createEksToken({
  cluster,
  region,
  credentials,
  now,
}: {
  cluster: string;
  region: string;
  credentials: AwsCredentials;
  now: Date;
}): Promise<string> {
  const hostname = `sts.${region}.amazonaws.com`;
  const signer = new SignatureV4({ credentials, region, service: 'sts', sha256: Sha256, uriEscapePath: true });
  const request = new HttpRequest({
    method: 'GET',
    protocol: 'https:',
    hostname,
    path: '/',
    query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
    headers: { host: hostname, 'x-k8s-aws-id': cluster },
  });
  const signed = await signer.presign(request, { expiresIn: URL_EXPIRES_SECONDS, signingDate: now });
  const query = signed.query as Record<string, string>;
  const known = QUERY_ORDER.filter((key) => query[key] !== undefined);
  const extra = Object.keys(query).filter((key) => !QUERY_ORDER.includes(key)).sort();
  const search = [...known, ...extra].map((key) => `${encode(key)}=${encode(query[key]!)}`).join('&');
  const url = `https://${hostname}/?${search}`;
  return TOKEN_PREFIX + Buffer.from(url, 'utf8').toString('base64url');
}

/** The cluster's API endpoint and CA (base64 PEM), from DescribeCluster. */
export interface ClusterAccess {
  endpoint: string;
  caData: string;
}

/** A failure of EKS authentication, with a message for an operator. */
export class EksError extends Error {
  override readonly name = 'EksError';
}

export interface EksAuthOptions {
  cluster: string;
  region: string;
  credentials: CredentialsProvider;
  /** The SDK client; built with the SDK's defaults (endpoint variables included) when absent. */
  eks?: EKSClient;
  now?: () => number;
}

/**
 * Everything the Kubernetes adapter needs to reach an EKS cluster, built once per execution
 * environment: DescribeCluster is called once and cached; the token is renewed per run and
 * whenever it is older than ten minutes, in place, so the same client keeps working.
 */
export class EksAuth {
  private access: Promise<ClusterAccess> | undefined;
  private kubeConfig: KubeConfig | undefined;
  private tokenMadeAt = 0;
  private readonly eks: EKSClient;
  private readonly now: () => number;

  constructor(private readonly options: EksAuthOptions) {
    // Bounded: a DescribeCluster that hangs must end the run with a report, not at the
    // Lambda's timeout without one (two attempts of at most 5 s each).
    this.eks = options.eks ?? new EKSClient({ region: options.region, maxAttempts: 2, requestHandler: { connectionTimeout: 3_000, requestTimeout: 5_000 } });
    this.now = options.now ?? Date.now;
  }

  /** The endpoint and CA of the cluster; one DescribeCluster per execution environment. */
  describe(): Promise<ClusterAccess> {
    this.access ??= this.describeOnce().catch((error: unknown) => {
      // A failure is not cached: the next run asks again.
      this.access = undefined;
      throw error;
    });
    return this.access;
  }

  private async describeOnce(): Promise<ClusterAccess> {
    const { cluster } = this.options;
    let response;
    try {
      response = await this.eks.send(new DescribeClusterCommand({ name: cluster }), { abortSignal: AbortSignal.timeout(DESCRIBE_TIMEOUT_MS) });
    } catch (error) {
      throw new EksError(`DescribeCluster ${cluster} failed: ${messageOf(error)}`, { cause: error });
    }
    const endpoint = response.cluster?.endpoint;
    const caData = response.cluster?.certificateAuthority?.data;
    if (!endpoint || !caData) {
      throw new EksError(`DescribeCluster ${cluster} returned no ${endpoint ? 'certificate authority' : 'endpoint'} (status ${response.cluster?.status ?? 'unknown'})`);
    }
    return { endpoint, caData };
  }

  /**
   * A KubeConfig for the cluster with a fresh token. The same object is returned on every
   * call, its token replaced in place (client-node reads the user on every request).
   */
  async kubeConfigForRun(): Promise<KubeConfig> {
    const { endpoint, caData } = await this.describe();
    const token = await this.freshToken();
    if (!this.kubeConfig) {
      this.kubeConfig = new KubeConfig();
      // TLS is verified against the cluster's own CA; skipTLSVerify is never set.
      this.kubeConfig.loadFromClusterAndUser({ name: this.options.cluster, server: endpoint, caData, skipTLSVerify: false }, { name: 'lab-reconciler', token });
    } else {
      this.setToken(token);
    }
    return this.kubeConfig;
  }

  /** Renews the token if it is older than ten minutes; call it before each request batch. */
  async renewIfOld(): Promise<void> {
    if (this.kubeConfig && this.now() - this.tokenMadeAt >= TOKEN_RENEW_AFTER_MS) this.setToken(await this.freshToken());
  }

  private setToken(token: string): void {
    const user = this.kubeConfig?.getCurrentUser();
    if (user) (user as { token?: string }).token = token;
  }

  private async freshToken(): Promise<string> {
    let credentials: AwsCredentials;
    try {
      credentials = await this.options.credentials();
    } catch (error) {
      throw new EksError(`No AWS credentials to sign the EKS token: ${messageOf(error)}`, { cause: error });
    }
    const now = this.now();
    const token = await createEksToken({ cluster: this.options.cluster, region: this.options.region, credentials, now: new Date(now) });
    this.tokenMadeAt = now;
    return token;
  }
}
