/**
 * The command line's default output: per namespace, then each session's action and reason.
 * Pure: a summary in, text out.
 */
import type { Summary } from '../core/report.js';
import { keysJudged } from '../core/report.js';

/** Left-aligned columns; numbers are right-aligned. */
export function columns(rows: string[][], numeric: ReadonlySet<number> = new Set()): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => (numeric.has(i) ? cell.padStart(widths[i]!) : i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export interface TableContext {
  command: 'plan' | 'apply';
  /** Where the cluster was read from. */
  source: string;
}

/** Renders a summary for a person. */
export function renderTable(summary: Summary, { command, source }: TableContext): string {
  const out: string[] = [];
  const mode = summary.dryRun ? 'dry run: nothing was deleted' : 'deletions were made';
  out.push(`lab-reconciler ${command} on ${source} (${mode})`);
  out.push(`status: ${summary.status}   started ${summary.startedAt}   took ${summary.durationMs} ms`);

  const judged = keysJudged(summary);
  if (summary.namespaces.length > 0) {
    const cleanedHeader = summary.dryRun ? 'WOULD CLEAN' : 'CLEANED';
    const rows = [['NAMESPACE', 'SERVICES', 'ORPHANED', cleanedHeader, 'SPARED', 'ERRORS', 'LEAKED', 'NOTE']];
    for (const ns of summary.namespaces) {
      const wouldClean = summary.sessions.filter((s) => s.namespace === ns.namespace && s.action === 'would-clean').length;
      rows.push([
        ns.namespace,
        String(ns.servicesChecked),
        String(ns.orphanedFound),
        String(summary.dryRun ? wouldClean : ns.cleanedUp),
        String(ns.spared),
        String(ns.errors),
        judged ? String(ns.leakedDeployments) : '-',
        ns.error ? `not reconciled: ${ns.error}` : '',
      ]);
    }
    const t = summary.totals;
    const wouldCleanTotal = summary.sessions.filter((s) => s.action === 'would-clean').length;
    rows.push(['TOTAL', String(t.servicesChecked), String(t.orphanedFound), String(summary.dryRun ? wouldCleanTotal : t.cleanedUp), String(t.spared), String(t.errors), judged ? String(t.leakedDeployments) : '-', '']);
    out.push('', columns(rows, new Set([1, 2, 3, 4, 5, 6])));
  }

  if (summary.sessions.length > 0) {
    const rows = [['NAMESPACE', 'LAB', 'SESSION', 'ACTION', 'REASON', 'RESOURCES']];
    for (const s of summary.sessions) {
      const detail = s.error ? `${s.resources.join(', ')}  (${s.error})` : s.resources.join(', ');
      rows.push([s.namespace, s.labType, s.sessionId, s.action, s.reason, detail]);
    }
    out.push('', 'Orphaned sessions (a Service, Ingress or ConfigMap without its Deployment):', columns(rows));
  } else if (summary.namespaces.length > 0) {
    out.push('', 'No orphaned sessions.');
  }

  const archived = [
    ...summary.sessions.flatMap((s) => (s.archive ? [[s.namespace, s.labType, s.sessionId, s.archive]] : [])),
    ...summary.staleSessionKeys.flatMap((k) => (k.archive ? [['-', '-', k.sessionId, k.archive]] : [])),
  ];
  if (archived.length > 0) {
    const rows = [['NAMESPACE', 'LAB', 'SESSION', 'ARCHIVE RECORD'], ...archived];
    out.push('', 'Archived before the deletes (lab-reconciler restore RECORD puts a session or a key back):', columns(rows));
  }

  out.push(...otherDirection(summary, judged));

  if (!summary.dryRun) {
    const stale = summary.totals.staleSessionKeysDeleted > 0 ? `, and ${summary.totals.staleSessionKeysDeleted} stale session keys` : '';
    out.push('', `Deleted ${summary.totals.resourcesDeleted} resources and ${summary.totals.sessionKeysDeleted} session keys${stale}.`);
  }
  if (summary.warnings.length > 0) {
    out.push('', 'Warnings:', ...summary.warnings.map((w) => `  - ${w}`));
  }
  out.push('', REASONS);
  return out.join('\n') + '\n';
}

/** The other direction: keys without a session, Deployments without a key (when the keys were read). */
function otherDirection(summary: Summary, judged: boolean): string[] {
  const out: string[] = [];
  if (summary.staleSessionKeys.length > 0) {
    const rows = [['KEY', 'ACTION', 'REASON', 'FIRST SEEN STALE']];
    for (const k of summary.staleSessionKeys) rows.push([k.key, k.action, k.reason, k.error ? `${k.firstSeenAt ?? '-'}  (${k.error})` : (k.firstSeenAt ?? '-')]);
    out.push('', 'Stale session keys (no Deployment, Service, Ingress or ConfigMap of the session in any namespace):', columns(rows));
  }
  if (summary.leakedDeployments.length > 0) {
    const rows = [['NAMESPACE', 'LAB', 'SESSION', 'DEPLOYMENT', 'AGE']];
    for (const d of summary.leakedDeployments) rows.push([d.namespace, d.labType, d.sessionId, d.name, age(d.ageSeconds)]);
    out.push('', 'Leaked Deployments (no session key: the session ended, its pods still run; never deleted, look at them):', columns(rows));
  }
  // Said only when the keys were judged: otherwise the warnings say why they were not.
  if (judged && summary.staleSessionKeys.length === 0 && summary.leakedDeployments.length === 0) {
    out.push('', 'No stale session keys and no leaked Deployments.');
  }
  return out;
}

/** `3d 4h`, `2h 5m`, `7m`: enough to tell a leak of minutes from one of days. */
function age(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  return `${m}m`;
}

const REASONS = [
  'Reasons: no-deployment = cleaned or to be cleaned; has-endpoints = a Service still has ready endpoints (look at it);',
  '  too-young = a resource is younger than RECONCILIATION_MIN_AGE_SECONDS; unconfirmed = not yet seen orphaned for',
  '  RECONCILIATION_CONFIRM_SECONDS; keep-annotation = lab-reconciler/keep: "true"; cap-exceeded = more sessions to clean',
  '  than RECONCILIATION_MAX_DELETIONS, so none was cleaned; archive-failed = its archive record could not be written, so',
  '  nothing of it was deleted (a later run retries).',
  'Stale keys: no-resources = reported (RECONCILIATION_STALE_KEYS=report) or deleted; unconfirmed = not yet seen stale, unchanged,',
  '  for max(RECONCILIATION_MIN_AGE_SECONDS, RECONCILIATION_CONFIRM_SECONDS); gone = deleted by somebody else first.',
].join('\n');
