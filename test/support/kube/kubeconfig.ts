/**
 * kubeconfig text pointing at the local API server, for code that loads a file
 * (`KubeConfig.loadFromFile`) the way the command line does.
 */

/** One context of the kubeconfig; each gets its own user. */
export interface KubeconfigContext {
  name: string;
  /** Bearer token of the context's user; default the server's token. */
  token?: string;
  namespace?: string;
  /** Server URL; default the local server (set it to reach, say, a closed port). */
  server?: string;
}

/** Options of {@link kubeconfigYaml}. */
export interface KubeconfigOptions {
  /** Name of the single context when `contexts` is not given. Default `local-test`. */
  context?: string;
  /** Token of the single context when `contexts` is not given. */
  token?: string;
  /** Several contexts; the first is current unless `currentContext` says otherwise. */
  contexts?: KubeconfigContext[];
  currentContext?: string;
}

/** What the server contributes to its kubeconfig. */
export interface KubeconfigTarget {
  server: string;
  caCert: string;
  token: string;
}

/** YAML of a kubeconfig. Strings are JSON-quoted: a JSON string is a valid YAML scalar. */
export function kubeconfigYaml(target: KubeconfigTarget, options: KubeconfigOptions = {}): string {
  const contexts = options.contexts ?? [{ name: options.context ?? 'local-test', token: options.token ?? target.token }];
  const first = contexts[0];
  if (!first) throw new Error('kubeconfig needs at least one context');
  const q = (value: string) => JSON.stringify(value);
  const caData = Buffer.from(target.caCert).toString('base64');
  const lines = ['apiVersion: v1', 'kind: Config', 'preferences: {}', 'clusters:'];
  for (const c of contexts) {
    lines.push(`- name: ${q(`${c.name}-cluster`)}`, '  cluster:', `    server: ${q(c.server ?? target.server)}`, `    certificate-authority-data: ${q(caData)}`);
  }
  lines.push('users:');
  for (const c of contexts) {
    lines.push(`- name: ${q(`${c.name}-user`)}`, '  user:', `    token: ${q(c.token ?? target.token)}`);
  }
  lines.push('contexts:');
  for (const c of contexts) {
    lines.push(`- name: ${q(c.name)}`, '  context:', `    cluster: ${q(`${c.name}-cluster`)}`, `    user: ${q(`${c.name}-user`)}`);
    if (c.namespace) lines.push(`    namespace: ${q(c.namespace)}`);
  }
  lines.push(`current-context: ${q(options.currentContext ?? first.name)}`);
  return `${lines.join('\n')}\n`;
}
