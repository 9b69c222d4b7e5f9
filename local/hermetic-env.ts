/**
 * The environment osls runs in (`osls offline` for the local run and the end-to-end tests,
 * `osls package` for the template test and the bundle benchmark): this process's, without
 * anything that could reach an AWS account (no AWS variables, a throwaway HOME so no ~/.aws).
 */
export function hermeticEnv(home: string, extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key.startsWith('AWS_') || key.startsWith('AMAZON_')) continue;
    env[key] = value;
  }
  return {
    ...env,
    HOME: home,
    USERPROFILE: home,
    // npx would otherwise ask the registry whether npm is up to date.
    npm_config_update_notifier: 'false',
    ...extra,
  };
}
