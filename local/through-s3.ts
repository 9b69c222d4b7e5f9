/**
 * The deployed path, run locally: prompt files uploaded to (moto's) S3, and the register handler
 * invoked with the S3 notification AWS would send, its credentials read from (moto's) Secrets
 * Manager. Only the endpoints differ from AWS, through the SDK's standard variables.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { createRegisterHandler, RegisterBatchError } from '../functions/register/core';
import type { SummaryRow } from '../lib/cli/summary';
import { parseRegisterEnv } from '../lib/config/register-env';
import type { UploadResult } from '../lib/register/process-upload';
import { createRuntime } from '../lib/runtime/invocation';
import { type S3EventRecordInput, s3Event } from './s3-events';
import { awsEnvFor } from './servers';

export const LOCAL_BUCKET = 'promptops-local-prompts';
export const LOCAL_PREFIX = 'prompts/';
export const LOCAL_SECRET_ID = 'promptops/local/registry';

export interface ThroughS3Options {
  readonly mlflowUrl: string;
  readonly motoUrl: string;
  readonly files: readonly string[];
  /** Where the handler's JSON log lines go. */
  readonly log: (line: string) => void;
  /** The model the predict function calls, as the secret names it. */
  readonly model?: { readonly baseUrl: string; readonly name: string } | undefined;
}

function toRow(result: UploadResult): SummaryRow {
  if (result.status !== 'failed') return result;
  return { source: result.key, name: result.key, status: 'failed', code: result.code, reason: result.reason };
}

export async function registerThroughS3(options: ThroughS3Options): Promise<SummaryRow[]> {
  Object.assign(process.env, awsEnvFor(options.motoUrl));
  const s3 = new S3Client({});
  const secretsManager = new SecretsManagerClient({});

  await s3.send(new CreateBucketCommand({ Bucket: LOCAL_BUCKET }));
  const secret = JSON.stringify({
    registry: { type: 'mlflow', trackingUri: options.mlflowUrl },
    ...(options.model ? { model: options.model } : {}),
  });
  try {
    await secretsManager.send(new CreateSecretCommand({ Name: LOCAL_SECRET_ID, SecretString: secret }));
  } catch (error) {
    if (!(error instanceof ResourceExistsException)) throw error;
    await secretsManager.send(new PutSecretValueCommand({ SecretId: LOCAL_SECRET_ID, SecretString: secret }));
  }

  // As a CI step syncing prompts/ to the bucket would: one object per file, one event per object.
  const records: S3EventRecordInput[] = [];
  for (const [index, file] of options.files.entries()) {
    const key = `${LOCAL_PREFIX}${basename(file)}`;
    const put = await s3.send(
      new PutObjectCommand({ Bucket: LOCAL_BUCKET, Key: key, Body: await readFile(file) }),
    );
    records.push({
      bucket: LOCAL_BUCKET,
      key,
      ...(put.ETag ? { eTag: put.ETag.replaceAll('"', '') } : {}),
      sequencer: (Date.now() * 1000 + index).toString(16).toUpperCase(),
    });
  }

  const env = parseRegisterEnv({
    PROMPTOPS_SECRET_ID: LOCAL_SECRET_ID,
    PROMPTS_BUCKET: LOCAL_BUCKET,
    PROMPTS_PREFIX: LOCAL_PREFIX,
    PROMPT_CATALOG: process.env.PROMPT_CATALOG,
    PROMPT_SCHEMA: process.env.PROMPT_SCHEMA,
    PROMPT_NAME_PREFIX: process.env.PROMPT_NAME_PREFIX,
  });
  const handler = createRegisterHandler({
    env,
    s3,
    runtime: createRuntime(env, { functionName: 'register', secretsManager, write: options.log }),
  });
  try {
    const summary = await handler(s3Event(records), { awsRequestId: randomUUID() });
    return summary.results.map(toRow);
  } catch (error) {
    if (error instanceof RegisterBatchError) return error.results.map(toRow);
    throw error;
  }
}
