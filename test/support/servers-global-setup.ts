import type { TestProject } from 'vitest/node';
import { startMlflow, startMoto, warmTraceIngestion } from './servers';

declare module 'vitest' {
  export interface ProvidedContext {
    mlflowUri: string;
    motoUri: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [mlflow, moto] = await Promise.all([startMlflow(), startMoto()]);
  await warmTraceIngestion(mlflow.url);
  project.provide('mlflowUri', mlflow.url);
  project.provide('motoUri', moto.url);
  return async () => {
    await Promise.all([mlflow.stop(), moto.stop()]);
  };
}
