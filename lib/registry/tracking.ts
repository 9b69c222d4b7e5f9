/**
 * The parts of the MLflow tracking server beside the registry that the agent needs: experiments
 * (traces live in one) and OTLP span ingestion. Same transport, credentials and retries as the
 * registry calls.
 */
import * as z from 'zod';
import { InvalidInputError, NotFoundError } from '../errors';
import type { HttpClient } from './http';

export interface Tracking {
  /**
   * Spans, as an OTLP/protobuf `ExportTraceServiceRequest`, into an experiment (`POST /v1/traces`).
   * The server creates the trace from them; re-sending the same spans is harmless.
   */
  logSpans(experimentId: string, otlpProtobuf: Uint8Array): Promise<void>;
  /** The id of the experiment of that name, or undefined when there is none. */
  getExperimentIdByName(name: string): Promise<string | undefined>;
  /** Creates an experiment; ALREADY_EXISTS when the name is taken. */
  createExperiment(name: string): Promise<string>;
}

const EXPERIMENT_ID = /^[0-9]+$/;

function validateExperimentId(id: string): string {
  if (!EXPERIMENT_ID.test(id)) throw new InvalidInputError(`Invalid experiment id '${id}': expected digits.`);
  return id;
}

const experimentResponse = z.object({
  experiment: z.looseObject({ experiment_id: z.string().regex(EXPERIMENT_ID) }),
});
const createdResponse = z.object({ experiment_id: z.string().regex(EXPERIMENT_ID) });

export function createTracking(http: HttpClient): Tracking {
  return {
    async logSpans(experimentId, otlpProtobuf) {
      await http.call({
        operation: 'logSpans',
        method: 'POST',
        path: '/v1/traces',
        outsideApi: true,
        headers: { 'x-mlflow-experiment-id': validateExperimentId(experimentId) },
        binaryBody: { bytes: otlpProtobuf, contentType: 'application/x-protobuf' },
        schema: z.unknown(),
      });
    },
    async getExperimentIdByName(name) {
      if (name.trim() === '') throw new InvalidInputError('An experiment name is required.');
      try {
        const response = await http.call({
          operation: 'getExperimentByName',
          method: 'GET',
          path: '/2.0/mlflow/experiments/get-by-name',
          query: { experiment_name: name },
          schema: experimentResponse,
        });
        return response.experiment.experiment_id;
      } catch (error) {
        if (error instanceof NotFoundError) return undefined;
        throw error;
      }
    },
    async createExperiment(name) {
      if (name.trim() === '') throw new InvalidInputError('An experiment name is required.');
      const response = await http.call({
        operation: 'createExperiment',
        method: 'POST',
        path: '/2.0/mlflow/experiments/create',
        body: { name },
        schema: createdResponse,
      });
      return response.experiment_id;
    },
  };
}
