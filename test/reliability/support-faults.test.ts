/**
 * The fault capabilities added to test/support for the fault matrix: the bridge's `match`,
 * `headers`, recorded faults and `clearFaults`; the EKS endpoint's `fail` and `clearFaults`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EksEndpoint } from '../support/eks.js';
import { startEksEndpoint } from '../support/eks.js';
import type { RedisServer } from '../support/redis-server.js';
import { startRedisServer } from '../support/redis-server.js';
import { UpstashBridge } from '../support/upstash-bridge.js';

const post = (url: string, token: string, body: unknown) =>
  fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('UpstashBridge faults for the matrix', () => {
  let redis: RedisServer;
  let bridge: UpstashBridge;
  beforeAll(async () => {
    redis = await startRedisServer();
    bridge = await UpstashBridge.start({ redisPort: redis.port });
  });
  afterAll(async () => {
    await bridge.close();
    await redis.stop();
  });

  it('hits only the commands `match` accepts, answers with the given headers, and records the fault', async () => {
    // Prepare
    bridge.reset();
    const fault = bridge.fail({ command: 'DEL', match: (c) => c[1]!.startsWith('lab_session:'), effect: { status: 429, headers: { 'Retry-After': '1' } }, times: Infinity });

    // Act
    const other = await post(`${bridge.url}/pipeline`, bridge.token, [['DEL', 'lab-reconciler:sighting:a']]);
    const hit = await post(`${bridge.url}/pipeline`, bridge.token, [['DEL', 'lab_session:a']]);

    // Assess
    expect(other.status).toBe(200);
    expect([hit.status, hit.headers.get('retry-after')]).toEqual([429, '1']);
    expect(fault.hits).toBe(1);
    expect(bridge.requests.map((r) => r.fault)).toEqual([undefined, { effect: { status: 429, headers: { 'Retry-After': '1' } }, when: 'before' }]);
  });

  it('forgets its faults on clearFaults, keeping its logs', async () => {
    // Prepare
    bridge.reset();
    bridge.fail({ effect: { status: 500 }, times: Infinity });
    await post(bridge.url, bridge.token, ['PING']);

    // Act
    bridge.clearFaults();
    const after = await post(bridge.url, bridge.token, ['PING']);

    // Assess
    expect(after.status).toBe(200);
    expect(bridge.requests).toHaveLength(2);
  });
});

describe('EksEndpoint.fail', () => {
  let eks: EksEndpoint;
  beforeAll(async () => {
    eks = await startEksEndpoint({ name: 'c', endpoint: 'https://127.0.0.1:1', caData: 'Y2E=' });
  });
  afterAll(async () => {
    await eks.close();
  });

  it('answers an AWS error the given number of times, then normally', async () => {
    // Prepare
    const fault = eks.fail({ effect: { type: 'status', status: 429, errorType: 'ThrottlingException', headers: { 'Retry-After': '1' } }, times: 1 });

    // Act
    const first = await fetch(`${eks.url}/clusters/c`);
    const second = await fetch(`${eks.url}/clusters/c`);

    // Assess
    expect([first.status, first.headers.get('x-amzn-errortype'), first.headers.get('retry-after')]).toEqual([429, 'ThrottlingException', '1']);
    expect(second.status).toBe(200);
    expect(fault.hits).toBe(1);
  });

  it('sends truncated JSON, resets, and hangs until clearFaults ends the request', async () => {
    // Prepare
    eks.fail({ effect: { type: 'malformed-json' } });
    eks.fail({ effect: { type: 'reset' } });
    eks.fail({ effect: { type: 'hang' } });

    // Act
    const malformed = await (await fetch(`${eks.url}/clusters/c`)).text();
    const reset = await fetch(`${eks.url}/clusters/c`).catch((error: Error) => error);
    const hanging = fetch(`${eks.url}/clusters/c`).catch((error: Error) => error);
    await new Promise((resolve) => setTimeout(resolve, 50));
    eks.clearFaults();

    // Assess
    expect(() => JSON.parse(malformed)).toThrow();
    expect(reset).toBeInstanceOf(Error);
    expect(await hanging).toBeInstanceOf(Error);
  });
});
