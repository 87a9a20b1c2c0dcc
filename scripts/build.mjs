// Bundles the entry points with esbuild: dist/cli.mjs (the command line) and
// dist/handler.mjs (the Lambda, an ES module exporting `handler`).
// ESM bundles of CommonJS dependencies need `require`, hence the createRequire banner.
import { build } from 'esbuild';
import { chmod, rm } from 'node:fs/promises';
import plugins from '../infra/esbuild-plugins.cjs';

const requireBanner = [
  "import { createRequire as __labReconcilerCreateRequire } from 'node:module';",
  'const require = __labReconcilerCreateRequire(import.meta.url);',
].join('\n');

const common = {
  // client-node's kubeconfig module without the generated API clients (infra/esbuild-plugins.cjs says why).
  plugins,
  bundle: true,
  platform: 'node',
  format: 'esm',
  // One bundle runs on Node 20 (development) and Node 24 (the Lambda runtime).
  target: 'node20',
  sourcemap: 'linked',
  legalComments: 'none',
  // Half the size (8.4 to 4.2 MB); identifiers are kept, so stack traces still name functions.
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
};

await rm('dist', { recursive: true, force: true });
await build({
  ...common,
  entryPoints: { cli: 'src/cli.ts' },
  outExtension: { '.js': '.mjs' },
  outdir: 'dist',
  banner: { js: `#!/usr/bin/env node\n${requireBanner}` },
});
await chmod('dist/cli.mjs', 0o755);
await build({
  ...common,
  entryPoints: { handler: 'src/handler.ts' },
  outExtension: { '.js': '.mjs' },
  outdir: 'dist',
  banner: { js: requireBanner },
});
