/**
 * `lab-reconciler restore SOURCE`: puts back what archive records hold, with the operator's
 * credentials (the reconciler's own Role cannot create). The flags, the sources, the table.
 */
import { ConfigError } from '../config.js';
import type { ArchiveReader, KeyRestorer, Logger, ResourceCreator } from '../ports.js';
import type { RestoreSummary } from '../restore.js';
import { restore } from '../restore.js';
import { DirectoryRecords } from '../adapters/dir-archive.js';
import { S3Records, createS3Client, parseS3Uri } from '../adapters/s3-archive.js';
import { KEEP_ANNOTATION } from '../core/naming.js';
import { columns } from './table.js';

export interface RestoreFlags {
  source: string;
  dryRun: boolean;
  keep: boolean;
  session: string | undefined;
}

/** Runs a restore; resolves to its summary. Bad flags are ConfigErrors, before any request. */
export async function runRestore(
  flags: RestoreFlags,
  /** RECONCILIATION_NAMESPACES, narrowed by --namespaces. */
  allowlist: readonly string[],
  deps: { env: Readonly<Record<string, string | undefined>>; cluster: () => Promise<ResourceCreator>; store: () => Promise<KeyRestorer | undefined>; logger: Logger },
): Promise<RestoreSummary> {
  const session = parseSession(flags.session);
  const reader = readerFor(flags.source, deps.env);
  const cluster = await deps.cluster();
  const store = await deps.store();
  deps.logger.info(`Restoring from ${flags.source} to ${cluster.description}${flags.dryRun ? ' (dry run)' : ''}`);
  return restore(
    { source: flags.source, dryRun: flags.dryRun, keep: flags.keep, allowlist, ...(session ? { session } : {}) },
    { reader, cluster, store, logger: deps.logger },
  );
}

function readerFor(source: string, env: Readonly<Record<string, string | undefined>>): ArchiveReader {
  if (source.startsWith('s3://')) {
    if (!parseS3Uri(source)?.bucket) throw new ConfigError('SOURCE', `must be a record, a directory or s3://bucket/prefix, got ${JSON.stringify(source)}`);
    return new S3Records(createS3Client({ env }), source);
  }
  return new DirectoryRecords(source);
}

/** `NAMESPACE/SESSION_ID`. */
function parseSession(value: string | undefined): { namespace: string; sessionId: string } | undefined {
  if (value === undefined) return undefined;
  const match = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([^/\s]+)$/.exec(value);
  if (!match) throw new ConfigError('--session', `must be NAMESPACE/SESSION_ID, such as jupyter-lab/abc123, got ${JSON.stringify(value)}`);
  return { namespace: match[1]!, sessionId: match[3]! };
}

/** The restore, for a person: per record, each object and what became of it. */
export function renderRestoreTable(summary: RestoreSummary): string {
  const out: string[] = [];
  out.push(`lab-reconciler restore from ${summary.source}${summary.dryRun ? ' (dry run: nothing was created)' : ''}`, `status: ${summary.status}`);
  const rows = [['NAMESPACE', 'LAB', 'SESSION', 'OBJECT', 'ACTION', 'DETAIL']];
  for (const r of summary.records) {
    const where = [r.namespace ?? '-', r.labType ?? '-', r.sessionId ?? '-'];
    // Name the record, unless its error already does.
    if (r.error !== undefined) rows.push([...where, '-', 'failed', r.error.includes(r.record) ? r.error : `${r.record}: ${r.error}`]);
    for (const o of r.objects) rows.push([...where, `${o.kind}/${o.name}`, o.action, o.error ?? (o.action === 'exists' ? 'exists now: left as it is' : '')]);
  }
  if (rows.length > 1) out.push('', columns(rows));
  const t = summary.totals;
  out.push('', `${summary.dryRun ? 'Would restore' : 'Restored'} ${t.restored} objects from ${t.records} records; ${t.exists} were there already (never replaced); ${t.failed} failed.`);
  const annotated = summary.records.filter((r) => r.objects.some((o) => o.kind !== 'SessionKey' && (o.action === 'restored' || o.action === 'would-restore')));
  if (summary.keepAnnotation && annotated.length > 0) {
    out.push(`The restored resources carry ${KEEP_ANNOTATION}: "true", so the reconciler leaves them alone while their Deployment is missing. Once a session is whole again, take it off:`);
    for (const r of annotated) {
      const names = r.objects.filter((o) => o.kind !== 'SessionKey' && (o.action === 'restored' || o.action === 'would-restore')).map((o) => `${o.kind.toLowerCase()}/${o.name}`);
      out.push(`  kubectl annotate -n ${r.namespace} ${names.join(' ')} ${KEEP_ANNOTATION}-`);
    }
  }
  if (summary.warnings.length > 0) out.push('', 'Warnings:', ...summary.warnings.map((w) => `  - ${w}`));
  return `${out.join('\n')}\n`;
}
