export * from './catalog';
export * from './classes';
export * from './from-code';
export * from './zod-issues';
