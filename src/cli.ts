/** The command line's entry point: `dist/cli.mjs`, package.json's `lab-reconciler`. */
import { main } from './cli/main.js';

process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
