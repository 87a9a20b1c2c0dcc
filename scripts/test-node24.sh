#!/usr/bin/env bash
# Runs the end-to-end test of the built bundle under Node 24, the Lambda runtime, with the
# registry's node@24 package installed outside the project's dependencies (.cache/node24).
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${NODE24_PREFIX:-$PWD/.cache/node24}"
node24="$prefix/node_modules/.bin/node"
if [ ! -x "$node24" ]; then
  mkdir -p "$prefix"
  npm install --no-save --no-audit --no-fund --prefix "$prefix" node@24 >/dev/null
fi
echo "bundle end-to-end test under Node $("$node24" --version)"
[ -f dist/handler.mjs ] || npm run --silent build
LAB_RECONCILER_NODE="$node24" LAB_RECONCILER_EXPECT_NODE=24 npx vitest run test/e2e
