/**
 * The two transport seams faked for a describe block: AWS Secrets Manager (aws-sdk-client-mock)
 * and HTTP (undici's MockAgent, no real connection allowed), fresh for every test; a test that
 * leaves an interceptor unused fails.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { MockAgent } from 'undici';
import { afterEach, beforeEach } from 'vitest';

export function mockTransport() {
  const sm = mockClient(SecretsManagerClient);
  const current: { agent: MockAgent } = { agent: new MockAgent() };
  beforeEach(() => {
    sm.reset();
    current.agent = new MockAgent();
    current.agent.disableNetConnect();
  });
  afterEach(async () => {
    current.agent.assertNoPendingInterceptors();
    await current.agent.close();
  });
  return { sm, agent: () => current.agent };
}
