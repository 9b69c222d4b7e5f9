/**
 * The contract server's model serving: Databricks serves chat endpoints OpenAI-compatibly at
 * `{host}/serving-endpoints/chat/completions`, the endpoint's name as `model`, with the workspace's
 * own credentials. The answers are the deterministic stand-in's (local/model-standin.ts), labelled
 * as such: this is not a model.
 */
import { standinCompletion } from '../../../local/model-standin';
import { answer, type ContractRoute } from './http';

export interface ServingEndpoints {
  readonly routes: ContractRoute[];
  /** The bodies each endpoint received. */
  readonly requests: { endpoint: string; body: Record<string, unknown> }[];
}

export function createServingEndpoints(names: readonly string[]): ServingEndpoints {
  const requests: ServingEndpoints['requests'] = [];
  const routes: ContractRoute[] = [
    {
      method: 'POST',
      path: '/serving-endpoints/chat/completions',
      handle: ({ body }) => {
        const request = body as Record<string, unknown>;
        const endpoint = String(request.model ?? '');
        if (!names.includes(endpoint)) {
          return answer(404, {
            error_code: 'RESOURCE_DOES_NOT_EXIST',
            message: `The serving endpoint '${endpoint}' does not exist.`,
          });
        }
        requests.push({ endpoint, body: request });
        return standinCompletion(request, `serving-${requests.length}`);
      },
    },
  ];
  return { routes, requests };
}
