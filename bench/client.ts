/**
 * API clients for the baseline, over the same `@kubernetes/client-node` as the product and
 * with the same treatment of connections: one keep-alive agent, as the original worker's
 * Python client had (urllib3 keeps a pool of connections). Without it client-node makes a
 * new TLS connection per request, which would slow the baseline for a reason that is not
 * its algorithm's.
 */
import { Agent as HttpsAgent } from 'node:https';
import { AppsV1Api, CoreV1Api, DiscoveryV1Api, NetworkingV1Api, ServerConfiguration, createConfiguration } from '@kubernetes/client-node';
import type { Configuration, KubeConfig, RequestContext } from '@kubernetes/client-node';

export interface Apis {
  apps: AppsV1Api;
  core: CoreV1Api;
  networking: NetworkingV1Api;
  discovery: DiscoveryV1Api;
}

/**
 * A client-node configuration for the current cluster of `kc` whose requests share one
 * keep-alive agent of `maxSockets` connections (client-node makes a new agent, so a new TLS
 * handshake, per request): what the product did before it had its own request layer.
 */
export function keepAliveConfiguration(kc: KubeConfig, maxSockets: number): Configuration {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('The kubeconfig has no current cluster');
  let shared: HttpsAgent | undefined;
  return createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: kc },
    promiseMiddleware: [
      {
        pre: async (context: RequestContext) => {
          const agent = context.getAgent();
          if (agent instanceof HttpsAgent && agent.constructor === HttpsAgent) {
            shared ??= new HttpsAgent({ ...agent.options, keepAlive: true, maxSockets });
            context.setAgent(shared);
          }
          return context;
        },
        post: async (response) => response,
      },
    ],
  });
}

/** Clients of the current cluster of `kc` sharing one keep-alive agent of `maxSockets` connections. */
export function keepAliveApis(kc: KubeConfig, maxSockets: number): Apis {
  const configuration = keepAliveConfiguration(kc, maxSockets);
  return {
    apps: new AppsV1Api(configuration),
    core: new CoreV1Api(configuration),
    networking: new NetworkingV1Api(configuration),
    discovery: new DiscoveryV1Api(configuration),
  };
}
