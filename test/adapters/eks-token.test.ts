/**
 * Known-answer test: for fixed credentials, region, cluster and time, lab-reconciler's EKS
 * token equals the one awscli's own generator makes. The vectors come from
 *   python3 test/vectors/eks-token.py > test/vectors/eks-token.json
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TOKEN_PREFIX, createEksToken } from '../../src/adapters/eks.js';

interface Vector {
  region: string;
  cluster: string;
  time: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  token: string;
}
const { vectors, generator } = JSON.parse(readFileSync('test/vectors/eks-token.json', 'utf8')) as { vectors: Vector[]; generator: string };

describe(`createEksToken (vectors from ${generator})`, () => {
  it.each(vectors.map((v) => [`${v.region}/${v.cluster}${v.sessionToken ? ' with a session token' : ''}`, v] as const))(
    'equals awscli\'s token for %s',
    async (_name, vector) => {
      // Act
      const token = await createEksToken({
        cluster: vector.cluster,
        region: vector.region,
        credentials: { accessKeyId: vector.accessKeyId, secretAccessKey: vector.secretAccessKey, ...(vector.sessionToken ? { sessionToken: vector.sessionToken } : {}) },
        now: new Date(vector.time),
      });

      // Assess
      expect(token).toBe(vector.token);
    },
  );

  it('is k8s-aws-v1. and unpadded base64url of a presigned GetCallerIdentity URL valid 60 seconds, signing x-k8s-aws-id', async () => {
    // Act
    const token = await createEksToken({ cluster: 'c1', region: 'ap-south-1', credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' }, now: new Date('2026-11-26T00:00:00Z') });

    // Assess
    expect(token.startsWith(TOKEN_PREFIX)).toBe(true);
    const encoded = token.slice(TOKEN_PREFIX.length);
    expect(encoded).toMatch(/^[A-Za-z0-9_-]+$/);
    const url = new URL(Buffer.from(encoded, 'base64url').toString('utf8'));
    expect(url.host).toBe('sts.ap-south-1.amazonaws.com');
    expect(url.searchParams.get('Action')).toBe('GetCallerIdentity');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('60');
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('host;x-k8s-aws-id');
  });

  it('changes with the time, the cluster and the credentials', async () => {
    const base = { cluster: 'c1', region: 'us-east-1', credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' }, now: new Date('2026-11-26T00:00:00Z') };
    const tokens = await Promise.all([
      createEksToken(base),
      createEksToken({ ...base, now: new Date('2026-11-26T00:00:01Z') }),
      createEksToken({ ...base, cluster: 'c2' }),
      createEksToken({ ...base, credentials: { accessKeyId: 'AK', secretAccessKey: 'SK2' } }),
    ]);
    expect(new Set(tokens).size).toBe(4);
  });
});

describe('checkEksToken (the test API server\'s verifier)', () => {
  it('accepts awscli\'s tokens and rejects one signed for another cluster or key', async () => {
    // Prepare
    const { checkEksToken } = await import('../support/eks.js');
    const v = vectors[0]!;
    const check = { cluster: v.cluster, region: v.region, accessKeyId: v.accessKeyId, secretAccessKey: v.secretAccessKey, now: Date.parse(v.time) };

    // Act / Assess
    expect(checkEksToken(v.token, check)).toBeUndefined();
    expect(checkEksToken(v.token, { ...check, cluster: 'other' })).toMatch(/signature/);
    expect(checkEksToken(v.token, { ...check, secretAccessKey: 'wrong' })).toMatch(/signature/);
    expect(checkEksToken(v.token, { ...check, now: Date.parse(v.time) + 16 * 60_000 })).toMatch(/15 minutes/);
    expect(checkEksToken('Bearer nonsense', check)).toMatch(/prefix/);
  });
});
