/**
 * Building a KubeConfig for the `kubeconfig` and `in-cluster` modes, with errors that name the
 * setting at fault. (The `eks` mode builds its own from DescribeCluster and a token.)
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
// client-node's kubeconfig module alone: its index also loads every generated API class and model.
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { ConfigError } from '../config.js';
import { messageOf } from '../errors.js';

export interface KubeconfigSource {
  /** One path, or several joined by the platform's delimiter as in KUBECONFIG. */
  path: string | undefined;
  /** What to name in errors about the path: `KUBECONFIG` or `--kubeconfig`. */
  pathSetting: string;
  context: string | undefined;
}

/** Loads a kubeconfig as kubectl does: files merged in order, the first current-context wins. */
export function loadKubeconfig({ path, pathSetting, context }: KubeconfigSource): KubeConfig {
  const files = (path ?? join(homedir(), '.kube', 'config')).split(delimiter).filter((file) => file !== '');
  if (files.length === 0) throw new ConfigError(pathSetting, 'names no file');
  const kc = new KubeConfig();
  files.forEach((file, index) => {
    if (!existsSync(file)) {
      throw new ConfigError(pathSetting, path === undefined ? `is not set and the default kubeconfig ${file} does not exist` : `kubeconfig file ${file} does not exist`);
    }
    if (!statSync(file).isFile()) throw new ConfigError(pathSetting, `kubeconfig ${file} is not a file`);
    const one = new KubeConfig();
    try {
      one.loadFromFile(file);
    } catch (error) {
      // client-node reads any YAML; what is not a map of clusters, contexts and users fails
      // inside it with a TypeError, which says nothing to an operator.
      const reason = error instanceof TypeError ? 'it is not a kubeconfig (a YAML map of clusters, contexts and users)' : printable(messageOf(error));
      throw new ConfigError(pathSetting, `kubeconfig file ${file} could not be read: ${reason}`);
    }
    if (index === 0) kc.loadFromOptions({ clusters: one.clusters, users: one.users, contexts: one.contexts, currentContext: one.currentContext });
    else {
      try {
        kc.mergeConfig(one, kc.currentContext !== undefined && kc.currentContext !== '');
      } catch (error) {
        throw new ConfigError(pathSetting, `kubeconfig file ${file} could not be merged: ${printable(messageOf(error))}`);
      }
    }
  });
  if (context !== undefined) {
    if (!kc.getContextObject(context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new ConfigError('--context', `no context ${JSON.stringify(context)} in ${files.join(delimiter)} (it has: ${known.join(', ') || 'none'})`);
    }
    kc.setCurrentContext(context);
  }
  checkCurrent(kc, context === undefined ? pathSetting : '--context', files.join(delimiter));
  return kc;
}

/** The current context must name a cluster with an https server, and a user. */
function checkCurrent(kc: KubeConfig, setting: string, where: string): void {
  const name = kc.getCurrentContext();
  if (!name) throw new ConfigError(setting, `${where} sets no current-context; name one with --context`);
  const context = kc.getContextObject(name);
  if (!context) throw new ConfigError(setting, `current-context ${JSON.stringify(name)} is not defined in ${where}`);
  const cluster = kc.getCluster(context.cluster);
  if (!cluster) throw new ConfigError(setting, `context ${JSON.stringify(name)} names cluster ${JSON.stringify(context.cluster)}, which ${where} does not define`);
  if (!cluster.server) throw new ConfigError(setting, `cluster ${JSON.stringify(cluster.name)} in ${where} has no server`);
  let server: URL | undefined;
  try {
    server = new URL(String(cluster.server));
  } catch {
    server = undefined;
  }
  if (!server || (server.protocol !== 'https:' && server.protocol !== 'http:') || !server.hostname) {
    throw new ConfigError(setting, `cluster ${JSON.stringify(cluster.name)} in ${where} has an invalid server ${JSON.stringify(cluster.server)} (expected https://host:port)`);
  }
  const user = kc.getUser(context.user);
  if (!user) {
    throw new ConfigError(setting, `context ${JSON.stringify(name)} names user ${JSON.stringify(context.user)}, which ${where} does not define`);
  }
  // Files and certificates are checked now, as kubectl does, rather than as a TLS failure
  // retried in every namespace.
  for (const [field, file] of [
    ['certificate-authority', cluster.caFile],
    ['client-certificate', user.certFile],
    ['client-key', user.keyFile],
  ] as const) {
    if (file && !existsSync(file)) throw new ConfigError(setting, `${field} file ${file} of ${JSON.stringify(cluster.name)} in ${where} does not exist`);
  }
  const ca = cluster.caData ? Buffer.from(cluster.caData, 'base64') : cluster.caFile ? readFileSync(cluster.caFile) : undefined;
  if (ca) {
    try {
      new X509Certificate(ca);
    } catch {
      throw new ConfigError(setting, `the certificate authority of cluster ${JSON.stringify(cluster.name)} in ${where} is not a PEM certificate`);
    }
  }
}

/** The first line of a message, with control characters escaped (YAML errors quote the input). */
function printable(message: string): string {
  const first = message.split('\n')[0] ?? '';
  return first.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).slice(0, 300);
}

/** The in-cluster service account, with a clear error outside a pod. */
export function loadInCluster(env: Readonly<Record<string, string | undefined>>): KubeConfig {
  if (!env.KUBERNETES_SERVICE_HOST || !env.KUBERNETES_SERVICE_PORT) {
    throw new ConfigError('K8S_MODE', 'is in-cluster, but KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (not running in a pod?)');
  }
  const kc = new KubeConfig();
  kc.loadFromCluster();
  return kc;
}
