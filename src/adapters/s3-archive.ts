/**
 * The Lambda's archive: one object per record in the stack's bucket (private, encrypted,
 * versioned, expiring). The role may only PutObject; reading records back (a restore) uses
 * the operator's own credentials.
 */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Archive, ArchiveReader } from '../ports.js';
import { messageOf } from '../errors.js';

export interface S3Options {
  /** The environment: its region and endpoint overrides (the SDK's own names). */
  env: Readonly<Record<string, string | undefined>>;
  /** Each attempt is abandoned after this long. */
  requestTimeoutMs?: number;
}

/**
 * An S3 client as the archive needs it: bounded attempts and timeouts; the region and endpoint
 * of the environment given (the Lambda's, or the operator's for a restore), path-style URLs for
 * an emulator, and a bucket in another region found by following S3's redirect.
 */
// A record is a few kilobytes: 5 s an attempt, three attempts, stay well inside the 30 s the
// Lambda keeps back from its deadline.
export function createS3Client({ env, requestTimeoutMs = 5_000 }: S3Options): S3Client {
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL;
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1';
  return new S3Client({
    region,
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    followRegionRedirects: true,
    maxAttempts: 3,
    // Without throwOnRequestTimeout the SDK only warns when requestTimeout passes, and a write
    // that never answers would hold the run past the Lambda's deadline.
    requestHandler: { connectionTimeout: 3_000, requestTimeout: requestTimeoutMs, throwOnRequestTimeout: true },
  });
}

export class S3Archive implements Archive {
  readonly description: string;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {
    this.description = `s3://${bucket}`;
  }

  async write(name: string, body: string): Promise<string> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: name, Body: body, ContentType: 'application/json' }));
    } catch (error) {
      throw new Error(describeS3Error(error), { cause: error });
    }
    return `s3://${this.bucket}/${name}`;
  }
}

/** `s3://bucket/prefix` → its parts; undefined for anything else. */
export function parseS3Uri(uri: string): { bucket: string; prefix: string } | undefined {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  return match ? { bucket: match[1]!, prefix: match[2]! } : undefined;
}

/** The records under an S3 prefix (every `.json` object, in key order). */
export class S3Records implements ArchiveReader {
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(
    private readonly client: S3Client,
    uri: string,
  ) {
    const parsed = parseS3Uri(uri);
    if (!parsed) throw new Error(`${JSON.stringify(uri)} is not an s3://bucket/prefix URI`);
    ({ bucket: this.bucket, prefix: this.prefix } = parsed);
  }

  async list(): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, ContinuationToken: token }));
        for (const object of page.Contents ?? []) if (object.Key?.endsWith('.json')) keys.push(object.Key);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      throw new Error(`could not list s3://${this.bucket}/${this.prefix}: ${describeS3Error(error)}`, { cause: error });
    }
    return keys.sort().map((key) => `s3://${this.bucket}/${key}`);
  }

  async read(uri: string): Promise<string> {
    const key = parseS3Uri(uri)!.prefix;
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return (await answer.Body?.transformToString('utf8')) ?? '';
    } catch (error) {
      throw new Error(`could not read ${uri}: ${describeS3Error(error)}`, { cause: error });
    }
  }
}

/** The S3 error's code, HTTP status and message, as an operator needs them (AccessDenied, 403). */
export function describeS3Error(error: unknown): string {
  const e = error as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number }; message?: string } | null;
  const status = e?.$metadata?.httpStatusCode;
  const code = e?.Code ?? e?.name;
  const message = messageOf(error);
  if (status === undefined) return message;
  return `${code && code !== 'Error' ? `${code} ` : ''}(HTTP ${status})${message && message !== code && message !== 'UnknownError' ? `: ${message}` : ''}`;
}
