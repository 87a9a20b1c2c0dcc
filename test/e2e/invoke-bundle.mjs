// Imports the built dist/handler.mjs in a fresh process (a cold start), invokes it once with
// the event in argv[2] and a Lambda-like context, and writes the result, or the error it
// threw, as JSON to the file named by E2E_RESULT_FILE. stdout keeps what the function wrote
// (JSON logs and EMF documents), as CloudWatch Logs would receive it.
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const bundle = pathToFileURL(process.env.E2E_BUNDLE ?? 'dist/handler.mjs').href;
const remaining = Number(process.env.E2E_REMAINING_MS ?? 300000);
const started = Date.now();
const context = {
  awsRequestId: 'e2e-request-0001',
  functionName: 'lab-reconciler-dev-reconcile',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:lab-reconciler-dev-reconcile',
  memoryLimitInMB: '256',
  getRemainingTimeInMillis: () => remaining - (Date.now() - started),
};
let outcome;
try {
  const { handler } = await import(bundle);
  outcome = { result: await handler(JSON.parse(process.argv[2] ?? '{}'), context) };
} catch (error) {
  outcome = { error: { name: error?.name, message: error?.message ?? String(error) } };
}
writeFileSync(process.env.E2E_RESULT_FILE, JSON.stringify({ ...outcome, node: process.version }));
