/**
 * Credentials for an MLflow tracking server, as MLflow's own clients send them. They arrive as
 * arguments (from Secrets Manager in Lambda, from the environment in the CLI) and leave only as
 * the `Authorization` header; `toString`/`toJSON` never reveal them.
 */
import { InvalidInputError } from '../errors';

export interface RegistryAuth {
  readonly kind: 'bearer' | 'basic';
  /** The `Authorization` header value. Not enumerable, so logging the object shows no secret. */
  readonly header: string;
  /** The credential's secret parts, to scrub from anything a server says back. Not enumerable. */
  readonly secrets: readonly string[];
}

function sealed(kind: RegistryAuth['kind'], header: string, secrets: readonly string[]): RegistryAuth {
  const auth = { kind } as { kind: RegistryAuth['kind']; header: string; secrets: readonly string[] };
  Object.defineProperty(auth, 'header', { value: header, enumerable: false });
  Object.defineProperty(auth, 'secrets', { value: Object.freeze([...secrets]), enumerable: false });
  Object.defineProperty(auth, 'toJSON', { value: () => ({ kind }), enumerable: false });
  return Object.freeze(auth);
}

export function bearerAuth(token: string): RegistryAuth {
  if (token.trim() === '') throw new InvalidInputError('The MLflow token is empty.');
  return sealed('bearer', `Bearer ${token}`, [token]);
}

export function basicAuth(username: string, password: string): RegistryAuth {
  if (username === '') throw new InvalidInputError('The MLflow username is empty.');
  const encoded = Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
  return sealed('basic', `Basic ${encoded}`, [password, encoded]);
}

export interface AuthSettings {
  readonly token?: string | undefined;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
}

/**
 * MLflow's precedence, as its code has it (its docstring says otherwise): basic auth when both a
 * username and a password are set, else the bearer token, else none.
 */
export function resolveAuth(settings: AuthSettings): RegistryAuth | undefined {
  const { token, username, password } = settings;
  if (username && password) return basicAuth(username, password);
  if (token) return bearerAuth(token);
  return undefined;
}

/** The conventional variables: MLFLOW_TRACKING_TOKEN, MLFLOW_TRACKING_USERNAME/PASSWORD. */
export function authFromEnv(env: NodeJS.ProcessEnv): RegistryAuth | undefined {
  return resolveAuth({
    token: env.MLFLOW_TRACKING_TOKEN,
    username: env.MLFLOW_TRACKING_USERNAME,
    password: env.MLFLOW_TRACKING_PASSWORD,
  });
}
