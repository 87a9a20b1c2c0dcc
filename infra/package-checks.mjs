// Offline checks of what serverless.yml and infra/rbac.yaml promise, run by
// scripts/package-check.sh after `osls package` and cfn-lint:
//
//   node infra/package-checks.mjs template .serverless/cloudformation-template-update-stack.json [ARCHIVE_RETENTION_DAYS]
//   kubectl annotate --local -f infra/rbac.yaml checked=true -o json | node infra/package-checks.mjs rbac
//
// cfn-lint knows CloudFormation; it does not know the contract. These checks fail on a template
// that is valid but wrong for an operator: retries left on, a second concurrent run possible,
// a schedule that disagrees with RECONCILIATION_INTERVAL, a missing variable, an IAM action
// beyond the list, an archive that is public, unversioned or kept for another time than the
// param archiveRetentionDays (the third argument, 30 by default), an RBAC verb beyond the
// list. Each prints what it checked.
import { readFileSync } from 'node:fs';

const failures = [];
const passed = [];
function check(what, ok, detail = '') {
  (ok ? passed : failures).push(ok ? what : `${what}${detail ? `: ${detail}` : ''}`);
}
const show = (value) => JSON.stringify(value);
const sameSet = (a, b) => a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

/** The contract's variables, as the Lambda must receive them (AWS_REGION is Lambda's own). */
const ENVIRONMENT = [
  'RECONCILIATION_ENABLED',
  'RECONCILIATION_NAMESPACES',
  'RECONCILIATION_DRY_RUN',
  'RECONCILIATION_MIN_AGE_SECONDS',
  'RECONCILIATION_CONFIRM_SECONDS',
  'RECONCILIATION_MAX_DELETIONS',
  'RECONCILIATION_CONCURRENCY',
  'RECONCILIATION_INTERVAL',
  'RECONCILIATION_STALE_KEYS',
  'SESSION_KEY_PREFIX',
  'K8S_MODE',
  'EKS_CLUSTER_NAME',
  'UPSTASH_REDIS_REST_URL',
  'UPSTASH_REDIS_REST_TOKEN_PARAMETER',
  'METRICS_NAMESPACE',
  'POWERTOOLS_SERVICE_NAME',
  'POWERTOOLS_METRICS_NAMESPACE',
  'ARCHIVE_BUCKET',
];

const METRICS = [
  'RunsCompleted', 'NamespacesChecked', 'ServicesChecked', 'OrphanedFound', 'SessionsCleaned',
  'SessionsSpared', 'ResourcesDeleted', 'SessionKeysDeleted', 'Errors', 'CircuitBreakerOpen', 'StaleSessionKeys',
  'StaleSessionKeysDeleted', 'LeakedDeployments', 'DurationMs',
];

/** Every IAM action the function's role may ever hold (some only under a Condition). */
const ALLOWED_ACTIONS = new Set([
  'logs:CreateLogStream', 'logs:PutLogEvents', 'eks:DescribeCluster', 'ssm:GetParameter', 'kms:Decrypt',
  'ec2:CreateNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets',
  'ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses',
  's3:PutObject',
]);

/** Whether an IAM Resource is `<the bucket's ARN>/*`, and nothing else, in the forms CloudFormation writes it. */
function isObjectsOf(resource, bucketId) {
  const sub = resource?.['Fn::Sub'];
  if (typeof sub === 'string') {
    return sub === `\${${bucketId}.Arn}/*` || sub === `arn:\${AWS::Partition}:s3:::\${${bucketId}}/*`;
  }
  const [separator, parts] = resource?.['Fn::Join'] ?? [];
  return separator === '' && parts?.length === 2 && parts[1] === '/*' && show(parts[0]) === show({ 'Fn::GetAtt': [bucketId, 'Arn'] });
}

function checkTemplate(file, archiveRetentionDays = '30') {
  const template = JSON.parse(readFileSync(file, 'utf8'));
  const resources = Object.entries(template.Resources ?? {});
  const ofType = (type) => resources.filter(([, r]) => r.Type === type);

  const functions = ofType('AWS::Lambda::Function');
  check('one Lambda function', functions.length === 1, `found ${functions.length}`);
  const [fnId, fn] = functions[0] ?? [];
  const p = fn?.Properties ?? {};
  check('runtime nodejs24.x', p.Runtime === 'nodejs24.x', show(p.Runtime));
  check('architecture arm64', sameSet(p.Architectures ?? [], ['arm64']), show(p.Architectures));
  check('memory 256 MB', p.MemorySize === 256, show(p.MemorySize));
  check('handler src/handler.handler', p.Handler === 'src/handler.handler', show(p.Handler));
  check('timeout at most 900 s', Number.isInteger(p.Timeout) && p.Timeout <= 900, show(p.Timeout));
  check('reserved concurrency 1', p.ReservedConcurrentExecutions === 1, show(p.ReservedConcurrentExecutions));

  const env = p.Environment?.Variables ?? {};
  check('environment: exactly the contract variables', sameSet(Object.keys(env), ENVIRONMENT),
    `missing ${show(ENVIRONMENT.filter((k) => !(k in env)))}, extra ${show(Object.keys(env).filter((k) => !ENVIRONMENT.includes(k)))}`);
  check('environment: no Upstash token, no AWS_REGION', !('UPSTASH_REDIS_REST_TOKEN' in env) && !('AWS_REGION' in env));
  // Besides osls's own deployment bucket (the code's zip), one bucket: the archive.
  const buckets = ofType('AWS::S3::Bucket').filter(([id]) => id !== 'ServerlessDeploymentBucket');
  check('one S3 bucket besides the deployment bucket (the archive)', buckets.length === 1, show(buckets.map(([id]) => id)));
  const [bucketId, bucket] = buckets[0] ?? [];
  check('environment: every value a string, but ARCHIVE_BUCKET',
    Object.entries(env).every(([k, v]) => k === 'ARCHIVE_BUCKET' || typeof v === 'string'));
  check('ARCHIVE_BUCKET is a Ref to the bucket', show(env.ARCHIVE_BUCKET) === show({ Ref: bucketId }), show(env.ARCHIVE_BUCKET));
  check('K8S_MODE=eks', env.K8S_MODE === 'eks', show(env.K8S_MODE));
  check('EKS_CLUSTER_NAME set', typeof env.EKS_CLUSTER_NAME === 'string' && env.EKS_CLUSTER_NAME !== '');
  check('POWERTOOLS_SERVICE_NAME=lab-reconciler', env.POWERTOOLS_SERVICE_NAME === 'lab-reconciler');
  check('POWERTOOLS_METRICS_NAMESPACE = METRICS_NAMESPACE', env.POWERTOOLS_METRICS_NAMESPACE === env.METRICS_NAMESPACE);

  const interval = Number(env.RECONCILIATION_INTERVAL);
  const minutes = interval / 60;
  const rate = `rate(${minutes} ${minutes === 1 ? 'minute' : 'minutes'})`;
  const rules = ofType('AWS::Events::Rule');
  check('one schedule rule', rules.length === 1, `found ${rules.length}`);
  const rule = rules[0]?.[1]?.Properties ?? {};
  check(`schedule ${rate} = RECONCILIATION_INTERVAL ${interval} s`, rule.ScheduleExpression === rate, show(rule.ScheduleExpression));
  check('schedule targets the function', show(rule.Targets?.[0]?.Arn) === show({ 'Fn::GetAtt': [fnId, 'Arn'] }));

  const invokeConfigs = ofType('AWS::Lambda::EventInvokeConfig');
  const invoke = invokeConfigs[0]?.[1]?.Properties ?? {};
  check('no asynchronous retries (MaximumRetryAttempts 0)', invoke.MaximumRetryAttempts === 0, show(invoke.MaximumRetryAttempts));
  check('stale events dropped (MaximumEventAgeInSeconds <= interval)',
    Number.isInteger(invoke.MaximumEventAgeInSeconds) && invoke.MaximumEventAgeInSeconds <= interval, show(invoke.MaximumEventAgeInSeconds));

  // IAM: the function's only role, its actions within the list, no wildcard action.
  const roles = ofType('AWS::IAM::Role');
  check('one IAM role (no osls default role)', roles.length === 1, show(roles.map(([id]) => id)));
  const role = roles[0]?.[1]?.Properties ?? {};
  check('role has no managed policies', !role.ManagedPolicyArns);
  const statements = (role.Policies ?? []).flatMap((policy) => policy.PolicyDocument.Statement)
    .map((s) => (s['Fn::If'] ? s['Fn::If'][1] : s));
  const actions = statements.flatMap((s) => [].concat(s.Action));
  check('role actions within the allowed list', actions.every((a) => ALLOWED_ACTIONS.has(a)),
    show(actions.filter((a) => !ALLOWED_ACTIONS.has(a))));
  const describe = statements.find((s) => [].concat(s.Action).includes('eks:DescribeCluster'));
  check('eks:DescribeCluster on the one cluster',
    show(describe?.Resource ?? null).endsWith(`:cluster/${env.EKS_CLUSTER_NAME}"}`), show(describe?.Resource));
  const getParameter = statements.find((s) => [].concat(s.Action).includes('ssm:GetParameter'));
  check('ssm:GetParameter on one parameter, never a wildcard', !!getParameter && !show(getParameter.Resource).includes('*'));
  const decrypt = statements.find((s) => [].concat(s.Action).includes('kms:Decrypt'));
  check('kms:Decrypt only through SSM', !!decrypt?.Condition?.StringEquals?.['kms:ViaService']);
  const s3 = statements.filter((s) => [].concat(s.Action).some((a) => a.startsWith('s3:')));
  check('S3: s3:PutObject alone, only on the archive bucket\'s objects',
    s3.length === 1 && s3[0].Effect === 'Allow' && show([].concat(s3[0].Action)) === show(['s3:PutObject'])
      && !s3[0].NotResource && !s3[0].Condition && isObjectsOf(s3[0].Resource, bucketId), show(s3));
  check('Function role is the role', show(p.Role).includes(roles[0]?.[0]));

  const log = ofType('AWS::Logs::LogGroup')[0]?.[1]?.Properties ?? {};
  check('log retention set', Number.isInteger(log.RetentionInDays), show(log.RetentionInDays));

  // Alarms.
  const alarms = ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
  const alarm = (namespace, metric) => alarms.find((a) => a.MetricName === metric && (namespace === 'AWS/Lambda') === (a.Namespace === 'AWS/Lambda'));
  for (const metric of ['Errors', 'CircuitBreakerOpen']) {
    const a = alarm('custom', metric);
    check(`alarm on ${metric} Sum >= 1, dimension Cluster`,
      a?.Namespace === env.METRICS_NAMESPACE && a.Statistic === 'Sum' && a.Threshold === 1 && a.ComparisonOperator === 'GreaterThanOrEqualToThreshold'
        && show(a.Dimensions) === show([{ Name: 'Cluster', Value: env.EKS_CLUSTER_NAME }]), show(a));
  }
  const runs = alarm('custom', 'RunsCompleted');
  check('alarm on RunsCompleted missing for three intervals (breaching)',
    runs?.Period === interval && runs.EvaluationPeriods === 3 && runs.TreatMissingData === 'breaching'
      && runs.ComparisonOperator === 'LessThanThreshold' && runs.Threshold === 1, show(runs));
  const leaked = alarm('custom', 'LeakedDeployments');
  check('alarm on LeakedDeployments above 0 in three consecutive runs, dimension Cluster',
    leaked?.Namespace === env.METRICS_NAMESPACE && leaked.Period === interval && leaked.EvaluationPeriods === 3 && leaked.DatapointsToAlarm === 3
      && leaked.Threshold === 0 && leaked.ComparisonOperator === 'GreaterThanThreshold' && leaked.TreatMissingData === 'ignore'
      && show(leaked.Dimensions) === show([{ Name: 'Cluster', Value: env.EKS_CLUSTER_NAME }]), show(leaked));
  check('RECONCILIATION_STALE_KEYS is report, delete or off', ['report', 'delete', 'off'].includes(env.RECONCILIATION_STALE_KEYS), show(env.RECONCILIATION_STALE_KEYS));
  for (const metric of ['Errors', 'Throttles']) {
    check(`alarm on AWS/Lambda ${metric}`, !!alarm('AWS/Lambda', metric));
  }

  const dashboards = ofType('AWS::CloudWatch::Dashboard');
  const body = show(dashboards[0]?.[1]?.Properties?.DashboardBody ?? '');
  check('dashboard shows every contract metric', METRICS.every((m) => body.includes(`\\"${m}\\"`)),
    show(METRICS.filter((m) => !body.includes(`\\"${m}\\"`))));
  // CloudFormation only finds a malformed body at deploy time: substitute and parse it here.
  const [text, variables] = dashboards[0]?.[1]?.Properties?.DashboardBody?.['Fn::Sub'] ?? ['', {}];
  const substituted = text.replace(/\$\{([^}]+)\}/g, (_, name) =>
    name.startsWith('AWS::') ? 'us-east-1' : typeof variables[name] === 'object' ? `arn:aws:x:us-east-1:000000000000:${name}` : String(variables[name]));
  let widgets = [];
  try {
    widgets = JSON.parse(substituted).widgets;
  } catch (error) {
    check('dashboard body is JSON once substituted', false, error.message);
  }
  check('dashboard body is JSON once substituted, with widgets', Array.isArray(widgets) && widgets.length > 0);

  // The archive: private, encrypted, versioned, kept for archiveRetentionDays, kept with the stack gone.
  const b = bucket?.Properties ?? {};
  const block = b.PublicAccessBlockConfiguration ?? {};
  check('archive bucket private (four public access blocks, bucket owner enforced)',
    ['BlockPublicAcls', 'BlockPublicPolicy', 'IgnorePublicAcls', 'RestrictPublicBuckets'].every((k) => block[k] === true)
      && b.OwnershipControls?.Rules?.[0]?.ObjectOwnership === 'BucketOwnerEnforced', show(block));
  const sse = b.BucketEncryption?.ServerSideEncryptionConfiguration ?? [];
  check('archive bucket encrypted by default (SSE)',
    sse.length > 0 && sse.every((r) => ['AES256', 'aws:kms', 'aws:kms:dsse'].includes(r.ServerSideEncryptionByDefault?.SSEAlgorithm)), show(sse));
  check('archive bucket versioning Enabled', b.VersioningConfiguration?.Status === 'Enabled', show(b.VersioningConfiguration));
  const days = Number(archiveRetentionDays);
  const expiry = (b.LifecycleConfiguration?.Rules ?? []).filter((r) => r.Status === 'Enabled' && !r.Prefix && !r.Filter && !r.TagFilters);
  check(`archive records and their older versions expire after ${days} days (archiveRetentionDays), on every object`,
    expiry.some((r) => r.ExpirationInDays === days) && expiry.some((r) => r.NoncurrentVersionExpiration?.NoncurrentDays === days),
    show(b.LifecycleConfiguration));
  check('archive bucket retained (DeletionPolicy and UpdateReplacePolicy Retain)',
    bucket?.DeletionPolicy === 'Retain' && bucket?.UpdateReplacePolicy === 'Retain', show([bucket?.DeletionPolicy, bucket?.UpdateReplacePolicy]));
  const policies = ofType('AWS::S3::BucketPolicy').map(([, r]) => r.Properties);
  const policy = policies.find((r) => show(r.Bucket) === show({ Ref: bucketId }));
  const tls = (policy?.PolicyDocument?.Statement ?? []).find((s) => s.Effect === 'Deny' && show([].concat(s.Action)) === show(['s3:*'])
    && (s.Principal === '*' || s.Principal?.AWS === '*') && String(s.Condition?.Bool?.['aws:SecureTransport']) === 'false');
  const tlsResources = [].concat(tls?.Resource ?? []);
  check('archive bucket policy denies s3:* without TLS, on the bucket and its objects',
    tlsResources.some((r) => show(r) === show({ 'Fn::GetAtt': [bucketId, 'Arn'] })) && tlsResources.some((r) => isObjectsOf(r, bucketId)),
    show(policy));

  const entries = ofType('AWS::EKS::AccessEntry').map(([, e]) => e);
  check('access entry optional (Condition), STANDARD, group lab-reconciler',
    entries.length === 1 && !!entries[0].Condition && entries[0].Properties.Type === 'STANDARD'
      && show(entries[0].Properties.KubernetesGroups) === show(['lab-reconciler']), show(entries));

  // ${aws:accountId} would have needed STS at package time; ARNs come from ${AWS::AccountId}.
  // (ARNs given as params, such as the SNS topic, sit in Parameters and are not looked at.)
  const { Parameters, ...rest } = template;
  check('no account id outside the parameters (pseudo-parameters only)', !/:\d{12}:/.test(show(rest)));
  return `${file}: ${resources.length} resources`;
}

const NAMESPACES = ['jupyter-lab', 'ubuntu-lab', 'vscode-lab', 'postgresql-lab'];
/** The rules, as (apiGroup, resource, verb) triples. */
const RBAC = [
  ...['get', 'list'].flatMap((verb) => [
    ['apps', 'deployments', verb], ['', 'services', verb], ['', 'configmaps', verb],
    ['networking.k8s.io', 'ingresses', verb], ['discovery.k8s.io', 'endpointslices', verb],
  ]),
  ['', 'services', 'delete'], ['', 'configmaps', 'delete'], ['networking.k8s.io', 'ingresses', 'delete'],
].map((t) => t.join('|'));

function checkRbac(text) {
  // kubectl prints one JSON document per object, back to back.
  const objects = JSON.parse(`[${text.trim().replace(/\n}\s*\n{/g, '\n},\n{')}]`);
  check(`${NAMESPACES.length * 2} objects (a Role and a RoleBinding per lab namespace)`, objects.length === NAMESPACES.length * 2, `found ${objects.length}`);
  check('nothing cluster-wide', objects.every((o) => o.kind === 'Role' || o.kind === 'RoleBinding'), show(objects.map((o) => o.kind)));
  for (const namespace of NAMESPACES) {
    const role = objects.find((o) => o.kind === 'Role' && o.metadata?.namespace === namespace);
    const triples = (role?.rules ?? []).flatMap((r) =>
      r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => [g, res, v].join('|')))));
    const extras = (role?.rules ?? []).filter((r) => r.resourceNames || r.nonResourceURLs);
    check(`${namespace}: Role rules exactly get/list on the five kinds, delete on three`,
      role?.apiVersion === 'rbac.authorization.k8s.io/v1' && sameSet(triples, RBAC) && triples.length === new Set(triples).size && extras.length === 0,
      `extra ${show(triples.filter((t) => !RBAC.includes(t)))}, missing ${show(RBAC.filter((t) => !triples.includes(t)))}`);
    const binding = objects.find((o) => o.kind === 'RoleBinding' && o.metadata?.namespace === namespace);
    check(`${namespace}: RoleBinding of group lab-reconciler to that Role`,
      binding?.apiVersion === 'rbac.authorization.k8s.io/v1'
        && show(binding.subjects) === show([{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'lab-reconciler' }])
        && show(binding.roleRef) === show({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role?.metadata?.name }),
      show(binding));
  }
  return 'infra/rbac.yaml';
}

const [command, file, archiveRetentionDays] = process.argv.slice(2);
let subject;
if (command === 'template' && file) subject = checkTemplate(file, archiveRetentionDays);
else if (command === 'rbac') subject = checkRbac(readFileSync(0, 'utf8'));
else {
  console.error('usage: node infra/package-checks.mjs template FILE [ARCHIVE_RETENTION_DAYS] | rbac < kubectl-json');
  process.exit(2);
}
for (const line of passed) console.log(`  ok    ${line}`);
for (const line of failures) console.log(`  FAIL  ${line}`);
console.log(`${subject}: ${passed.length} checks passed, ${failures.length} failed`);
process.exit(failures.length === 0 ? 0 : 1);
