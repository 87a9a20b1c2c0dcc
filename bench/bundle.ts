/**
 * Builds the bench's child-process entry (bench/child.ts) into one ES module with esbuild,
 * so that it runs on plain Node, whether the bench was started by `npm run bench` or by
 * vitest (the smoke test): both reach this same function.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';

/**
 * The repository's root: the nearest directory up from the working directory whose
 * package.json is lab-reconciler's. (`import.meta.url` cannot be used: once bundled, this
 * module lives under node_modules/.cache.)
 */
export function repoRoot(from: string = process.cwd()): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'lab-reconciler') return dir;
    if (dirname(dir) === dir) throw new Error(`Not inside the lab-reconciler repository: ${from}`);
  }
}

const REQUIRE_BANNER = [
  "import { createRequire as __benchCreateRequire } from 'node:module';",
  'const require = __benchCreateRequire(import.meta.url);',
].join('\n');

/** The bench's child entries: bench/child.ts (the scenarios), bench/keys-child.ts (the session keys' scan) and bench/archive-child.ts (the archive's cost). */
export type ChildEntry = 'child' | 'keys-child' | 'archive-child';

const built = new Map<ChildEntry, Promise<string>>();

/**
 * The path of the bundled child entry, built once per process. Dependencies are bundled
 * too, as `npm run build` bundles the Lambda: loading @kubernetes/client-node from
 * node_modules file by file costs the process some 50 MB more than the same code bundled,
 * which would blur the peak memory measured. Hence also the createRequire banner of
 * scripts/build.mjs (ESM bundles of CommonJS dependencies need `require`).
 *
 * The file is named by its content's hash and written by an atomic rename, so a bench and
 * a smoke test running at once never read each other's half-written file, and nothing needs
 * cleaning up (a process killed by its test runner never runs exit handlers).
 */
export function childBundle(entry: ChildEntry = 'child'): Promise<string> {
  let bundle = built.get(entry);
  if (bundle) return bundle;
  bundle = (async () => {
    const root = repoRoot();
    const result = await build({
      entryPoints: [join(root, 'bench', `${entry}.ts`)],
      bundle: true,
      banner: { js: REQUIRE_BANNER },
      platform: 'node',
      format: 'esm',
      target: 'node20',
      write: false,
      outfile: 'child.mjs',
      logLevel: 'warning',
    });
    const code = result.outputFiles[0]!.contents;
    const dir = join(root, 'node_modules', '.cache', 'lab-reconciler-bench');
    const file = join(dir, `${entry}-${createHash('sha256').update(code).digest('hex').slice(0, 16)}.mjs`);
    if (!existsSync(file)) {
      mkdirSync(dir, { recursive: true });
      const temporary = `${file}.${process.pid}.tmp`;
      writeFileSync(temporary, code);
      renameSync(temporary, file);
      pruneOldBundles(dir);
    }
    return file;
  })();
  built.set(entry, bundle);
  return bundle;
}

/** Removes bundles of older sources; an hour old, no bench still starting children from them. */
function pruneOldBundles(dir: string): void {
  const hourAgo = Date.now() - 3_600_000;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    try {
      if (/^((keys|archive)-)?child-[0-9a-f]{16}\.mjs$/.test(name) && statSync(path).mtimeMs < hourAgo) rmSync(path, { force: true });
    } catch {
      // Another bench pruned it first.
    }
  }
}
