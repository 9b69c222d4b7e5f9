/**
 * serverless.yml, packaged the way an operator without an AWS account packages it (no
 * credentials, a throwaway HOME, `npx osls package`), checked through the CloudFormation
 * template and the zips it produces: runtime, events, async failure handling, the promote API's
 * routes and their IAM authorization, the alias lock table, least-privilege IAM per function, and
 * the bundle sizes.
 *
 * Two packagings: the defaults (the stack creates the bucket and the secret) and an existing
 * bucket, an existing secret, another prefix and the promote API's protection, given as
 * parameters.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAgentPrompt } from '../../lib/agent/contract';
import { parsePredictEnv } from '../../lib/config/predict-env';
import { parsePromoteEnv } from '../../lib/config/promote-env';
import { parseRegisterEnv } from '../../lib/config/register-env';
import { parseVerifyEnv } from '../../lib/config/verify-env';
import {
  COLD_START_DIMENSIONS,
  COLD_START_METRIC,
  DEFAULT_METRICS_NAMESPACE,
  METRIC_DIMENSIONS,
  METRIC_NAMES,
  PREDICT_METRICS,
  PROMOTE_METRICS,
  REGISTER_METRICS,
  ROLLOUT_METRICS,
  VERIFY_METRICS,
} from '../../lib/observability/metric-names';
import { promptSnapshotSchema } from '../../lib/prompt-loader/snapshot';
import { loadPromptFiles } from '../../lib/prompts/directory';
import { registrySecretSchema } from '../../lib/secrets/registry-secret';
import {
  type CfnResource,
  type CfnTemplate,
  type CfnValue,
  fileSize,
  type PackagedService,
  packageService,
  readZip,
  resourcesOfType,
} from '../support/sls-package';

const STAGE = 'ci';
const REGION = 'eu-west-1';
const MIB = 1024 * 1024;
const EXISTING_SECRET_ARN =
  'arn:aws:secretsmanager:eu-west-1:123456789012:secret:promptops/ci/registry-AbCdEf';
const EXISTING_BUCKET = 'acme-existing-prompts';
const RELEASE_MANAGERS = 'arn:aws:sts::123456789012:assumed-role/release-managers/*';
const PROMOTE_ROUTES = [
  'DELETE /prompts/{name}/experiment',
  'GET /prompts',
  'GET /prompts/{name}',
  'GET /prompts/{name}/experiment',
  'POST /prompts/{name}/experiment',
  'POST /prompts/{name}/promote',
  'POST /prompts/{name}/rollback',
];

const workDir = join(process.cwd(), '.cache', `sls-template-test-${randomBytes(4).toString('hex')}`);
let created: PackagedService;
let existing: PackagedService;

beforeAll(async () => {
  // One after the other: serverless-esbuild stages each zip in the service's own .serverless/
  // folder, so two packagings of one checkout at once collide there.
  created = await packageService({ stage: STAGE, region: REGION, outDir: join(workDir, 'default') });
  existing = await packageService({
    stage: STAGE,
    region: REGION,
    outDir: join(workDir, 'existing'),
    params: {
      existingPromptsBucket: 'true',
      promptsBucket: EXISTING_BUCKET,
      registrySecretArn: EXISTING_SECRET_ARN,
      promptsPrefix: 'team/prompts/',
      protectedAliases: 'production,canary',
      promoterPrincipals: RELEASE_MANAGERS,
      predictAlias: 'staging',
      predictPromptPins: 'orchestrator=3,cost_worker@canary',
      predictReservedConcurrency: '5',
      predictThrottleRate: '2',
      predictThrottleBurst: '4',
      mlflowExperimentName: 'health-monitor',
      predictTraceContent: 'metadata',
      predictDataSource: 'system-tables',
      databricksWarehouseId: '4b9c1e2f0a3d5e67',
    },
  });
}, 240_000);

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Reading the template.

type CfnObject = { [key: string]: CfnValue };

function isObject(value: CfnValue | undefined): value is CfnObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asArray(value: CfnValue | undefined): CfnValue[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function resource(template: CfnTemplate, logicalId: string): CfnResource {
  const found = template.Resources[logicalId];
  if (found === undefined) throw new Error(`no resource ${logicalId} in the template`);
  return found;
}

function prop(res: CfnResource, name: string): CfnValue | undefined {
  return res.Properties?.[name];
}

function objectProp(value: CfnValue | undefined, name: string): CfnValue | undefined {
  return isObject(value) ? value[name] : undefined;
}

/** The template's conditions, evaluated: each is `Fn::Equals` of two strings known at packaging, or its `Fn::Not`. */
function conditions(template: CfnTemplate): Map<string, boolean> {
  const result = new Map<string, boolean>();
  for (const [name, expression] of Object.entries(template.Conditions ?? {})) {
    const negated = objectProp(expression, 'Fn::Not');
    const inner = Array.isArray(negated) && negated.length === 1 ? negated[0] : expression;
    const equals = objectProp(inner, 'Fn::Equals');
    if (!Array.isArray(equals) || equals.length !== 2 || !equals.every((v) => typeof v === 'string'))
      throw new Error(`condition ${name} is not Fn::Equals of two literals: ${JSON.stringify(expression)}`);
    result.set(name, (equals[0] === equals[1]) !== (negated !== undefined));
  }
  return result;
}

/** `value` with every `Fn::If` replaced by the branch its condition selects. */
function resolveIfs(value: CfnValue | undefined, conds: Map<string, boolean>): CfnValue | undefined {
  if (Array.isArray(value)) return value.map((v) => resolveIfs(v, conds) ?? null);
  if (!isObject(value)) return value;
  const branch = value['Fn::If'];
  if (Array.isArray(branch) && Object.keys(value).length === 1) {
    const [name, whenTrue, whenFalse] = branch;
    if (typeof name !== 'string' || !conds.has(name)) throw new Error(`unknown condition ${String(name)}`);
    return resolveIfs(conds.get(name) ? whenTrue : whenFalse, conds);
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveIfs(v, conds) ?? null]));
}

/** A resource exists in the deployed stack when it has no condition or its condition holds. */
function isDeployed(res: CfnResource, conds: Map<string, boolean>): boolean {
  return res.Condition === undefined || conds.get(res.Condition) === true;
}

interface Statement {
  readonly role: string;
  readonly effect: CfnValue | undefined;
  readonly actions: string[];
  readonly resources: CfnValue[];
  readonly raw: CfnObject;
}

/** Every statement of every inline policy of every role (and standalone policy) in the template. */
function iamStatements(template: CfnTemplate): Statement[] {
  const statements: Statement[] = [];
  const add = (role: string, document: CfnValue | undefined) => {
    for (const raw of asArray(objectProp(document, 'Statement'))) {
      if (!isObject(raw)) throw new Error(`${role}: a statement is not an object`);
      statements.push({
        role,
        effect: raw.Effect,
        actions: asArray(raw.Action).map((a) => {
          if (typeof a !== 'string') throw new Error(`${role}: non-string action ${JSON.stringify(a)}`);
          return a;
        }),
        resources: asArray(raw.Resource),
        raw,
      });
    }
  };
  for (const [id, role] of resourcesOfType(template, 'AWS::IAM::Role'))
    for (const policy of asArray(prop(role, 'Policies'))) add(id, objectProp(policy, 'PolicyDocument'));
  for (const type of ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy'])
    for (const [id, policy] of resourcesOfType(template, type)) add(id, prop(policy, 'PolicyDocument'));
  return statements;
}

function environment(template: CfnTemplate, functionId: string): CfnObject {
  const variables = objectProp(prop(resource(template, functionId), 'Environment'), 'Variables');
  if (!isObject(variables)) throw new Error(`${functionId} has no environment`);
  return variables;
}

/** The one item of `items`; throws (failing the test) when there are none or several. */
function only<T>(items: readonly T[], what: string): T {
  const [first, ...rest] = items;
  if (first === undefined || rest.length > 0)
    throw new Error(`expected exactly one ${what}, found ${items.length}`);
  return first;
}

const getAtt = (logicalId: string, attribute: string) => ({ 'Fn::GetAtt': [logicalId, attribute] });
/** What every function's environment holds (lib/config/env.ts), beside its own variables. */
const COMMON_ENV = [
  'PROMPTOPS_SECRET_ID',
  'PROMPTOPS_SECRET_TTL_MS',
  'PROMPTOPS_HTTP_TIMEOUT_MS',
  'PROMPT_CATALOG',
  'PROMPT_SCHEMA',
  'PROMPT_NAME_PREFIX',
  'POWERTOOLS_SERVICE_NAME',
  'POWERTOOLS_METRICS_NAMESPACE',
  'POWERTOOLS_LOG_LEVEL',
  'POWERTOOLS_LOGGER_SAMPLE_RATE',
];
const XRAY_WRITES = ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'];
const XRAY_GRANTS = [...XRAY_WRITES].sort().map((action) => ({ action, resources: ['*'] }));

type BundleHandler = (event: unknown, context: unknown) => Promise<{ statusCode: number; body: string }>;

/** A function's bundle as deployed (its zip, extracted), imported with `env` as its environment. */
async function importBundle(
  pkg: PackagedService,
  name: string,
  env: Record<string, string>,
): Promise<{ handler: BundleHandler; bundledSnapshot?: unknown }> {
  const zip = pkg.zips.get(`${name}.zip`);
  if (zip === undefined) throw new Error(`no ${name}.zip`);
  const dir = join(workDir, `${name}-bundle-${randomBytes(3).toString('hex')}`);
  mkdirSync(dir, { recursive: true });
  for (const entry of readZip(zip)) {
    // The bundle and its source map (read when a stack trace is printed).
    writeFileSync(join(dir, entry.name.replace(`functions/${name}/`, '')), entry.read());
  }
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    return (await import(pathToFileURL(join(dir, 'handler.mjs')).href)) as { handler: BundleHandler };
  } finally {
    process.env = saved;
  }
}

// ---------------------------------------------------------------------------------------------

/** What `role` may do, on what, one grant per action, sorted by action; conditions resolved. */
function grantsOf(template: CfnTemplate, role: string) {
  const conds = conditions(template);
  return iamStatements(template)
    .filter((st) => st.role === role)
    .flatMap((st) =>
      st.actions.map((action) => ({ action, resources: st.resources.map((r) => resolveIfs(r, conds)) })),
    )
    .sort((a, b) => a.action.localeCompare(b.action));
}

/** A function's grants on its own log group, as `grantsOf` lists them. */
function logGrants(logGroup: string) {
  return ['logs:CreateLogStream', 'logs:PutLogEvents'].map((action) => ({
    action,
    resources: [getAtt(logGroup, 'Arn')],
  }));
}

/** The functions whose role is `role`. */
function functionsWithRole(template: CfnTemplate, role: string): string[] {
  return resourcesOfType(template, 'AWS::Lambda::Function')
    .filter(([, fn]) => JSON.stringify(prop(fn, 'Role')) === JSON.stringify(getAtt(role, 'Arn')))
    .map(([id]) => id);
}

type AlarmMetric = { Namespace?: CfnValue; MetricName?: CfnValue; Dimensions?: CfnValue };

/** Every metric an alarm watches: its own, or each of its metric math's metrics. */
function alarmMetrics(template: CfnTemplate): [string, AlarmMetric][] {
  return resourcesOfType(template, 'AWS::CloudWatch::Alarm').flatMap(([id, alarm]) => {
    const math = prop(alarm, 'Metrics');
    if (!Array.isArray(math)) return [[id, alarm.Properties as AlarmMetric] as [string, AlarmMetric]];
    return math.flatMap((m) => {
      const metric = objectProp(objectProp(m, 'MetricStat'), 'Metric');
      return isObject(metric) ? [[id, metric as AlarmMetric] as [string, AlarmMetric]] : [];
    });
  });
}

/** What is wrong with the stack's alarms on our namespace: a metric no function emits, other dimensions. */
function alarmProblems(template: CfnTemplate): string[] {
  const problems: string[] = [];
  for (const [id, metric] of alarmMetrics(template)) {
    if (metric.Namespace !== DEFAULT_METRICS_NAMESPACE) continue;
    const name = String(metric.MetricName);
    if (!METRIC_NAMES.has(name)) {
      problems.push(`${id} watches ${name}, which no function emits`);
      continue;
    }
    const dimensions = ((metric.Dimensions as { Name: string }[] | undefined) ?? []).map((d) => d.Name);
    const expected: readonly string[] =
      name === COLD_START_METRIC ? COLD_START_DIMENSIONS : METRIC_DIMENSIONS;
    if (dimensions.sort().join() !== [...expected].sort().join()) {
      problems.push(`${id} has dimensions ${dimensions.join()}, not ${[...expected].sort().join()}`);
    }
  }
  return problems;
}

describe('serverless.yml, packaged with osls without AWS credentials', () => {
  it('packages every function for nodejs22.x on arm64', () => {
    for (const pkg of [created, existing]) {
      const functions = resourcesOfType(pkg.template, 'AWS::Lambda::Function');
      // (With an existing bucket, the framework adds a function of its own to set the notification.)
      const ours = functions.map(([id]) => id).filter((id) => !id.startsWith('CustomDash'));
      expect(ours.sort()).toEqual([
        'PredictLambdaFunction',
        'PromoteLambdaFunction',
        'RegisterLambdaFunction',
        'RolloutLambdaFunction',
        'VerifyLambdaFunction',
      ]);
      for (const [, fn] of functions) {
        expect(prop(fn, 'Runtime')).toBe('nodejs22.x');
        expect(prop(fn, 'Architectures')).toEqual(['arm64']);
      }
    }
  });

  it('configures the register function: handler, timeout, one instance at a time, its own role', () => {
    const fn = resource(created.template, 'RegisterLambdaFunction');
    expect(prop(fn, 'Handler')).toBe('functions/register/handler.handler');
    expect(prop(fn, 'FunctionName')).toBe(`promptops-${STAGE}-register`);
    expect(prop(fn, 'Timeout')).toBe(120);
    expect(prop(fn, 'ReservedConcurrentExecutions')).toBe(1);
    expect(prop(fn, 'Role')).toEqual(getAtt('RegisterRole', 'Arn'));
    // No function falls back to the framework's shared role.
    expect(created.template.Resources.IamRoleLambdaExecution).toBeUndefined();
    expect(existing.template.Resources.IamRoleLambdaExecution).toBeUndefined();
  });

  it('gives the register function the environment its configuration schema accepts', () => {
    const env = environment(created.template, 'RegisterLambdaFunction');
    expect(Object.keys(env).sort()).toEqual(
      [
        ...COMMON_ENV,
        'MLFLOW_EXPERIMENT_ID',
        'MLFLOW_EXPERIMENT_NAME',
        'PROMPTS_BUCKET',
        'PROMPTS_PREFIX',
        'PROMOTE_LOCK_TABLE',
      ].sort(),
    );
    // An upload's alias moves take the promote API's lock.
    expect(env.PROMOTE_LOCK_TABLE).toEqual(
      environment(created.template, 'PromoteLambdaFunction').PROMOTE_LOCK_TABLE,
    );
    expect(env.PROMPTS_BUCKET).toBe(`promptops-prompts-${STAGE}-${REGION}`);
    expect(env.PROMPTS_PREFIX).toBe('prompts/');
    // Source maps are shipped but not enabled at runtime: ~17 ms of cold start for stack traces
    // the logs do not carry.
    expect(env.NODE_OPTIONS).toBeUndefined();
    expect(resolveIfs(env.PROMPTOPS_SECRET_ID, conditions(created.template))).toEqual({
      Ref: 'RegistrySecret',
    });
    expect(
      resolveIfs(
        environment(existing.template, 'RegisterLambdaFunction').PROMPTOPS_SECRET_ID,
        conditions(existing.template),
      ),
    ).toBe(EXISTING_SECRET_ARN);

    // What the function parses at cold start, with the secret's Ref standing in for its ARN.
    const literal: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(env))
      literal[key] = typeof value === 'string' ? value : EXISTING_SECRET_ARN;
    expect(parseRegisterEnv(literal)).toMatchObject({
      PROMPTS_BUCKET: `promptops-prompts-${STAGE}-${REGION}`,
      PROMPTS_PREFIX: 'prompts/',
      PROMPTOPS_SECRET_ID: EXISTING_SECRET_ARN,
      PROMPTOPS_SECRET_TTL_MS: 300_000,
      PROMPTOPS_HTTP_TIMEOUT_MS: 10_000,
      PROMPT_CATALOG: undefined,
      PROMPT_SCHEMA: undefined,
      PROMPT_NAME_PREFIX: undefined,
      POWERTOOLS_SERVICE_NAME: 'promptops',
      POWERTOOLS_METRICS_NAMESPACE: DEFAULT_METRICS_NAMESPACE,
      POWERTOOLS_LOG_LEVEL: 'INFO',
      POWERTOOLS_LOGGER_SAMPLE_RATE: 0,
    });
  });

  it('creates the prompts bucket, private, notifying register of .md uploads under the prefix', () => {
    const buckets = resourcesOfType(created.template, 'AWS::S3::Bucket').filter(
      ([id]) => id !== 'ServerlessDeploymentBucket',
    );
    const [, bucket] = only(buckets, 'bucket');
    expect(prop(bucket, 'BucketName')).toBe(`promptops-prompts-${STAGE}-${REGION}`);
    expect(objectProp(prop(bucket, 'NotificationConfiguration'), 'LambdaConfigurations')).toEqual([
      {
        Event: 's3:ObjectCreated:*',
        Function: getAtt('RegisterLambdaFunction', 'Arn'),
        Filter: {
          S3Key: {
            Rules: [
              { Name: 'prefix', Value: 'prompts/' },
              { Name: 'suffix', Value: '.md' },
            ],
          },
        },
      },
    ]);
    expect(prop(bucket, 'PublicAccessBlockConfiguration')).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    const permissions = resourcesOfType(created.template, 'AWS::Lambda::Permission').filter(
      ([, p]) =>
        JSON.stringify(prop(p, 'FunctionName')) === JSON.stringify(getAtt('RegisterLambdaFunction', 'Arn')),
    );
    const [, permission] = only(permissions, 'permission');
    expect(prop(permission, 'Principal')).toBe('s3.amazonaws.com');
    expect(prop(permission, 'SourceAccount')).toEqual({ Ref: 'AWS::AccountId' });
  });

  it('uses an existing bucket when told to: no bucket created, the notification set on it', () => {
    const buckets = resourcesOfType(existing.template, 'AWS::S3::Bucket').map(([id]) => id);
    expect(buckets).toEqual(['ServerlessDeploymentBucket']);
    const notifications = resourcesOfType(existing.template, 'Custom::S3');
    const [, notification] = only(notifications, 'notification');
    expect(prop(notification, 'BucketName')).toBe(EXISTING_BUCKET);
    expect(prop(notification, 'FunctionName')).toBe(`promptops-${STAGE}-register`);
    expect(prop(notification, 'BucketConfigs')).toEqual([
      { Event: 's3:ObjectCreated:*', Rules: [{ Prefix: 'team/prompts/' }, { Suffix: '.md' }] },
    ]);
    const env = environment(existing.template, 'RegisterLambdaFunction');
    expect(env.PROMPTS_BUCKET).toBe(EXISTING_BUCKET);
    expect(env.PROMPTS_PREFIX).toBe('team/prompts/');
  });

  it('retries a failed async invocation twice, then sends it to the failure queue', () => {
    const configs = resourcesOfType(created.template, 'AWS::Lambda::EventInvokeConfig').filter(
      ([, c]) =>
        JSON.stringify(prop(c, 'FunctionName')) === JSON.stringify({ Ref: 'RegisterLambdaFunction' }),
    );
    const [, config] = only(configs, 'config');
    expect(config.Properties).toEqual({
      FunctionName: { Ref: 'RegisterLambdaFunction' },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 3600,
      DestinationConfig: { OnFailure: { Destination: getAtt('RegisterFailureQueue', 'Arn') } },
    });
    const queue = resource(created.template, 'RegisterFailureQueue');
    expect(queue.Type).toBe('AWS::SQS::Queue');
    expect(prop(queue, 'MessageRetentionPeriod')).toBe(1_209_600);
  });

  it('creates the registry secret by default (kept on delete), and not when an ARN is given', () => {
    const secret = resource(created.template, 'RegistrySecret');
    expect(secret.Type).toBe('AWS::SecretsManager::Secret');
    expect(prop(secret, 'Name')).toBe(`promptops/${STAGE}/registry`);
    expect(secret.DeletionPolicy).toBe('Retain');
    expect(isDeployed(secret, conditions(created.template))).toBe(true);
    // The placeholder is valid JSON that the functions reject until it is replaced.
    const placeholder: unknown = JSON.parse(String(prop(secret, 'SecretString')));
    expect(placeholder).toEqual({ registry: { type: 'REPLACE_ME' } });
    expect(registrySecretSchema.safeParse(placeholder).success).toBe(false);

    expect(isDeployed(resource(existing.template, 'RegistrySecret'), conditions(existing.template))).toBe(
      false,
    );
  });

  describe('promote API', () => {
    it('configures the promote function: handler, timeout, its own role, no reserved concurrency', () => {
      const fn = resource(created.template, 'PromoteLambdaFunction');
      expect(prop(fn, 'Handler')).toBe('functions/promote/handler.handler');
      expect(prop(fn, 'FunctionName')).toBe(`promptops-${STAGE}-promote`);
      expect(prop(fn, 'Timeout')).toBe(29);
      // Moves are serialised by the lock table, per prompt and alias, not by one instance at a time.
      expect(prop(fn, 'ReservedConcurrentExecutions')).toBeUndefined();
      expect(prop(fn, 'Role')).toEqual(getAtt('PromoteRole', 'Arn'));
    });

    it('ships a bundle that refuses a request carrying only the offline identity header (401)', async () => {
      // The bundle as deployed, imported with its environment: what works offline (the header
      // serverless-offline turns into an authorizer context) must not name a caller in AWS.
      const bundle = await importBundle(created, 'promote', {
        PROMPTOPS_SECRET_ID: 'promptops/ci/registry',
        PROMOTE_LOCK_TABLE: 'promptops-ci-alias-locks',
        PROTECTED_ALIAS_PRINCIPALS: 'arn:*',
        AWS_REGION: 'eu-west-1',
      });
      const header = {
        'sls-offline-authorizer-override': JSON.stringify({
          iam: { userArn: 'arn:aws:iam::123456789012:root' },
        }),
      };
      for (const requestContext of [
        { requestId: 'r1' },
        { requestId: 'r2', authorizer: { jwt: { claims: {}, scopes: [] }, lambda: {} } },
      ]) {
        const answer = await bundle.handler(
          {
            version: '2.0',
            routeKey: 'POST /prompts/{name}/promote',
            pathParameters: { name: 'orchestrator' },
            headers: header,
            body: '{}',
            requestContext,
          },
          { awsRequestId: 'test' },
        );
        expect(answer.statusCode).toBe(401);
        expect(JSON.parse(answer.body)).toMatchObject({ code: 'UNAUTHORIZED' });
      }
    });

    it('routes the four paths to it, every route of the API behind IAM authorization', () => {
      for (const pkg of [created, existing]) {
        const all = resourcesOfType(pkg.template, 'AWS::ApiGatewayV2::Route');
        expect(all.map(([, route]) => prop(route, 'RouteKey')).sort()).toEqual(
          [...PROMOTE_ROUTES, 'POST /predict', 'POST /feedback'].sort(),
        );
        for (const [id, route] of all) {
          expect(prop(route, 'AuthorizationType'), id).toBe('AWS_IAM');
          expect(prop(route, 'AuthorizerId'), id).toBeUndefined();
        }
        const routes = all.filter(
          ([, route]) => !['POST /predict', 'POST /feedback'].includes(String(prop(route, 'RouteKey'))),
        );
        const integration = only(
          resourcesOfType(pkg.template, 'AWS::ApiGatewayV2::Integration').filter(
            ([, i]) =>
              JSON.stringify(prop(i, 'IntegrationUri')) ===
              JSON.stringify(getAtt('PromoteLambdaFunction', 'Arn')),
          ),
          'integration',
        );
        expect(integration[1].Properties).toMatchObject({
          IntegrationType: 'AWS_PROXY',
          IntegrationUri: getAtt('PromoteLambdaFunction', 'Arn'),
          PayloadFormatVersion: '2.0',
        });
        for (const [id, route] of routes)
          expect(prop(route, 'Target'), id).toEqual({
            'Fn::Join': ['/', ['integrations', { Ref: integration[0] }]],
          });
        // Only API Gateway may invoke it, and only through this API.
        const permissions = resourcesOfType(pkg.template, 'AWS::Lambda::Permission').filter(
          ([, p]) =>
            JSON.stringify(prop(p, 'FunctionName')) ===
            JSON.stringify(getAtt('PromoteLambdaFunction', 'Arn')),
        );
        const [, permission] = only(permissions, 'promote permission');
        expect(prop(permission, 'Principal')).toBe('apigateway.amazonaws.com');
        expect(JSON.stringify(prop(permission, 'SourceArn'))).toContain('{"Ref":"HttpApi"}');
      }
    });

    it('creates the alias lock table: lockId key, TTL on expiresAtEpoch, on demand, encrypted', () => {
      const table = resource(created.template, 'PromoteLockTable');
      expect(table.Type).toBe('AWS::DynamoDB::Table');
      expect(table.Properties).toEqual({
        TableName: `promptops-${STAGE}-alias-locks`,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'lockId', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'lockId', KeyType: 'HASH' }],
        TimeToLiveSpecification: { AttributeName: 'expiresAtEpoch', Enabled: true },
        SSESpecification: { SSEEnabled: true },
      });
      expect(table.Condition).toBeUndefined();
    });

    it('gives the promote function the lock table, the protection settings and the common environment', () => {
      const env = environment(created.template, 'PromoteLambdaFunction');
      expect(Object.keys(env).sort()).toEqual(
        [...COMMON_ENV, 'PROMOTE_LOCK_TABLE', 'PROTECTED_ALIASES', 'PROTECTED_ALIAS_PRINCIPALS'].sort(),
      );
      expect(env.PROMOTE_LOCK_TABLE).toEqual({ Ref: 'PromoteLockTable' });
      expect(env.PROTECTED_ALIASES).toBe('production');
      // Nobody may move production until the operator names who may.
      expect(env.PROTECTED_ALIAS_PRINCIPALS).toBe('');
      expect(resolveIfs(env.PROMPTOPS_SECRET_ID, conditions(created.template))).toEqual({
        Ref: 'RegistrySecret',
      });

      const given = environment(existing.template, 'PromoteLambdaFunction');
      expect(given.PROTECTED_ALIASES).toBe('production,canary');
      expect(given.PROTECTED_ALIAS_PRINCIPALS).toBe(RELEASE_MANAGERS);
      expect(resolveIfs(given.PROMPTOPS_SECRET_ID, conditions(existing.template))).toBe(EXISTING_SECRET_ARN);

      // What the function parses at cold start, with the Refs standing in for the names.
      const literal = (variables: CfnObject): NodeJS.ProcessEnv =>
        Object.fromEntries(
          Object.entries(variables).map(([key, value]) => [
            key,
            typeof value === 'string' ? value : key === 'PROMOTE_LOCK_TABLE' ? 'locks' : EXISTING_SECRET_ARN,
          ]),
        );
      expect(parsePromoteEnv(literal(env))).toMatchObject({
        PROMOTE_LOCK_TABLE: 'locks',
        PROTECTED_ALIASES: ['production'],
        PROTECTED_ALIAS_PRINCIPALS: [],
        PROMPTOPS_SECRET_ID: EXISTING_SECRET_ARN,
      });
      expect(parsePromoteEnv(literal(given))).toMatchObject({
        PROTECTED_ALIASES: ['production', 'canary'],
        PROTECTED_ALIAS_PRINCIPALS: [RELEASE_MANAGERS],
      });
    });
  });

  describe('predict API', () => {
    it('configures the predict function: handler, 29 s, memory, reserved concurrency from its parameter, its own role', () => {
      const fn = resource(created.template, 'PredictLambdaFunction');
      expect(prop(fn, 'Handler')).toBe('functions/predict/handler.handler');
      expect(prop(fn, 'FunctionName')).toBe(`promptops-${STAGE}-predict`);
      // Under the HTTP API's 30 s integration limit.
      expect(prop(fn, 'Timeout')).toBe(29);
      expect(prop(fn, 'MemorySize')).toBe(1024);
      expect(prop(fn, 'ReservedConcurrentExecutions')).toBe(20);
      expect(prop(fn, 'Role')).toEqual(getAtt('PredictRole', 'Arn'));
      expect(
        Number(prop(resource(existing.template, 'PredictLambdaFunction'), 'ReservedConcurrentExecutions')),
      ).toBe(5);
    });

    it('routes POST /predict to it behind IAM authorization, throttled by its parameters', () => {
      for (const [pkg, rate, burst] of [
        [created, 10, 20],
        [existing, 2, 4],
      ] as const) {
        const [routeId, route] = only(
          resourcesOfType(pkg.template, 'AWS::ApiGatewayV2::Route').filter(
            ([, r]) => prop(r, 'RouteKey') === 'POST /predict',
          ),
          'predict route',
        );
        // Feedback goes to the same function, behind the same authorization.
        const [feedbackId, feedbackRoute] = only(
          resourcesOfType(pkg.template, 'AWS::ApiGatewayV2::Route').filter(
            ([, r]) => prop(r, 'RouteKey') === 'POST /feedback',
          ),
          'feedback route',
        );
        expect(prop(feedbackRoute, 'AuthorizationType'), feedbackId).toBe('AWS_IAM');
        expect(prop(route, 'AuthorizationType'), routeId).toBe('AWS_IAM');
        const [integrationId, integration] = only(
          resourcesOfType(pkg.template, 'AWS::ApiGatewayV2::Integration').filter(
            ([, i]) =>
              JSON.stringify(prop(i, 'IntegrationUri')) ===
              JSON.stringify(getAtt('PredictLambdaFunction', 'Arn')),
          ),
          'predict integration',
        );
        expect(prop(integration, 'PayloadFormatVersion')).toBe('2.0');
        expect(prop(route, 'Target')).toEqual({
          'Fn::Join': ['/', ['integrations', { Ref: integrationId }]],
        });
        expect(prop(feedbackRoute, 'Target')).toEqual(prop(route, 'Target'));
        const settings = objectProp(
          prop(resource(pkg.template, 'HttpApiStage'), 'RouteSettings'),
          'POST /predict',
        );
        expect(Number(objectProp(settings, 'ThrottlingRateLimit'))).toBe(rate);
        expect(Number(objectProp(settings, 'ThrottlingBurstLimit'))).toBe(burst);
        const [, permission] = only(
          resourcesOfType(pkg.template, 'AWS::Lambda::Permission').filter(
            ([, p]) =>
              JSON.stringify(prop(p, 'FunctionName')) ===
              JSON.stringify(getAtt('PredictLambdaFunction', 'Arn')),
          ),
          'predict permission',
        );
        expect(prop(permission, 'Principal')).toBe('apigateway.amazonaws.com');
      }
    });

    it('gives the predict function the environment its configuration schema accepts, stage settings included', () => {
      const env = environment(created.template, 'PredictLambdaFunction');
      expect(Object.keys(env).sort()).toEqual(
        [
          ...COMMON_ENV,
          'MLFLOW_EXPERIMENT_ID',
          'MLFLOW_EXPERIMENT_NAME',
          'DATABRICKS_WAREHOUSE_ID',
          'PREDICT_ALIAS',
          'PREDICT_DATA_MAX_ROWS',
          'PREDICT_DATA_SOURCE',
          'PREDICT_DATA_TIMEOUT_MS',
          'PREDICT_LOAD_BUDGET_MS',
          'PREDICT_MAX_TOKENS',
          'PREDICT_PROMPT_PINS',
          'PREDICT_PROMPT_TTL_MS',
          'PREDICT_TRACE_BUDGET_MS',
          'PREDICT_TRACE_CONTENT',
          'PREDICT_TRACE_MAX_CHARS',
        ].sort(),
      );
      const literal = (variables: CfnObject): NodeJS.ProcessEnv =>
        Object.fromEntries(
          Object.entries(variables).map(([key, value]) => [
            key,
            typeof value === 'string' ? value : EXISTING_SECRET_ARN,
          ]),
        );
      expect(parsePredictEnv(literal(env))).toMatchObject({
        PREDICT_ALIAS: 'production',
        PREDICT_PROMPT_TTL_MS: 60_000,
        PREDICT_LOAD_BUDGET_MS: 3_000,
        PREDICT_TRACE_BUDGET_MS: 5_000,
        PREDICT_MAX_TOKENS: 1_024,
        PREDICT_TRACE_CONTENT: 'full',
        MLFLOW_EXPERIMENT_ID: undefined,
        MLFLOW_EXPERIMENT_NAME: undefined,
        PREDICT_DATA_SOURCE: 'request',
        DATABRICKS_WAREHOUSE_ID: undefined,
      });
      const given = parsePredictEnv(literal(environment(existing.template, 'PredictLambdaFunction')));
      expect(given).toMatchObject({
        PREDICT_ALIAS: 'staging',
        PREDICT_TRACE_CONTENT: 'metadata',
        MLFLOW_EXPERIMENT_NAME: 'health-monitor',
        PREDICT_DATA_SOURCE: 'system-tables',
        DATABRICKS_WAREHOUSE_ID: '4b9c1e2f0a3d5e67',
      });
      expect([...given.PREDICT_PROMPT_PINS]).toEqual([
        ['orchestrator', { version: 3 }],
        ['cost_worker', { alias: 'canary' }],
      ]);
    });

    it('bundles the prompt files as the fallback when packaged without a registry: all eight, no placeholder', async () => {
      const { bundledSnapshot } = await importBundle(created, 'predict', {
        PROMPTOPS_SECRET_ID: 'promptops/ci/registry',
        AWS_REGION: 'eu-west-1',
      });
      const snapshot = promptSnapshotSchema.parse(bundledSnapshot);
      expect(snapshot.source).toBe('files');
      const files = (await loadPromptFiles(['prompts'])).filter((f) => isAgentPrompt(f.name));
      expect(snapshot.entries.map((e) => e.key).sort()).toEqual(files.map((f) => f.name).sort());
      for (const file of files) {
        const entry = snapshot.entries.find((e) => e.key === file.name);
        expect(entry).toMatchObject({ name: file.name, version: null, alias: null, template: file.template });
      }
    });

    it('ships a bundle that refuses a request carrying only the offline identity header (401)', async () => {
      const { handler } = await importBundle(created, 'predict', {
        PROMPTOPS_SECRET_ID: 'promptops/ci/registry',
        AWS_REGION: 'eu-west-1',
      });
      const answer = await handler(
        {
          version: '2.0',
          routeKey: 'POST /predict',
          headers: {
            'sls-offline-authorizer-override': JSON.stringify({
              iam: { userArn: 'arn:aws:iam::123456789012:root' },
            }),
          },
          body: '{"query": "hi"}',
          requestContext: { requestId: 'r1' },
        },
        { awsRequestId: 'test' },
      );
      expect(answer.statusCode).toBe(401);
      expect(JSON.parse(answer.body)).toMatchObject({ code: 'UNAUTHORIZED' });
    });
  });

  describe('observability', () => {
    it('traces every function with X-Ray (active tracing)', () => {
      const functions = resourcesOfType(created.template, 'AWS::Lambda::Function');
      expect(functions.length).toBe(5);
      for (const [id, fn] of functions) expect(prop(fn, 'TracingConfig'), id).toEqual({ Mode: 'Active' });
    });

    it('gives every function the metrics namespace the code and the alarms use', () => {
      for (const id of [
        'RegisterLambdaFunction',
        'PromoteLambdaFunction',
        'PredictLambdaFunction',
        'VerifyLambdaFunction',
        'RolloutLambdaFunction',
      ]) {
        expect(environment(created.template, id).POWERTOOLS_METRICS_NAMESPACE, id).toBe(
          DEFAULT_METRICS_NAMESPACE,
        );
      }
    });

    it('alarms only on metrics the functions emit, by the names and dimensions in lib/observability/metric-names', () => {
      // The check itself, on alarms made up for it: one right, one on a renamed metric, one
      // missing a dimension, one on another namespace (not ours to check).
      const alarm = (MetricName: string, names: string[], Namespace = DEFAULT_METRICS_NAMESPACE) => ({
        Type: 'AWS::CloudWatch::Alarm',
        Properties: { Namespace, MetricName, Dimensions: names.map((Name) => ({ Name, Value: 'x' })) },
      });
      expect(
        alarmProblems({
          Resources: {
            Right: alarm('AliasMoved', ['service', 'function']),
            Renamed: alarm('AliasesMoved', ['service', 'function']),
            Narrow: alarm('ModelFailed', ['function']),
            Cold: alarm('ColdStart', ['service', 'function', 'function_name']),
            Foreign: alarm('Errors', ['FunctionName'], 'AWS/Lambda'),
          },
        }),
      ).toEqual([
        'Renamed watches AliasesMoved, which no function emits',
        'Narrow has dimensions function, not function,service',
      ]);
      for (const pkg of [created, existing]) expect(alarmProblems(pkg.template)).toEqual([]);
    });
  });

  describe('verify and the alarms', () => {
    it('runs verify on its schedule, one at a time, never retried, with the aliases it checks', () => {
      const fn = resource(created.template, 'VerifyLambdaFunction');
      expect(prop(fn, 'Handler')).toBe('functions/verify/handler.handler');
      expect(prop(fn, 'ReservedConcurrentExecutions')).toBe(1);
      expect(prop(fn, 'Role')).toEqual(getAtt('VerifyRole', 'Arn'));
      const [, rule] = only(
        resourcesOfType(created.template, 'AWS::Events::Rule').filter(([id]) => id.startsWith('Verify')),
        'schedule',
      );
      expect(prop(rule, 'ScheduleExpression')).toBe('rate(15 minutes)');
      const config = resourcesOfType(created.template, 'AWS::Lambda::EventInvokeConfig').find(
        ([, c]) =>
          JSON.stringify(prop(c, 'FunctionName')) === JSON.stringify({ Ref: 'VerifyLambdaFunction' }),
      );
      expect(config?.[1].Properties?.MaximumRetryAttempts).toBe(0);
      const env = environment(created.template, 'VerifyLambdaFunction');
      expect(Object.keys(env).sort()).toEqual([...COMMON_ENV, 'VERIFY_ALIASES'].sort());
      const literal = Object.fromEntries(
        Object.entries(env).map(([k, v]) => [k, typeof v === 'string' ? v : EXISTING_SECRET_ARN]),
      );
      expect(parseVerifyEnv(literal).VERIFY_ALIASES).toEqual(['production', 'staging']);
    });

    it('grants verify only its logs, the secret and X-Ray: it reads the registry, outside AWS', () => {
      for (const [pkg, secret] of [
        [created, { Ref: 'RegistrySecret' }],
        [existing, EXISTING_SECRET_ARN],
      ] as const) {
        expect(grantsOf(pkg.template, 'VerifyRole')).toEqual([
          ...logGrants('VerifyLogGroup'),
          { action: 'secretsmanager:GetSecretValue', resources: [secret] },
          ...XRAY_GRANTS,
        ]);
      }
    });

    it('runs the rollout on its schedule, one at a time, never retried, as its own role', () => {
      const fn = resource(created.template, 'RolloutLambdaFunction');
      expect(prop(fn, 'Handler')).toBe('functions/rollout/handler.handler');
      expect(prop(fn, 'ReservedConcurrentExecutions')).toBe(1);
      expect(prop(fn, 'Role')).toEqual(getAtt('RolloutRole', 'Arn'));
      const [, rule] = only(
        resourcesOfType(created.template, 'AWS::Events::Rule').filter(([id]) => id.startsWith('Rollout')),
        'schedule',
      );
      expect(prop(rule, 'ScheduleExpression')).toBe('rate(15 minutes)');
      const config = resourcesOfType(created.template, 'AWS::Lambda::EventInvokeConfig').find(
        ([, c]) =>
          JSON.stringify(prop(c, 'FunctionName')) === JSON.stringify({ Ref: 'RolloutLambdaFunction' }),
      );
      expect(config?.[1].Properties?.MaximumRetryAttempts).toBe(0);
      const env = environment(created.template, 'RolloutLambdaFunction');
      // Its principal is its role's session: the role's name, from the template.
      expect(env.ROLLOUT_ROLE_NAME).toEqual({ Ref: 'RolloutRole' });
      // The protected-alias rules name its role for automated moves, beside the people's patterns.
      const conds = conditions(existing.template);
      expect(conds.get('RolloutPromotes')).toBe(true);
      const principals = resolveIfs(
        environment(existing.template, 'RolloutLambdaFunction').PROTECTED_ALIAS_PRINCIPALS,
        conds,
      );
      expect(principals).toEqual({
        'Fn::Join': [
          '',
          [
            'arn:',
            { Ref: 'AWS::Partition' },
            ':sts::',
            { Ref: 'AWS::AccountId' },
            ':assumed-role/',
            { Ref: 'RolloutRole' },
            `/*,${RELEASE_MANAGERS}`,
          ],
        ],
      });
    });

    it('grants the rollout only its logs, the secret, the lock table and X-Ray', () => {
      for (const [pkg, secret] of [
        [created, { Ref: 'RegistrySecret' }],
        [existing, EXISTING_SECRET_ARN],
      ] as const) {
        expect(grantsOf(pkg.template, 'RolloutRole')).toEqual([
          { action: 'dynamodb:DeleteItem', resources: [getAtt('PromoteLockTable', 'Arn')] },
          { action: 'dynamodb:PutItem', resources: [getAtt('PromoteLockTable', 'Arn')] },
          ...logGrants('RolloutLogGroup'),
          { action: 'secretsmanager:GetSecretValue', resources: [secret] },
          ...XRAY_GRANTS,
        ]);
        expect(functionsWithRole(pkg.template, 'RolloutRole')).toEqual(['RolloutLambdaFunction']);
      }
    });

    it('alarms on what breaks, each saying what to do, into one topic, mailed only when asked', () => {
      const alarms = new Map(resourcesOfType(created.template, 'AWS::CloudWatch::Alarm'));
      expect([...alarms.keys()].sort()).toEqual([
        'AuditIncompleteAlarm',
        'PredictFallbackAlarm',
        'RegisterFailuresAlarm',
        'RolloutFailedAlarm',
        'RolloutHaltedAlarm',
        'RolloutNotRunningAlarm',
        'TraceExportFailuresAlarm',
        'VerifyFailuresAlarm',
        'VerifyNotRunningAlarm',
      ]);
      for (const [id, alarm] of alarms) {
        expect(String(prop(alarm, 'AlarmDescription')).length, id).toBeGreaterThan(80);
        expect(prop(alarm, 'AlarmActions'), id).toEqual([{ Ref: 'AlarmsTopic' }]);
      }
      const watched = new Map(alarmMetrics(created.template).map(([id, m]) => [id, m.MetricName]));
      expect(watched.get('VerifyFailuresAlarm')).toBe(VERIFY_METRICS.failures);
      expect(watched.get('VerifyNotRunningAlarm')).toBe(VERIFY_METRICS.runs);
      expect(watched.get('AuditIncompleteAlarm')).toBe(PROMOTE_METRICS.auditIncomplete);
      // Promote's moves and register's: either may leave an alias moved without its record.
      expect(
        alarmMetrics(created.template)
          .filter(([id]) => id === 'AuditIncompleteAlarm')
          .map(([, m]) => `${m.MetricName}/${JSON.stringify(m.Dimensions)}`)
          .sort(),
      ).toEqual(
        ['promote', 'register'].map(
          (fn) =>
            `${REGISTER_METRICS.auditIncomplete}/${JSON.stringify([
              { Name: 'service', Value: 'promptops' },
              { Name: 'function', Value: fn },
            ])}`,
        ),
      );
      expect(watched.get('TraceExportFailuresAlarm')).toBe(PREDICT_METRICS.traceFailed);
      expect(watched.get('RolloutHaltedAlarm')).toBe(ROLLOUT_METRICS.halted);
      expect(watched.get('RolloutFailedAlarm')).toBe(ROLLOUT_METRICS.failed);
      expect(watched.get('RolloutNotRunningAlarm')).toBe(ROLLOUT_METRICS.runs);
      expect(prop(alarms.get('RolloutNotRunningAlarm') as CfnResource, 'TreatMissingData')).toBe('breaching');
      expect(
        alarmMetrics(created.template)
          .filter(([id]) => id === 'PredictFallbackAlarm')
          .map(([, m]) => m.MetricName)
          .sort(),
      ).toEqual(
        [
          PREDICT_METRICS.cache,
          PREDICT_METRICS.fallback,
          PREDICT_METRICS.registry,
          PREDICT_METRICS.stale,
        ].sort(),
      );
      // Not running is missing data: it must count as breaching.
      expect(prop(alarms.get('VerifyNotRunningAlarm') as CfnResource, 'TreatMissingData')).toBe('breaching');
      const dlq = alarms.get('RegisterFailuresAlarm') as CfnResource;
      expect(prop(dlq, 'Namespace')).toBe('AWS/SQS');
      expect(prop(dlq, 'Dimensions')).toEqual([
        { Name: 'QueueName', Value: getAtt('RegisterFailureQueue', 'QueueName') },
      ]);
      // CloudWatch cannot publish through SNS's AWS managed key: such a topic drops every alarm.
      expect(prop(resource(created.template, 'AlarmsTopic'), 'KmsMasterKeyId')).toBeUndefined();
      // The mail subscription exists only when an address is given.
      expect(conditions(created.template).get('MailAlarms')).toBe(false);
      expect(prop(resource(created.template, 'AlarmsMail'), 'Protocol')).toBe('email');
      expect(resource(created.template, 'AlarmsMail').Condition).toBe('MailAlarms');
    });
  });

  describe('IAM', () => {
    it('lets only its HTTP API invoke the promote and predict functions: no role of the stack may', () => {
      // Their trust boundary is API Gateway: a direct invocation could write the caller's identity.
      for (const pkg of [created, existing]) {
        const invokers = iamStatements(pkg.template).filter((s) =>
          s.actions.some((a) => a === 'lambda:InvokeFunction' || a === 'lambda:*' || a === '*'),
        );
        expect(invokers.map((s) => s.role)).toEqual([]);
        for (const fn of ['PromoteLambdaFunction', 'PredictLambdaFunction']) {
          const permissions = resourcesOfType(pkg.template, 'AWS::Lambda::Permission').filter(([, p]) =>
            JSON.stringify(prop(p, 'FunctionName')).includes(fn),
          );
          expect(permissions.length, fn).toBeGreaterThan(0);
          for (const [, permission] of permissions) {
            expect(prop(permission, 'Principal'), fn).toBe('apigateway.amazonaws.com');
            expect(JSON.stringify(prop(permission, 'SourceArn')), fn).toContain('{"Ref":"HttpApi"}');
          }
        }
      }
    });

    it('has no wildcard action and no "*" resource in any statement of any role, but X-Ray\'s writes', () => {
      for (const pkg of [created, existing]) {
        const statements = iamStatements(pkg.template);
        expect(statements.length).toBeGreaterThan(0);
        const [xray, others] = [
          statements.filter((s) => s.raw.Sid === 'XRayWrites'),
          statements.filter((s) => s.raw.Sid !== 'XRayWrites'),
        ];
        // The one exception, by name: AWS defines no resource for X-Ray's two write actions.
        expect(xray.map((s) => s.role).sort()).toEqual([
          'PredictRole',
          'PromoteRole',
          'RegisterRole',
          'RolloutRole',
          'VerifyRole',
        ]);
        for (const statement of xray) {
          expect(statement.effect).toBe('Allow');
          expect(statement.actions).toEqual(XRAY_WRITES);
          expect(statement.resources).toEqual(['*']);
        }
        for (const statement of others) {
          expect(statement.effect, statement.role).toBe('Allow');
          expect(statement.raw.NotAction, statement.role).toBeUndefined();
          expect(statement.raw.NotResource, statement.role).toBeUndefined();
          expect(statement.actions.length, statement.role).toBeGreaterThan(0);
          for (const action of statement.actions) expect(action, statement.role).not.toContain('*');
          expect(statement.resources.length, statement.role).toBeGreaterThan(0);
          for (const res of statement.resources) expect(res, statement.role).not.toBe('*');
        }
      }
    });

    it('grants register exactly what it calls, each on its own resource', () => {
      expect(grantsOf(created.template, 'RegisterRole')).toEqual([
        // The alias lock, as promote takes it: an upload's move of staging is serialised with a promotion's.
        { action: 'dynamodb:DeleteItem', resources: [getAtt('PromoteLockTable', 'Arn')] },
        { action: 'dynamodb:PutItem', resources: [getAtt('PromoteLockTable', 'Arn')] },
        ...logGrants('RegisterLogGroup'),
        {
          action: 's3:GetObject',
          resources: [
            { 'Fn::Sub': `arn:\${AWS::Partition}:s3:::promptops-prompts-${STAGE}-${REGION}/prompts/*` },
          ],
        },
        { action: 'secretsmanager:GetSecretValue', resources: [{ Ref: 'RegistrySecret' }] },
        { action: 'sqs:SendMessage', resources: [getAtt('RegisterFailureQueue', 'Arn')] },
        ...XRAY_GRANTS,
      ]);
      // Its own log group, and no other function's.
      expect(prop(resource(created.template, 'RegisterLogGroup'), 'LogGroupName')).toBe(
        `/aws/lambda/promptops-${STAGE}-register`,
      );
      // The role is register's alone.
      expect(functionsWithRole(created.template, 'RegisterRole')).toEqual(['RegisterLambdaFunction']);
    });

    it('grants promote exactly what it calls: its logs, the secret, conditional writes to the lock table', () => {
      for (const [pkg, secret] of [
        [created, { Ref: 'RegistrySecret' }],
        [existing, EXISTING_SECRET_ARN],
      ] as const) {
        expect(grantsOf(pkg.template, 'PromoteRole')).toEqual([
          { action: 'dynamodb:DeleteItem', resources: [getAtt('PromoteLockTable', 'Arn')] },
          { action: 'dynamodb:PutItem', resources: [getAtt('PromoteLockTable', 'Arn')] },
          ...logGrants('PromoteLogGroup'),
          { action: 'secretsmanager:GetSecretValue', resources: [secret] },
          ...XRAY_GRANTS,
        ]);
        expect(prop(resource(pkg.template, 'PromoteLogGroup'), 'LogGroupName')).toBe(
          `/aws/lambda/promptops-${STAGE}-promote`,
        );
        expect(functionsWithRole(pkg.template, 'PromoteRole')).toEqual(['PromoteLambdaFunction']);
      }
    });

    it('grants predict only its logs and the secret: the registry and the model are outside AWS', () => {
      for (const [pkg, secret] of [
        [created, { Ref: 'RegistrySecret' }],
        [existing, EXISTING_SECRET_ARN],
      ] as const) {
        expect(grantsOf(pkg.template, 'PredictRole')).toEqual([
          ...logGrants('PredictLogGroup'),
          { action: 'secretsmanager:GetSecretValue', resources: [secret] },
          ...XRAY_GRANTS,
        ]);
        expect(functionsWithRole(pkg.template, 'PredictRole')).toEqual(['PredictLambdaFunction']);
      }
    });

    it('reads the secret and the uploads given as parameters when they exist already', () => {
      const conds = conditions(existing.template);
      const statements = iamStatements(existing.template).filter((s) => s.role === 'RegisterRole');
      const resourcesOf = (action: string) =>
        statements
          .filter((s) => s.actions.includes(action))
          .flatMap((s) => s.resources.map((r) => resolveIfs(r, conds)));
      expect(resourcesOf('secretsmanager:GetSecretValue')).toEqual([EXISTING_SECRET_ARN]);
      expect(resourcesOf('s3:GetObject')).toEqual([
        { 'Fn::Sub': `arn:\${AWS::Partition}:s3:::${EXISTING_BUCKET}/team/prompts/*` },
      ]);
    });
  });

  it.each([
    ['register', 'RegisterLambdaFunction'],
    ['promote', 'PromoteLambdaFunction'],
    ['predict', 'PredictLambdaFunction'],
    ['verify', 'VerifyLambdaFunction'],
    ['rollout', 'RolloutLambdaFunction'],
  ])('zips the %s bundle (ES module, source map) within 1 MiB', (name, functionId) => {
    expect([...created.zips.keys()]).toEqual([
      'predict.zip',
      'promote.zip',
      'register.zip',
      'rollout.zip',
      'verify.zip',
    ]);
    const zip = created.zips.get(`${name}.zip`);
    expect(zip).toBeDefined();
    if (zip === undefined) return;
    const size = fileSize(zip);
    expect(size).toBeGreaterThan(10_000);
    expect(size).toBeLessThanOrEqual(MIB);
    const entries = readZip(zip);
    expect(entries.map((e) => e.name).sort()).toEqual([
      `functions/${name}/handler.mjs`,
      `functions/${name}/handler.mjs.map`,
    ]);
    const code =
      entries
        .find((e) => e.name === `functions/${name}/handler.mjs`)
        ?.read()
        .toString('utf8') ?? '';
    expect(code).toMatch(/\/\/# sourceMappingURL=handler\.mjs\.map\s*$/);
    expect(code).toMatch(/export\s*\{[^}]*\bhandler\b[^}]*\}/);
    const lambdaCode = prop(resource(created.template, functionId), 'Code');
    expect(String(objectProp(lambdaCode, 'S3Key'))).toMatch(new RegExp(`/${name}\\.zip$`));
  });
});
