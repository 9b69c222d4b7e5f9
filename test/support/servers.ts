/** The servers the integration tests start: the local run's own helpers (local/servers.ts). */
export * from '../../local/servers';
