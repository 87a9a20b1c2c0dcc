// `npm run bench`: bundles bench/run.ts with esbuild (a direct devDependency, so no
// TypeScript runner needs to be installed) and runs it. Packages stay external, so the
// bundle is written under node_modules/, where Node resolves them as for the sources.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
// One file per process, so that two benches at once never share one.
const outfile = join(root, 'node_modules', '.cache', 'lab-reconciler-bench', `run-${process.pid}.mjs`);
await build({
  entryPoints: [join(root, 'bench', 'run.ts')],
  outfile,
  bundle: true,
  packages: 'external',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'inline',
  logLevel: 'warning',
});
try {
  // run.ts reads process.argv and sets process.exitCode itself.
  await import(pathToFileURL(outfile).href);
} finally {
  rmSync(outfile, { force: true });
}
