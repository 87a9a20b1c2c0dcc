/**
 * CloudWatch metrics in Embedded Metric Format, written once per run to stdout through
 * Powertools Metrics (no API call: CloudWatch Logs extracts them). The values come from the
 * summary alone (core/report.ts); this is the one place that emits them.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricName, Summary } from '../core/report.js';
import { metricValues } from '../core/report.js';

export interface MetricsTarget {
  /** CloudWatch namespace (METRICS_NAMESPACE). */
  namespace: string;
  /** The `Cluster` dimension. */
  cluster: string;
}

function unitOf(name: MetricName): (typeof MetricUnit)[keyof typeof MetricUnit] {
  return name === 'DurationMs' ? MetricUnit.Milliseconds : MetricUnit.Count;
}

/**
 * Emits the run's metrics (dimension Cluster) and the per-namespace ones (Cluster, Namespace),
 * one EMF document per dimension set.
 */
export function publishMetrics(summary: Summary, target: MetricsTarget): void {
  const metrics = new Metrics({ namespace: target.namespace });
  // Powertools adds a `service` dimension by default; the contract's dimension set is
  // exactly {Cluster} (and {Cluster, Namespace}), which the alarms match on.
  metrics.clearDefaultDimensions();
  metrics.setDefaultDimensions({ Cluster: target.cluster });
  const values = metricValues(summary);
  for (const ns of values.namespaces) {
    metrics.addDimension('Namespace', ns.namespace);
    for (const [name, value] of Object.entries(ns.values) as [MetricName, number][]) metrics.addMetric(name, unitOf(name), value);
    metrics.publishStoredMetrics();
  }
  for (const [name, value] of Object.entries(values.run) as [MetricName, number][]) metrics.addMetric(name, unitOf(name), value);
  metrics.publishStoredMetrics();
}
