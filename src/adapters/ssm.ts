/**
 * The Upstash token from an SSM SecureString (UPSTASH_REDIS_REST_TOKEN_PARAMETER), through
 * Powertools Parameters, decrypted. The caller keeps it for the execution environment.
 */
import { getParameter } from '@aws-lambda-powertools/parameters/ssm';
import { messageOf } from '../core/apply.js';

/** Reads and decrypts the parameter; rejects with a message naming it. */
export async function readSecureParameter(name: string): Promise<string> {
  let value: string | undefined;
  try {
    // The cold start is the cache: Powertools' own cache would only add a maxAge to reason about.
    value = await getParameter(name, { decrypt: true, forceFetch: true });
  } catch (error) {
    throw new Error(`Could not read the SSM parameter ${name} (UPSTASH_REDIS_REST_TOKEN_PARAMETER): ${messageOf(error)}`, { cause: error });
  }
  if (!value) throw new Error(`The SSM parameter ${name} (UPSTASH_REDIS_REST_TOKEN_PARAMETER) is empty`);
  return value;
}
