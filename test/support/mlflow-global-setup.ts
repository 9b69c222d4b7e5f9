import type { TestProject } from 'vitest/node';
import { startMlflow } from './servers';

declare module 'vitest' {
  export interface ProvidedContext {
    mlflowUri: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startMlflow();
  project.provide('mlflowUri', server.url);
  return () => server.stop();
}
