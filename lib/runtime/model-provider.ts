/**
 * The agent's model, built from the secret's `model` field: the client is reused while the secret
 * is, so a rotated key takes effect when the secret cache refetches it.
 */
import type { Dispatcher } from 'undici';
import { SecretError } from '../errors';
import { type ChatModel, createChatModel } from '../model/chat-model';
import type { RegistrySecret } from '../secrets/registry-secret';
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
          `Secret '${options.secretId}' names no model: add "model": {"baseUrl", "name", "apiKey"?} (see README, "The secret").`,
        );
      }
      model = createChatModel({ ...secret.model, dispatcher: options.dispatcher });
      models.set(secret, model);
    }
    return model;
  };
}
