// esbuild plugins shared by scripts/build.mjs (dist/) and serverless.yml (serverless-esbuild).
'use strict';

const CONFIG_MODULE = /[\\/]@kubernetes[\\/]client-node[\\/]dist[\\/]config\.js$/;

/**
 * client-node's kubeconfig module (all the product takes of client-node: kubeconfig loading,
 * every auth method, TLS, proxies) imports two things only client-node's generated API
 * clients use: the generated index (every model and its serializer, 417 KiB, evaluated at
 * import) for `makeApiClient`, and node-fetch (with whatwg-url and tr46's Unicode tables,
 * about 300 KiB) for the Headers of `applyToFetchOptions`. The product calls neither: its
 * requests go through src/adapters/kube-http.ts. So the first is replaced by a stub that
 * fails loudly if ever called, the second by Node's own Headers.
 */
const kubeConfigOnly = {
  name: 'kube-config-only',
  setup(build) {
    build.onResolve({ filter: /^(\.\/gen\/index\.js|node-fetch)$/ }, (args) =>
      CONFIG_MODULE.test(args.importer) ? { path: args.path, namespace: 'kube-config-only' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'kube-config-only' }, (args) => ({
      loader: 'js',
      contents:
        args.path === 'node-fetch'
          ? 'export const Headers = globalThis.Headers;'
          : [
              "const refuse = () => { throw new Error('lab-reconciler does not bundle client-node\\'s generated API clients (makeApiClient): requests go through src/adapters/kube-http.ts'); };",
              'export const createConfiguration = refuse;',
              'export class ServerConfiguration { constructor() { refuse(); } }',
            ].join('\n'),
    }));
  },
};

// An array, as serverless-esbuild's `plugins: file` wants it.
module.exports = [kubeConfigOnly];
