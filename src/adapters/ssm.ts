/**
 * The Upstash token from an SSM SecureString (UPSTASH_REDIS_REST_TOKEN_PARAMETER), through
 * Powertools Parameters, decrypted. The caller keeps it for the execution environment.
 */
import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { messageOf } from '../errors.js';

/** Reads and decrypts the parameter; rejects with a message naming it. */
export async function readSecureParameter(name: string): Promise<string> {
  let value: string | undefined;
  try {
    // The cold start is the cache: Powertools' own cache would only add a maxAge to reason about.
    // Bounded, so that an SSM that hangs ends the run with a report, not at the Lambda's timeout.
    const provider = new SSMProvider({ clientConfig: { maxAttempts: 2, requestHandler: { connectionTimeout: 3_000, requestTimeout: 5_000 } } });
    value = await provider.get(name, { decrypt: true, forceFetch: true });
  } catch (error) {
    throw new Error(`Could not read the SSM parameter ${name} (UPSTASH_REDIS_REST_TOKEN_PARAMETER): ${messageOf(error)}`, { cause: error });
  }
  if (!value) throw new Error(`The SSM parameter ${name} (UPSTASH_REDIS_REST_TOKEN_PARAMETER) is empty`);
  return value;
}
