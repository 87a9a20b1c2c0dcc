/**
 * Builds the adapters from a validated Config: the cluster (eks, kubeconfig or in-cluster)
 * and the session store. Shared by the Lambda and the command line, so both reach a cluster
 * and a store the same way. Everything that can be wrong with the configuration is found
 * while building, before any request.
 */
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { Config } from './config.js';
import { ConfigError } from './config.js';
import type { Archive, Cluster, KeyRestorer, Logger, ResourceCreator, SessionStore } from './ports.js';
import { DirectoryArchive } from './adapters/dir-archive.js';
import { S3Archive, createS3Client } from './adapters/s3-archive.js';
import { EksAuth } from './adapters/eks.js';
import { KubernetesCluster } from './adapters/kubernetes.js';
import { loadInCluster, loadKubeconfig } from './adapters/kubeconfig.js';
import { readSecureParameter } from './adapters/ssm.js';
import { UpstashSessionStore, createUpstashClient } from './adapters/upstash.js';

/** Gives the cluster for a run; in eks mode each run gets a fresh token. */
export interface ClusterSource {
  forRun(): Promise<Cluster & ResourceCreator>;
  /** The `Cluster` metric dimension. */
  readonly name: string;
}

export interface ClusterSourceOptions {
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger;
  /** What to name in errors about the kubeconfig path: `KUBECONFIG` or `--kubeconfig`. */
  kubeconfigSetting?: string;
}

/** The cluster as the configuration says; kubeconfig problems throw ConfigError here. */
export function clusterSource(config: Config, { env, logger, kubeconfigSetting = 'KUBECONFIG' }: ClusterSourceOptions): ClusterSource {
  const common = { concurrency: config.concurrency, logger };
  if (config.k8sMode === 'eks') {
    const name = config.eksClusterName!;
    const auth = new EksAuth({ cluster: name, region: config.awsRegion!, credentials: defaultProvider() });
    let cluster: KubernetesCluster | undefined;
    return {
      name,
      async forRun() {
        const kubeConfig = await auth.kubeConfigForRun();
        cluster ??= new KubernetesCluster({ ...common, kubeConfig, description: `EKS cluster ${name}`, beforeRequest: () => auth.renewIfOld() });
        return cluster;
      },
    };
  }
  const kubeConfig =
    config.k8sMode === 'in-cluster'
      ? loadInCluster(env)
      : loadKubeconfig({ path: config.kubeconfigPath, pathSetting: kubeconfigSetting, context: config.kubeContext });
  const name = config.k8sMode === 'in-cluster' ? 'in-cluster' : kubeConfig.getCurrentContext();
  const cluster = new KubernetesCluster({ ...common, kubeConfig, description: `context ${name} (${kubeConfig.getCurrentCluster()?.server})` });
  return { name, forRun: async () => cluster };
}

/**
 * The session store, or undefined when none is configured. With a token parameter, the
 * token is read from SSM (once: the caller keeps the store for the execution environment).
 */
export async function sessionStore(config: Config, readParameter: (name: string) => Promise<string> = readSecureParameter): Promise<(SessionStore & KeyRestorer) | undefined> {
  const upstash = config.upstash;
  if (!upstash) return undefined;
  const token = upstash.token ?? (await readParameter(upstash.tokenParameter!));
  if (!token) throw new ConfigError('UPSTASH_REDIS_REST_TOKEN', 'is empty');
  return new UpstashSessionStore(createUpstashClient({ url: upstash.url, token }), config.sessionKeyPrefix);
}

/** The archive the configuration names (a bucket, or a directory), or undefined for none. */
export function archiveFor(config: Config, { env }: { env: Readonly<Record<string, string | undefined>> }): Archive | undefined {
  const settings = config.archive;
  if (!settings) return undefined;
  return settings.dir !== undefined ? new DirectoryArchive(settings.dir) : new S3Archive(createS3Client({ env }), settings.bucket);
}
