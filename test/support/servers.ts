/**
 * The local servers most integration tests need together: a private redis-server, the Upstash
 * REST bridge in front of it, a direct RESP client to check Redis's own state, and the local
 * Kubernetes API server. Started once per file, reset before each test.
 */
import type { KubeApiServer } from './kube-api-server.js';
import { startKubeApiServer } from './kube-api-server.js';
import type { RedisServer } from './redis-server.js';
import { startRedisServer } from './redis-server.js';
import { RespClient } from './resp-client.js';
import { UpstashBridge } from './upstash-bridge.js';

export interface LocalServers {
  redis: RedisServer;
  bridge: UpstashBridge;
  server: KubeApiServer;
  direct: RespClient;
  /** A key's string value as Redis holds it, or null. */
  get(key: string): Promise<string | null>;
  /** An array reply, as strings (the RESP client gives Buffers). */
  strings(...command: string[]): Promise<string[]>;
  /** Empties Redis and forgets the bridge's and the API server's requests, faults and objects. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

export async function startLocalServers(): Promise<LocalServers> {
  const redis = await startRedisServer();
  const bridge = await UpstashBridge.start({ redisPort: redis.port });
  const server = await startKubeApiServer();
  const direct = await RespClient.connect(redis.port);
  return {
    redis,
    bridge,
    server,
    direct,
    async get(key) {
      const value = await direct.call('GET', key);
      return value === null ? null : String(value);
    },
    async strings(...command) {
      return ((await direct.call(...command)) as unknown[]).map(String);
    },
    async reset() {
      await direct.call('FLUSHALL');
      bridge.reset();
      server.reset();
    },
    async close() {
      await direct.close();
      await bridge.close();
      await server.close();
      await redis.stop();
    },
  };
}
