/**
 * The secret every function reads: where the registry is and how to authenticate to it, plus
 * the model the agent calls (any OpenAI-compatible chat-completions API). JSON in AWS Secrets
 * Manager:
 *
 *   { "registry": { "type": "mlflow", "trackingUri": "https://mlflow.example.com",
 *                   "token": "..." | "username": "...", "password": "..." },
 *     "model": { "baseUrl": "https://api.openai.com/v1", "name": "gpt-4o-mini", "apiKey": "..." } }
 *
 *   { "registry": { "type": "databricks", "host": "https://adb-123.azuredatabricks.net",
 *                   "token": "..." | "clientId": "...", "clientSecret": "..." },
 *     "model": { "servingEndpoint": "databricks-claude-sonnet-4" } }
 *
 * A serving endpoint is called at `{host}/serving-endpoints` (OpenAI-compatible) with the
 * registry's Databricks credentials: it needs a `databricks` registry.
 *
 * Errors name the secret id and the field, never a value.
 */
import * as z from 'zod';
import { orRoot, SecretError, zodIssues } from '../errors';
import { isLoopbackUrl } from '../http/base-url';

const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });
const text = z.string({ error: 'expected a string' }).min(1, 'expected a non-empty string');

const mlflowRegistry = z
  .strictObject({
    type: z.literal('mlflow'),
    trackingUri: httpUrl,
    token: text.optional(),
    username: text.optional(),
    password: text.optional(),
  })
  .refine((r) => (r.username === undefined) === (r.password === undefined), {
    message: 'set both username and password, or neither',
    path: ['username'],
  })
  // MLflow would use the basic auth and ignore the token: which one is used is a rule nobody
  // reads, and a rotation of the one not used would change nothing. One, named.
  .refine((r) => r.token === undefined || (r.username === undefined && r.password === undefined), {
    message: 'set a token, or username and password, not both',
    path: ['token'],
  });

const databricksRegistry = z
  .strictObject({
    type: z.literal('databricks'),
    // The token or client secret goes to it: https (plain http on loopback only, for tests).
    host: httpUrl.refine((url) => url.startsWith('https:') || isLoopbackUrl(url), 'expected an https URL'),
    token: text.optional(),
    clientId: text.optional(),
    clientSecret: text.optional(),
  })
  .refine((r) => (r.clientId === undefined) === (r.clientSecret === undefined), {
    message: 'set both clientId and clientSecret, or neither',
    path: ['clientId'],
  })
  .refine((r) => r.token !== undefined || r.clientId !== undefined, {
    message: 'set a token, or clientId and clientSecret',
    path: ['token'],
  })
  // Two credentials would leave which one is used to a rule nobody reads: one, named.
  .refine((r) => r.token === undefined || (r.clientId === undefined && r.clientSecret === undefined), {
    message: 'set a token, or clientId and clientSecret, not both',
    path: ['token'],
  });

/** MLflow's provider name (`openai`, `databricks`, ...), on the model spans: MLflow prices tokens by it. */
const provider = text.optional();

/** Any OpenAI-compatible chat-completions API: `{baseUrl}/chat/completions` is called with model `name`. */
const openAiModel = z.strictObject({ baseUrl: httpUrl, name: text, apiKey: text.optional(), provider });

/** A Databricks model serving endpoint, by name, reached with the registry's Databricks credentials. */
const servingModel = z.strictObject({ servingEndpoint: text, provider });

export const registrySecretSchema = z
  .strictObject({
    registry: z.discriminatedUnion('type', [mlflowRegistry, databricksRegistry], {
      error: "expected 'type' to be 'mlflow' or 'databricks'",
    }),
    /** The agent's model. */
    model: z
      .union([openAiModel, servingModel], {
        error: 'expected {baseUrl, name, apiKey?} or {servingEndpoint}',
      })
      .optional(),
  })
  .refine(
    (s) => s.model === undefined || !('servingEndpoint' in s.model) || s.registry.type === 'databricks',
    {
      message:
        "a servingEndpoint needs a 'databricks' registry (its host and credentials reach the endpoint)",
      path: ['model', 'servingEndpoint'],
    },
  );

export type DatabricksRegistrySecret = z.infer<typeof databricksRegistry>;

export type RegistrySecret = z.infer<typeof registrySecretSchema>;

// A key is named only if it looks like a field name: a value pasted where a key belongs (a token
// as a key) must not be echoed either.
const FIELD_NAME = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    const named = issue.keys.filter((k) => FIELD_NAME.test(k));
    const unnamed = issue.keys.length - named.length;
    return `unknown field(s) ${[...named, ...(unnamed > 0 ? [`${unnamed} with an unexpected name`] : [])].join(', ')}`;
  }
  if (issue.code === 'invalid_type') return `expected ${issue.expected}`;
  // Custom and format messages above are ours and carry no input.
  return issue.message;
}

/** Parses the secret's string; never includes any of its content in an error. */
export function parseRegistrySecret(secretId: string, secretString: string | undefined): RegistrySecret {
  if (secretString === undefined) {
    throw new SecretError(`Secret '${secretId}' has no string value (binary secrets are not supported).`);
  }
  let json: unknown;
  try {
    json = JSON.parse(secretString);
  } catch {
    // The parser's message quotes the input; it is not kept, not even as the cause.
    throw new SecretError(`Secret '${secretId}' is not valid JSON.`);
  }
  const parsed = registrySecretSchema.safeParse(json);
  if (!parsed.success) {
    const { issues, line } = zodIssues(parsed.error, { describe, name: orRoot });
    throw new SecretError(`Secret '${secretId}' has the wrong shape: ${line}`, { issues });
  }
  return parsed.data;
}
