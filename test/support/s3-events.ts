/** S3 notification events for the tests: the local run's builder (local/s3-events.ts). */
export * from '../../local/s3-events';
