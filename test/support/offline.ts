/** The HTTP API under serverless-offline for the end-to-end tests: the local run's (local/offline.ts). */
export * from '../../local/offline';
