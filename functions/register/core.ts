/**
 * The register function: S3 `ObjectCreated` events on the prompts prefix become registry
 * versions. Records are independent. A file that is itself wrong (it does not parse, the agent
 * could not use it, it was deleted before it was read) is refused: logged with its reason and
 * counted (UploadRefused), never retried, since no retry could succeed. The invocation fails (so
 * AWS retries it, then hands it to the on-failure destination) when any record failed for a
 * reason a retry may cure (the registry, S3); a retry re-registers nothing that already
 * succeeded (unchanged content is a no-op).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import type { RegisterEnv } from '../../lib/config/register-env';
import { InvalidInputError, isPromptOpsError, PromptOpsError } from '../../lib/errors';
import { REGISTER_METRICS } from '../../lib/observability/metric-names';
import { aliasLockFor, keepDamagedHistory } from '../../lib/promote/move-context';
import { processUpload, type UploadResult } from '../../lib/register/process-upload';
import { selectUploads } from '../../lib/register/s3-event';
import { experimentRef, memoExperimentId, resolveExperimentId } from '../../lib/registry/experiments';
import { instrumented } from '../../lib/runtime/handler';
import type { Runtime } from '../../lib/runtime/invocation';
import { isCredentialRefusal } from '../../lib/runtime/registry-provider';

/** Raised to make Lambda retry the invocation; lists the records that failed, and why. */
export class RegisterBatchError extends PromptOpsError {
  readonly failed: readonly UploadResult[];
  /** Every record's result, the successful ones included. */
  readonly results: readonly UploadResult[];
  constructor(results: readonly UploadResult[]) {
    const failed = results.filter((r) => r.status === 'failed' && !r.permanent);
    super(
      `${failed.length} upload(s) failed: ${failed
        .map((f) => `${f.key}: ${f.status === 'failed' ? f.reason : f.status}`)
        .join(' | ')}`,
    );
    this.failed = failed;
    this.results = results;
  }
}

export interface RegisterSummary {
  readonly results: readonly UploadResult[];
  /** Records ignored (not uploads this function acts on); malformed records are refused and logged apart. */
  readonly ignored: number;
}

export interface RegisterDeps {
  readonly runtime: Runtime;
  readonly env: RegisterEnv;
  readonly s3: Pick<S3Client, 'send'>;
  /** For the alias lock, when PROMOTE_LOCK_TABLE is set. */
  readonly dynamodb?: Pick<DynamoDBClient, 'send'> | undefined;
}

export function createRegisterHandler({ runtime, env, s3, dynamodb }: RegisterDeps) {
  const lock =
    env.PROMOTE_LOCK_TABLE === undefined || dynamodb === undefined
      ? undefined
      : aliasLockFor(runtime.logger, dynamodb, env.PROMOTE_LOCK_TABLE);
  const scope = { bucket: env.PROMPTS_BUCKET, prefix: env.PROMPTS_PREFIX, suffix: '.md' };
  const experiment = experimentRef(env);
  const experimentId = memoExperimentId(() =>
    runtime.registry.withRegistry((r) => resolveExperimentId(r, experiment)),
  );

  const log = runtime.logger;
  return instrumented(
    runtime.instruments,
    async (event: unknown, _context, metrics): Promise<RegisterSummary> => {
      try {
        let selected: ReturnType<typeof selectUploads>;
        try {
          selected = selectUploads(event, scope);
        } catch (error) {
          // Not an S3 notification at all (a wrong trigger, a hand-made invoke): no retry can
          // make it one, so it is refused, not failed.
          if (!(error instanceof InvalidInputError)) throw error;
          log.error('event refused', { code: error.code, reason: error.message });
          metrics.add(REGISTER_METRICS.uploadRefused, 1);
          return { results: [], ignored: 0 };
        }
        const { uploads, ignored } = selected;
        if (uploads.length === 0 && ignored.length === 0) {
          log.warn('event refused', { code: 'INVALID_INPUT', reason: 'The S3 event has no records.' });
        }
        for (const skip of ignored) {
          const fields = { bucket: skip.bucket, key: skip.key, reason: skip.reason };
          if (!skip.malformed) log.info('upload ignored', fields);
          else {
            log.error('record refused', { ...fields, code: 'INVALID_INPUT' });
            metrics.add(REGISTER_METRICS.uploadRefused, 1);
          }
        }

        // One upload after another: registrations are rare, and the function runs with reserved
        // concurrency 1, so this is the only writer.
        // Nothing to register: no secret read, no registry call.
        const results =
          uploads.length === 0
            ? []
            : await runtime.registry.withRegistry(async (registry) => {
                // The experiment the prompts are listed on, as MLflow's SDK lists them on
                // registration: best effort, the registrations go on without it.
                let listedOn: string | undefined;
                try {
                  listedOn = await experimentId();
                } catch (error) {
                  // Only the registry's refusal is tolerated: our credentials refused is the provider's to retry.
                  if (!isPromptOpsError(error) || error.registry === undefined || isCredentialRefusal(error))
                    throw error;
                  log.warn('prompts not listed on the experiment', { experiment, error });
                  metrics.add(REGISTER_METRICS.experimentListingFailed, 1);
                }
                const done: UploadResult[] = [];
                for (const upload of uploads)
                  done.push(
                    await processUpload(s3, registry, upload, runtime.naming, listedOn, {
                      lock,
                      onDamagedHistory: keepDamagedHistory(log, { key: upload.key }),
                    }),
                  );
                return done;
              });

        for (const result of results) {
          if (result.status === 'failed' && result.permanent) {
            log.error('upload refused', { key: result.key, code: result.code, reason: result.reason });
            metrics.add(REGISTER_METRICS.uploadRefused, 1);
          } else if (result.status === 'failed') {
            const unrecorded = result.code === 'AUDIT_INCOMPLETE';
            log.error('upload failed', {
              key: result.key,
              code: result.code,
              reason: result.reason,
              ...(unrecorded ? { audit: true } : {}),
            });
            metrics.add(REGISTER_METRICS.registrationFailed, 1);
            if (unrecorded) metrics.add(REGISTER_METRICS.auditIncomplete, 1);
          } else {
            log.info(`upload ${result.status}`, {
              key: result.key,
              prompt: result.name,
              version: result.version,
              aliasesMoved: result.aliasesMoved,
            });
            metrics.add(
              result.status === 'created'
                ? REGISTER_METRICS.versionRegistered
                : REGISTER_METRICS.uploadUnchanged,
              1,
            );
            if (result.experimentNotListed !== undefined) {
              log.warn('prompt not listed on the experiment', {
                prompt: result.name,
                reason: result.experimentNotListed,
              });
              metrics.add(REGISTER_METRICS.experimentListingFailed, 1);
            }
          }
        }
        if (results.some((r) => r.status === 'failed' && !r.permanent)) throw new RegisterBatchError(results);
        return { results, ignored: ignored.filter((skip) => !skip.malformed).length };
      } catch (error) {
        if (!(error instanceof RegisterBatchError)) {
          log.error('invocation failed', { error });
          metrics.add(REGISTER_METRICS.invocationFailed, 1);
        }
        throw error;
      }
    },
  );
}
