/**
 * One uploaded prompt file: read it from S3 (its current content), validate it with the same
 * loader as `prompts/`, and register it with its provenance. Each upload succeeds or fails on its
 * own, with a reason; nothing is written for a file that does not validate.
 */
import { GetObjectCommand, type GetObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { InvalidInputError, InvalidPromptFileError, isPromptOpsError, UnavailableError } from '../errors';
import { MAX_PROMPT_FILE_BYTES, parsePromptFile } from '../prompts/file';
import type { NamingOptions } from '../prompts/naming';
import type { RegistryClient } from '../registry';
import { TAG_KEYS } from '../registry/tag-keys';
import { sdkCallOptions } from '../runtime/deadline';
import { isCredentialRefusal } from '../runtime/registry-provider';
import { type RegisterOptions, type RegisterOutcome, registerPromptFile } from './register-prompt-file';
import type { Upload } from './s3-event';

export const PROVENANCE_TAGS = {
  bucket: TAG_KEYS.oss.sourceBucket,
  key: TAG_KEYS.oss.sourceKey,
  etag: TAG_KEYS.oss.sourceEtag,
  versionId: TAG_KEYS.oss.sourceVersionId,
} as const;

export type UploadResult =
  | ({ readonly key: string } & RegisterOutcome)
  | {
      readonly key: string;
      readonly status: 'failed';
      readonly code: string;
      readonly reason: string;
      /**
       * The file itself is wrong (it does not parse, the agent could not use it, it is gone):
       * trying again cannot help. Otherwise (the registry, S3) a retry may succeed.
       */
      readonly permanent: boolean;
    };

interface ObjectRead {
  readonly bytes: Uint8Array;
  readonly etag: string | undefined;
  readonly versionId: string | undefined;
}

async function readObject(s3: Pick<S3Client, 'send'>, upload: Upload): Promise<ObjectRead> {
  let output: GetObjectCommandOutput;
  try {
    output = await s3.send(
      new GetObjectCommand({ Bucket: upload.bucket, Key: upload.key }),
      sdkCallOptions(),
    );
  } catch (error) {
    const name = (error as { name?: unknown })?.name;
    if (name === 'NoSuchKey' || name === 'NotFound') {
      throw new InvalidPromptFileError(
        upload.key,
        'the object no longer exists (deleted before it was read).',
        {
          cause: error,
        },
      );
    }
    if (name === 'AccessDenied') {
      // Without s3:ListBucket (not granted: least privilege), S3 answers a missing key with 403;
      // but so it does for a broken policy or key: not the file's fault for sure, so retried.
      throw new UnavailableError(
        `S3 refused to read ${upload.key} (AccessDenied): the object was deleted before it was read, or the function may not read it.`,
        { cause: error },
      );
    }
    throw new UnavailableError(
      `S3 did not return ${upload.key} (${typeof name === 'string' ? name : 'error'}).`,
      {
        cause: error,
      },
    );
  }
  if (output.ContentLength !== undefined && output.ContentLength > MAX_PROMPT_FILE_BYTES) {
    // Refused on its announced size, without reading the body; the stream is released.
    (output.Body as { destroy?: () => void } | undefined)?.destroy?.();
    throw new InvalidPromptFileError(
      upload.key,
      `the file is ${output.ContentLength} bytes; prompt files are limited to ${MAX_PROMPT_FILE_BYTES} bytes.`,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = (await output.Body?.transformToByteArray()) ?? new Uint8Array();
  } catch (error) {
    throw new UnavailableError(`Reading ${upload.key} from S3 failed midway.`, { cause: error });
  }
  return { bytes, etag: output.ETag?.replaceAll('"', ''), versionId: output.VersionId };
}

export async function processUpload(
  s3: Pick<S3Client, 'send'>,
  registry: RegistryClient,
  upload: Upload,
  naming: NamingOptions,
  experimentId?: string,
  moves: Pick<RegisterOptions, 'lock' | 'onDamagedHistory'> = {},
): Promise<UploadResult> {
  try {
    const object = await readObject(s3, upload);
    const file = parsePromptFile(upload.key, object.bytes);
    const provenance: Record<string, string> = {
      [PROVENANCE_TAGS.bucket]: upload.bucket,
      [PROVENANCE_TAGS.key]: upload.key,
      ...(object.etag ? { [PROVENANCE_TAGS.etag]: object.etag } : {}),
      ...(object.versionId ? { [PROVENANCE_TAGS.versionId]: object.versionId } : {}),
    };
    return {
      key: upload.key,
      ...(await registerPromptFile(registry, file, {
        naming,
        provenance,
        experimentId,
        ...moves,
        by: upload.principalId ? `s3-upload:${upload.principalId}` : 's3-upload',
      })),
    };
  } catch (error) {
    // A refusal of our registry credentials is not this file's fault: let it reach the registry
    // provider, which fetches the secret again and retries.
    if (isCredentialRefusal(error)) throw error;
    if (isPromptOpsError(error)) {
      return {
        key: upload.key,
        status: 'failed',
        code: error.code,
        reason: error.message,
        // The file's own fault, found without the registry (it does not parse, the agent could not
        // use it, it is gone): no retry can cure it. A registry's refusal may be the deployment's.
        permanent: error instanceof InvalidInputError && error.registry === undefined,
      };
    }
    throw error;
  }
}
