import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { EventError, narrowSettings, parseEvent } from '../src/event.js';

const config = (env: Record<string, string> = {}) => loadConfig({ env: { EKS_CLUSTER_NAME: 'c', AWS_REGION: 'eu-west-1', ...env }, defaultMode: 'eks' });

describe('narrowSettings', () => {
  it('narrows namespaces, makes a run dry, and sets the cap', () => {
    // Act
    const settings = narrowSettings(config(), parseEvent({ dryRun: true, namespaces: ['ubuntu-lab'], maxDeletions: 5 }, config().namespaces));

    // Assess
    expect(settings).toMatchObject({ namespaces: ['ubuntu-lab'], dryRun: true, maxDeletions: 5, minAgeSeconds: 300, confirmSeconds: 240 });
  });

  it('runs a scheduled event as configured', () => {
    const scheduled = { version: '0', id: 'x', 'detail-type': 'Scheduled Event', source: 'aws.events', account: '1', time: '2026-11-26T12:00:00Z', region: 'eu-west-1', resources: [], detail: {} };
    expect(narrowSettings(config(), parseEvent(scheduled, config().namespaces))).toMatchObject({ dryRun: false, maxDeletions: 50, namespaces: config().namespaces });
  });

  it('never lifts RECONCILIATION_DRY_RUN=true with {"dryRun": false}', () => {
    const dry = config({ RECONCILIATION_DRY_RUN: 'true' });
    expect(() => narrowSettings(dry, parseEvent({ dryRun: false }, dry.namespaces))).toThrow(EventError);
    expect(() => narrowSettings(dry, parseEvent({ dryRun: false }, dry.namespaces))).toThrow(/dryRun cannot be false while RECONCILIATION_DRY_RUN is true/);
  });

  it('does not drop request fields from an event that looks scheduled', () => {
    expect(() => parseEvent({ source: 'aws.events', 'detail-type': 'Scheduled Event', dryRun: true }, ['jupyter-lab'])).toThrow(/Unknown event field "source"/);
  });
});
