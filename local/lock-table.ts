/**
 * The promote function's alias lock table (serverless.yml, PromoteLockTable) in the local AWS
 * emulator, for `npm start` and the tests: the same key and TTL attribute as the stack's table.
 */
import {
  CreateTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';

/** Creates the table `name` unless it exists, and waits until it can be used. */
export async function createLockTable(dynamodb: DynamoDBClient, name: string): Promise<void> {
  let created = true;
  try {
    await dynamodb.send(
      new CreateTableCommand({
        TableName: name,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'lockId', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'lockId', KeyType: 'HASH' }],
        SSESpecification: { Enabled: true },
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
    created = false;
  }
  await waitUntilTableExists({ client: dynamodb, maxWaitTime: 30 }, { TableName: name });
  // Enabling TTL twice is an error in DynamoDB; an existing table was set up when it was created.
  if (created)
    await dynamodb.send(
      new UpdateTimeToLiveCommand({
        TableName: name,
        TimeToLiveSpecification: { AttributeName: 'expiresAtEpoch', Enabled: true },
      }),
    );
}
