/**
 * S3 notification events, as AWS shapes them, reduced to the uploads this function acts on:
 * `ObjectCreated` of a prompt file under the configured prefix. Keys arrive URL-encoded (a space
 * as `+`); S3 delivers at least once and possibly out of order, so several records for one key in
 * a batch collapse to the newest (by `sequencer`), and the object's *current* content is what gets
 * registered, which converges whatever the order.
 */
import * as z from 'zod';
import { BRIEFLY, InvalidInputError, zodIssues } from '../errors';

// The fields this function reads, not the whole notification: Powertools' parser has the whole
// (S3Schema), but its schemas import zod's `z` object, which brings all of zod into the bundle
// (its locales too): +182 KiB zipped and about +30 ms of register's cold start (bench/bundles.ts).
const recordSchema = z.looseObject({
  eventName: z.string(),
  // Who uploaded (e.g. `AWS:AIDA…`): the "by" of the staging move the upload makes.
  userIdentity: z.looseObject({ principalId: z.string().max(900).optional() }).optional(),
  s3: z.looseObject({
    bucket: z.looseObject({ name: z.string().min(1) }),
    object: z.looseObject({
      key: z.string().min(1),
      sequencer: z.string().optional(),
      versionId: z.string().optional(),
      eTag: z.string().optional(),
      size: z.number().optional(),
    }),
  }),
});

/** The envelope alone: each record is then read on its own, so one bad record sinks no other. */
export const s3EventSchema = z.object({ Records: z.array(z.unknown()) });

export interface Upload {
  readonly bucket: string;
  readonly key: string;
  readonly sequencer: string;
  /** The uploader, as S3 names it, when the event says. */
  readonly principalId?: string | undefined;
}

export interface Ignored {
  readonly bucket: string;
  readonly key: string;
  readonly reason: string;
  /** Not a record S3 sends (a field missing, a key S3 could not have encoded): refused, said louder. */
  readonly malformed?: boolean;
}

export interface UploadScope {
  readonly bucket: string;
  /** Key prefix, e.g. `prompts/`; empty for the whole bucket. */
  readonly prefix: string;
  readonly suffix: string;
}

/** S3's key encoding in notifications: form-encoded (`+` for a space). */
export function decodeS3Key(key: string): string {
  try {
    return decodeURIComponent(key.replace(/\+/g, ' '));
  } catch (cause) {
    throw new InvalidInputError('An S3 event carried a key that is not valid URL encoding.', { cause });
  }
}

/** Sequencers are hex strings of varying length; compare them right-aligned. */
export function compareSequencers(a: string, b: string): number {
  const width = Math.max(a.length, b.length);
  const pa = a.toUpperCase().padStart(width, '0');
  const pb = b.toUpperCase().padStart(width, '0');
  return pa < pb ? -1 : pa > pb ? 1 : 0;
}

export function selectUploads(event: unknown, scope: UploadScope): { uploads: Upload[]; ignored: Ignored[] } {
  const parsed = s3EventSchema.safeParse(event);
  if (!parsed.success) {
    const { line, issues } = zodIssues(parsed.error, BRIEFLY);
    throw new InvalidInputError(`The event is not an S3 notification event: ${line}.`, { issues });
  }
  const ignored: Ignored[] = [];
  const newest = new Map<string, Upload>();
  for (const [i, raw] of parsed.data.Records.entries()) {
    const read = recordSchema.safeParse(raw);
    if (!read.success) {
      const where = zodIssues(read.error, BRIEFLY).line;
      ignored.push({
        bucket: '?',
        key: '?',
        reason: `record ${i} is not an S3 record: ${where}`,
        malformed: true,
      });
      continue;
    }
    const record = read.data;
    const bucket = record.s3.bucket.name;
    let key: string;
    try {
      key = decodeS3Key(record.s3.object.key);
    } catch {
      ignored.push({
        bucket,
        key: record.s3.object.key,
        reason: 'key is not valid URL encoding',
        malformed: true,
      });
      continue;
    }
    const reason = !record.eventName.startsWith('ObjectCreated:')
      ? `event ${record.eventName} is not an upload`
      : bucket !== scope.bucket
        ? `bucket ${bucket} is not the prompts bucket`
        : !key.startsWith(scope.prefix) || !key.endsWith(scope.suffix)
          ? `key is outside ${scope.prefix}*${scope.suffix}`
          : key.slice(scope.prefix.length).includes('/')
            ? // Two files of one name in two folders would otherwise be one prompt, each upload
              // overwriting the other's version.
              `key is in a folder under ${scope.prefix}; prompt files must be directly under it`
            : undefined;
    if (reason) {
      ignored.push({ bucket, key, reason });
      continue;
    }
    const principalId = record.userIdentity?.principalId;
    const upload = {
      bucket,
      key,
      sequencer: record.s3.object.sequencer ?? '',
      ...(principalId ? { principalId } : {}),
    };
    const seen = newest.get(key);
    if (!seen || compareSequencers(upload.sequencer, seen.sequencer) > 0) newest.set(key, upload);
  }
  return { uploads: [...newest.values()], ignored };
}
