#!/usr/bin/env bash
# CI: package serverless.yml offline with osls, lint the CloudFormation template with cfn-lint,
# check the template and infra/rbac.yaml against the contract, and load and run the packaged bundle.
# Needs: node_modules (npm ci), cfn-lint, python3 (for unzip); kubectl for the RBAC check.
# No network, no AWS account: AWS credentials are hidden from osls on purpose, so anything in
# serverless.yml that needs an AWS call at package time (${aws:accountId}, ${ssm:...}) fails here.
#
#   scripts/package-check.sh            # exit status 0 only when every check passed
#
# Leaves .serverless/ holding the package of the `dev` stage with the CI params below.
set -euo pipefail
cd "$(dirname "$0")/.."

unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN \
  AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE AWS_CONTAINER_CREDENTIALS_FULL_URI \
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
export AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'package-check: FAILED: %s\n' "$*" >&2; exit 1; }

command -v cfn-lint >/dev/null || fail "cfn-lint not found (pip install cfn-lint)"
echo "osls $(npx --no-install osls --version 2>/dev/null | sed -n 's/^osls version: //p'), $(cfn-lint --version), node $(node --version)"

# The params a CI package needs: only the cluster name has no default.
base=(--stage dev --param="eksClusterName=ci-cluster")
# Every option switched on, a one-minute interval (`rate(1 minute)`, singular), and an archive
# kept for another time than the default 30 days.
options=(--stage dev
  --param="eksClusterName=ci-cluster"
  --param="reconciliationInterval=60"
  --param="archiveRetentionDays=90"
  --param="reconciliationStaleKeys=delete"
  --param="upstashRedisRestUrl=https://ci-example.upstash.io"
  --param="upstashRedisRestTokenParameter=/lab-reconciler/ci/upstash-token"
  --param="kmsKeyArn=arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  --param="vpcSubnetIds=subnet-0123456789abcdef0,subnet-0fedcba9876543210"
  --param="vpcSecurityGroupIds=sg-0123456789abcdef0"
  --param="alarmTopicArn=arn:aws:sns:us-east-1:123456789012:ci-alarms"
  --param="createAccessEntry=true")

lint() { # cfn-lint exit status: bit 2 errors, bit 4 warnings, bit 8 informational
  local status=0
  cfn-lint "$@" || status=$?
  if (( status & 1 )); then fail "cfn-lint could not run on $*"; fi
  if (( status & 2 )); then fail "cfn-lint reported errors in $*"; fi
  if (( status & 4 )); then fail "cfn-lint reported warnings in $* (fix them, or ignore one explicitly here with the reason)"; fi
  echo "cfn-lint: no errors, no warnings ($*)"
}

step "osls package, every option on (into a scratch directory)"
npx --no-install osls package "${options[@]}" --package "$work/options"
lint "$work/options/cloudformation-template-update-stack.json"
node infra/package-checks.mjs template "$work/options/cloudformation-template-update-stack.json" 90

step "osls package --stage dev --param=eksClusterName=ci-cluster (into .serverless/)"
npx --no-install osls package "${base[@]}"
template=.serverless/cloudformation-template-update-stack.json
[[ -s $template ]] || fail "$template was not written"
lint "$template" .serverless/cloudformation-template-create-stack.json
node infra/package-checks.mjs template "$template"

step "a bad param stops packaging (reconciliationInterval=90 is not whole minutes)"
if npx --no-install osls package "${base[@]}" --param="reconciliationInterval=90" --package "$work/bad" >"$work/bad.log" 2>&1; then
  fail "osls packaged an interval of 90 s"
fi
grep -q 'multiple of 60' "$work/bad.log" || { cat "$work/bad.log"; fail "the error does not name the rule"; }
echo "refused, with: $(grep -o 'param "reconciliationInterval"[^(]*' "$work/bad.log" | head -1)"

step "a bad param stops packaging (reconciliationStaleKeys=purge is not a mode)"
if npx --no-install osls package "${base[@]}" --param="reconciliationStaleKeys=purge" --package "$work/bad-keys" >"$work/bad-keys.log" 2>&1; then
  fail "osls packaged RECONCILIATION_STALE_KEYS=purge"
fi
grep -q 'must be one of report, delete, off' "$work/bad-keys.log" || { cat "$work/bad-keys.log"; fail "the error does not name the choices"; }
echo "refused, with: $(grep -o 'param "reconciliationStaleKeys"[^(]*' "$work/bad-keys.log" | head -1)"

step "a bad param stops packaging (archiveRetentionDays=0 is not from 1 to 3650)"
if npx --no-install osls package "${base[@]}" --param="archiveRetentionDays=0" --package "$work/bad-archive" >"$work/bad-archive.log" 2>&1; then
  fail "osls packaged an archive retention of 0 days"
fi
grep -q 'must be a whole number from 1 to 3650' "$work/bad-archive.log" || { cat "$work/bad-archive.log"; fail "the error does not name the bounds"; }
echo "refused, with: $(grep -o 'param "archiveRetentionDays"[^(]*' "$work/bad-archive.log" | head -1)"

step "the package: one ES module that loads and runs"
python3 -m zipfile -l .serverless/lab-reconciler.zip
python3 -m zipfile -e .serverless/lab-reconciler.zip "$work/bundle"
[[ -z $(cd "$work/bundle" && find . -type f ! -path ./src/handler.mjs) ]] || fail "the zip holds more than src/handler.mjs"
echo "zip $(wc -c <.serverless/lab-reconciler.zip) bytes, bundle $(wc -c <"$work/bundle/src/handler.mjs") bytes"
# Import it, then run it once as Lambda would, with no credentials of its own and an EKS
# endpoint that refuses connections: the contract's answer is status `failed`, and the run's
# metrics on stdout all the same.
cat >"$work/smoke.mjs" <<'EOF'
const started = performance.now();
const module = await import(process.argv[2]);
if (typeof module.handler !== 'function') throw new Error('src/handler.mjs does not export handler');
console.error(`src/handler.mjs exports handler; imported in ${Math.round(performance.now() - started)} ms on node ${process.version}`);
const context = { awsRequestId: 'package-check', functionName: 'package-check', getRemainingTimeInMillis: () => 60_000 };
const summary = await module.handler({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} }, context);
console.error(`a scheduled run with the cluster unreachable returned status ${summary.status}`);
if (summary.status !== 'failed') process.exit(1);
EOF
env -i PATH="$PATH" HOME="$work" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=AKIAPACKAGECHECK AWS_SECRET_ACCESS_KEY=not-a-secret \
  AWS_ENDPOINT_URL_EKS=http://127.0.0.1:9 AWS_MAX_ATTEMPTS=1 K8S_MODE=eks EKS_CLUSTER_NAME=ci-cluster \
  METRICS_NAMESPACE=LabReconciler NODE_NO_WARNINGS=1 \
  node "$work/smoke.mjs" "$work/bundle/src/handler.mjs" >"$work/smoke.out" \
  || fail "the packaged bundle does not load or does not run; its stdout: $(head -c 2000 "$work/smoke.out")"
grep -q '"Namespace":"LabReconciler","Dimensions":\[\["Cluster"\]\]' "$work/smoke.out" \
  || fail "the run wrote no EMF metrics with the dimension Cluster on stdout"
grep -q '"Cluster":"ci-cluster"' "$work/smoke.out" || fail "the metrics do not carry Cluster=ci-cluster"
echo "it wrote its metrics on stdout (EMF, namespace LabReconciler, dimension Cluster=ci-cluster)"

step "infra/rbac.yaml"
if command -v kubectl >/dev/null; then
  # `kubectl apply|create --dry-run=client` ask the API server for discovery even in dry run;
  # `--local` decodes the objects without a server.
  kubectl annotate --local -f infra/rbac.yaml lab-reconciler/checked=true -o json | node infra/package-checks.mjs rbac
else
  echo "SKIPPED: kubectl not found (install it to check infra/rbac.yaml)"
fi

printf '\npackage-check: all checks passed\n'
