/**
 * API clients for the baseline, over the same `@kubernetes/client-node` as the product and
 * with the same treatment of connections: one keep-alive agent, as the original worker's
 * Python client had (urllib3 keeps a pool of connections). Without it client-node makes a
 * new TLS connection per request, which would slow the baseline for a reason that is not
 * its algorithm's.
 */
import { AppsV1Api, CoreV1Api, DiscoveryV1Api, NetworkingV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { keepAliveConfiguration } from '../src/adapters/kubernetes.js';

export interface Apis {
  apps: AppsV1Api;
  core: CoreV1Api;
  networking: NetworkingV1Api;
  discovery: DiscoveryV1Api;
}

/** Clients of the current cluster of `kc` sharing one keep-alive agent of `maxSockets` connections (the product's own). */
export function keepAliveApis(kc: KubeConfig, maxSockets: number): Apis {
  const configuration = keepAliveConfiguration(kc, maxSockets);
  return {
    apps: new AppsV1Api(configuration),
    core: new CoreV1Api(configuration),
    networking: new NetworkingV1Api(configuration),
    discovery: new DiscoveryV1Api(configuration),
  };
}
