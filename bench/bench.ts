/**
 * The benchmark itself, shared by `npm run bench` (bench/run.ts) and the smoke test: hosts
 * the local API server in this process and measures each scenario.
 */
import { startKubeApiServer } from '../test/support/kube-api-server.js';
import type { MeasureOptions, Row } from './measure.js';
import { measureScenario } from './measure.js';
import type { Scenario } from './scenarios.js';

/** Measures the scenarios in order, on one API server that is closed afterwards. */
export async function runBench(scenarios: readonly Scenario[], options: MeasureOptions): Promise<Row[]> {
  const server = await startKubeApiServer();
  try {
    const rows: Row[] = [];
    for (const scenario of scenarios) rows.push(await measureScenario(server, scenario, options));
    return rows;
  } finally {
    await server.close();
  }
}
