/**
 * The agent's model, built from the secret's `model` field: the client is reused while the secret
 * is, so a rotated key takes effect when the secret cache refetches it.
 */
import type { Dispatcher } from 'undici';
import { credentialsOfSecret } from '../databricks/from-secret';
import { SecretError } from '../errors';
import { type ChatModel, createChatModel } from '../model/chat-model';
import type { DatabricksRegistrySecret, RegistrySecret } from '../secrets/registry-secret';
import type { SecretCache } from '../secrets/secret-cache';

export interface ModelProviderOptions {
  readonly secrets: SecretCache;
  readonly secretId: string;
  readonly dispatcher?: Dispatcher | undefined;
}

export function createModelProvider(options: ModelProviderOptions): () => Promise<ChatModel> {
  const models = new WeakMap<RegistrySecret, ChatModel>();
  return async () => {
    const secret = await options.secrets.get(options.secretId);
    let model = models.get(secret);
    if (!model) {
      if (!secret.model) {
        throw new SecretError(
          `Secret '${options.secretId}' names no model: add "model": {"baseUrl", "name", "apiKey"?} or {"servingEndpoint"} (see README, "The secret").`,
        );
      }
      const configured = secret.model;
      if ('servingEndpoint' in configured) {
        // The schema allows a serving endpoint only with a Databricks registry.
        const registry = secret.registry as DatabricksRegistrySecret;
        const credentials = credentialsOfSecret(registry, options);
        model = createChatModel({
          baseUrl: `${credentials.host}/serving-endpoints`,
          name: configured.servingEndpoint,
          credentials,
          provider: configured.provider ?? 'databricks',
          dispatcher: options.dispatcher,
        });
      } else {
        model = createChatModel({ ...configured, dispatcher: options.dispatcher });
      }
      models.set(secret, model);
    }
    return model;
  };
}
