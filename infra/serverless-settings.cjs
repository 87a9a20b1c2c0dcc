'use strict';
/**
 * Settings of serverless.yml, resolved at package time by osls:
 *   custom.settings: ${file(./infra/serverless-settings.cjs)}
 *
 * Why a file and not plain `${param:...}` references:
 * - osls variables cannot do arithmetic, and the EventBridge schedule wants minutes while
 *   RECONCILIATION_INTERVAL is in seconds: `rate(N minutes)` is computed here from the one
 *   value, so the schedule, the variable and the alarm period can never disagree
 *   (and `rate(1 minute)` is singular: EventBridge rejects `rate(1 minutes)`).
 * - params come as numbers from the YAML and as strings from `--param`; Lambda environment
 *   values must be strings and CloudFormation numbers must be numbers: normalized here.
 * - a value that would make a broken stack (an interval that is not whole minutes, a missing
 *   cluster name, a session store URL without its token parameter) stops `osls package`
 *   with a message naming the param, instead of failing at deploy time or at the first run.
 *
 * It reads params only (offline: no AWS call, no credentials). The reconciler itself still
 * validates every variable at start (src/config.ts); the checks here are the ones the
 * template depends on, kept to the same bounds.
 */

/** CloudWatch Logs' accepted retention values (PutRetentionPolicy). */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 2192, 2557, 2922, 3288,
  3653,
];

class SettingError extends Error {
  constructor(param, message) {
    super(
      `param "${param}" ${message} (set it in serverless.yml's params.<stage> or with --param="${param}=...")`
    );
    this.name = 'SettingError';
  }
}

module.exports = async ({ resolveVariable }) => {
  const read = async (name) => {
    const value = await resolveVariable(`param:${name}, null`);
    return value == null ? '' : String(value).trim();
  };

  const boolean = async (name) => {
    const value = (await read(name)).toLowerCase();
    if (value !== 'true' && value !== 'false') {
      throw new SettingError(name, `must be true or false, got "${value}"`);
    }
    return value;
  };

  const choice = async (name, choices) => {
    const value = await read(name);
    if (!choices.includes(value)) throw new SettingError(name, `must be one of ${choices.join(', ')}, got "${value}"`);
    return value;
  };

  const integer = async (name, min, max) => {
    const value = await read(name);
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new SettingError(name, `must be a whole number from ${min} to ${max}, got "${value}"`);
    }
    return Number(value);
  };

  const token = async (name, { required = false, pattern, what } = {}) => {
    const value = await read(name);
    if (value === '') {
      if (required) throw new SettingError(name, 'is required');
      return '';
    }
    if (/\s/.test(value) || (pattern && !pattern.test(value))) {
      throw new SettingError(name, `must be ${what || 'a value without spaces'}, got "${value}"`);
    }
    return value;
  };

  const list = async (name, pattern, what, max) => {
    const value = await read(name);
    const items = value
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
    for (const item of items) {
      if (!pattern.test(item)) throw new SettingError(name, `has "${item}", which is not ${what}`);
    }
    if (items.length > max) throw new SettingError(name, `has more than ${max} entries`);
    return items.join(',');
  };

  // --- the schedule: one value, in seconds, a whole number of minutes ---
  const intervalSeconds = await integer('reconciliationInterval', 60, 86400);
  if (intervalSeconds % 60 !== 0) {
    throw new SettingError(
      'reconciliationInterval',
      `is in seconds and must be a multiple of 60 (EventBridge schedules whole minutes), got ${intervalSeconds}`
    );
  }
  const intervalMinutes = intervalSeconds / 60;
  const scheduleRate = `rate(${intervalMinutes} ${intervalMinutes === 1 ? 'minute' : 'minutes'})`;

  // --- the cluster ---
  const eksClusterName = await token('eksClusterName', {
    required: true,
    pattern: /^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$/,
    what: 'an EKS cluster name',
  });

  // --- the session store: the URL in the template, the token only as an SSM parameter name ---
  const upstashRedisRestUrl = await token('upstashRedisRestUrl', {
    pattern: /^https?:\/\/\S+$/,
    what: 'an http(s) URL',
  });
  const upstashRedisRestTokenParameter = await token('upstashRedisRestTokenParameter', {
    // A name (`/lab/upstash-token` or `upstash-token`) or a full ARN (a shared parameter).
    pattern: /^(arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter\/[A-Za-z0-9_.\-/]+|\/?[A-Za-z0-9_.\-/]+)$/,
    what: 'an SSM parameter name or ARN',
  });
  if ((upstashRedisRestUrl === '') !== (upstashRedisRestTokenParameter === '')) {
    throw new SettingError(
      upstashRedisRestUrl === '' ? 'upstashRedisRestUrl' : 'upstashRedisRestTokenParameter',
      'must be set together with the other one: the session store needs its URL and the name of the SSM SecureString holding its token (the token itself never goes in the template)'
    );
  }
  // IAM wants the ARN (an Fn::Sub template): `parameter/` then the name without its leading
  // slash. Without a session store the statement using it is left out by a Condition, but
  // the template still holds it: it stays a well-formed ARN so cfn-lint can check it.
  const upstashTokenParameterArn = upstashRedisRestTokenParameter.startsWith('arn:')
    ? upstashRedisRestTokenParameter
    : `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/${upstashRedisRestTokenParameter.replace(/^\//, '')}`;

  const logRetentionInDays = Number(await read('logRetentionInDays'));
  if (!LOG_RETENTION_DAYS.includes(logRetentionInDays)) {
    throw new SettingError('logRetentionInDays', `must be one of ${LOG_RETENTION_DAYS.join(', ')}`);
  }

  // --- optional VPC (private cluster endpoint): both lists or neither ---
  const vpcSubnetIds = await list('vpcSubnetIds', /^subnet-[0-9a-f]{8,17}$/, 'a subnet id', 16);
  const vpcSecurityGroupIds = await list('vpcSecurityGroupIds', /^sg-[0-9a-f]{8,17}$/, 'a security group id', 5);
  if ((vpcSubnetIds === '') !== (vpcSecurityGroupIds === '')) {
    throw new SettingError(
      vpcSubnetIds === '' ? 'vpcSubnetIds' : 'vpcSecurityGroupIds',
      'must be set together with the other one: a function in a VPC needs both subnets and security groups'
    );
  }

  const kmsKeyArn = await token('kmsKeyArn', {
    pattern: /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/,
    what: 'a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID, not an alias)',
  });
  if (kmsKeyArn !== '' && upstashRedisRestTokenParameter === '') {
    throw new SettingError('kmsKeyArn', 'is the key of the token parameter: it needs upstashRedisRestTokenParameter');
  }

  return {
    // Environment values (strings), in the contract's bounds (src/config.ts).
    reconciliationEnabled: await boolean('reconciliationEnabled'),
    reconciliationNamespaces: await list(
      'reconciliationNamespaces',
      /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/,
      'a Kubernetes namespace name',
      1000
    ),
    reconciliationDryRun: await boolean('reconciliationDryRun'),
    reconciliationMinAgeSeconds: String(await integer('reconciliationMinAgeSeconds', 0, 2592000)),
    reconciliationConfirmSeconds: String(await integer('reconciliationConfirmSeconds', 0, 2592000)),
    reconciliationMaxDeletions: String(await integer('reconciliationMaxDeletions', 1, 100000)),
    reconciliationConcurrency: String(await integer('reconciliationConcurrency', 1, 64)),
    reconciliationInterval: String(intervalSeconds),
    reconciliationStaleKeys: await choice('reconciliationStaleKeys', ['report', 'delete', 'off']),
    sessionKeyPrefix: await token('sessionKeyPrefix', { required: true }),
    eksClusterName,
    upstashRedisRestUrl,
    upstashRedisRestTokenParameter,
    metricsNamespace: await token('metricsNamespace', {
      required: true,
      pattern: /^[A-Za-z0-9.\-_/#:]{1,255}$/,
      what: 'a CloudWatch namespace',
    }),

    // Derived and infrastructure values.
    intervalSeconds,
    scheduleRate,
    upstashTokenParameterArn,
    timeout: await integer('timeout', 30, 900),
    logRetentionInDays,
    archiveRetentionDays: await integer('archiveRetentionDays', 1, 3650),
    alarmTopicArn: await token('alarmTopicArn', {
      pattern: /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$/,
      what: 'an SNS topic ARN',
    }),
    kmsKeyArn,
    vpcSubnetIds,
    vpcSecurityGroupIds,
    createAccessEntry: await boolean('createAccessEntry'),
  };
};
