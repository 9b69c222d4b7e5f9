/** S3 notification events exactly as AWS shapes them (event version 2.1). */
export interface S3EventRecordInput {
  readonly bucket: string;
  readonly key: string;
  readonly eventName?: string;
  readonly sequencer?: string;
  readonly size?: number;
  readonly eTag?: string;
  readonly versionId?: string;
}

/** S3 form-encodes keys in notifications: a space becomes '+'. */
export function encodeS3Key(key: string): string {
  return encodeURIComponent(key).replace(/%20/g, '+').replace(/%2F/g, '/');
}

export function s3Event(records: readonly S3EventRecordInput[]) {
  return {
    Records: records.map((r) => ({
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: 'us-east-1',
      eventTime: '2026-11-24T10:00:00.000Z',
      eventName: r.eventName ?? 'ObjectCreated:Put',
      userIdentity: { principalId: 'AWS:AIDAEXAMPLE' },
      requestParameters: { sourceIPAddress: '127.0.0.1' },
      responseElements: {
        'x-amz-request-id': 'C3D13FE58DE4C810',
        'x-amz-id-2': 'FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD',
      },
      s3: {
        s3SchemaVersion: '1.0',
        configurationId: 'promptops-register',
        bucket: {
          name: r.bucket,
          ownerIdentity: { principalId: 'A3NL1KOZZKExample' },
          arn: `arn:aws:s3:::${r.bucket}`,
        },
        object: {
          key: encodeS3Key(r.key),
          size: r.size ?? 100,
          eTag: r.eTag ?? '0123456789abcdef0123456789abcdef',
          ...(r.versionId ? { versionId: r.versionId } : {}),
          sequencer: r.sequencer ?? '0055AED6DCD90281E5',
        },
      },
    })),
  };
}
