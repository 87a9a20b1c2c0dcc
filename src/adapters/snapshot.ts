/**
 * A read-only Cluster from a `kubectl get deploy,svc,ingress,cm,endpointslices -o json` dump
 * (a `List`, of one namespace or several), for `plan --snapshot`. It answers dry-run deletes
 * from what the file holds and refuses real ones.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config.js';
import { messageOf } from '../errors.js';
import type { KubeObject, Cluster, DeleteOutcome, EndpointSliceRecord, NamespaceObservation, ObservationSink, ResourceKind, ResourceRecord } from '../ports.js';
import { replay } from '../core/collect.js';
import type { EndpointSliceLike, MetadataLike } from './records.js';
import { toEndpointSliceRecord, toRecord } from './records.js';

const KINDS: Readonly<Record<string, ResourceKind | 'EndpointSlice'>> = {
  Deployment: 'Deployment',
  Service: 'Service',
  Ingress: 'Ingress',
  ConfigMap: 'ConfigMap',
  EndpointSlice: 'EndpointSlice',
};

interface RawObject {
  kind?: unknown;
  metadata?: MetadataLike;
}

export class SnapshotCluster implements Cluster {
  readonly description: string;
  private readonly resources = new Map<string, NamespaceObservation>();
  /** Objects of other kinds, or without a namespace, that were passed over. */
  readonly ignored: number;
  private readonly deploymentCount: number;

  /** Builds the cluster from the parsed JSON; throws ConfigError naming `source` when it is no List. */
  constructor(document: unknown, source: string, setting = '--snapshot') {
    this.description = `snapshot ${source}`;
    const items = listItems(document, source, setting);
    let ignored = 0;
    let deployments = 0;
    const seen = new Map<string, ResourceRecord>();
    for (const item of items) {
      // Own properties only: a `kind` of "__proto__" or "toString" is just an unknown kind.
      const kind = typeof item?.kind === 'string' && Object.hasOwn(KINDS, item.kind) ? KINDS[item.kind] : undefined;
      const namespace = item?.metadata?.namespace;
      if (!kind || typeof namespace !== 'string' || typeof item.metadata?.name !== 'string') {
        ignored++;
        continue;
      }
      const ns = this.namespace(namespace);
      // EndpointSlices are never acted on: every copy counts, so a ready endpoint in any spares.
      if (kind === 'EndpointSlice') {
        ns.endpointSlices.push(toEndpointSliceRecord(namespace, item as EndpointSliceLike));
        continue;
      }
      // A dump lists each object once; a repeated one is passed over, not acted on twice, but
      // a keep annotation on any copy holds (a dump at odds with itself must not clean more).
      const identity = `${kind}\u0000${namespace}\u0000${item.metadata.name}`;
      const record = toRecord(kind, namespace, item.metadata);
      const first = seen.get(identity);
      if (first) {
        if (record.keep) first.keep = true;
        ignored++;
        continue;
      }
      seen.set(identity, record);
      if (kind === 'Deployment') deployments++;
      listOf(ns, kind).push(record);
    }
    this.ignored = ignored;
    this.deploymentCount = deployments;
  }

  /** Reads and parses a dump file. */
  static fromFile(path: string, setting = '--snapshot'): SnapshotCluster {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new ConfigError(setting, `cannot read ${path}: ${messageOf(error)}`);
    }
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch (error) {
      throw new ConfigError(setting, `${path} is not JSON (${messageOf(error)}); make it with kubectl get deploy,svc,ingress,cm,endpointslices -o json`);
    }
    return new SnapshotCluster(document, path, setting);
  }

  async observe(namespace: string, sink: ObservationSink): Promise<void> {
    const ns = this.resources.get(namespace) ?? emptyObservation(namespace);
    const hasLabResources = ns.services.length + ns.ingresses.length + ns.configMaps.length > 0;
    // Without Deployments every session would look orphaned: refuse rather than mislead.
    if (hasLabResources && this.deploymentCount === 0) {
      throw new Error(`the snapshot holds no Deployments at all; was it made with kubectl get deploy,svc,ingress,cm,endpointslices -o json?`);
    }
    replay(ns, sink);
  }

  async delete(resource: ResourceRecord, { dryRun }: { dryRun: boolean }): Promise<DeleteOutcome> {
    if (!dryRun) throw new Error(`${this.description} is read-only: nothing can be deleted from a snapshot`);
    const current = this.find(resource.kind, resource.namespace, resource.name);
    if (!current) return 'gone';
    return current.uid === resource.uid ? 'deleted' : 'conflict';
  }

  async deploymentExists(namespace: string, name: string): Promise<boolean> {
    return this.find('Deployment', namespace, name) !== undefined;
  }

  /** A snapshot keeps only what a plan needs; a plan archives nothing, so it never reads objects whole. */
  async read(resource: ResourceRecord): Promise<KubeObject | 'gone'> {
    throw new Error(`${this.description} keeps no whole objects: ${resource.kind} ${resource.namespace}/${resource.name} cannot be read for an archive`);
  }

  private find(kind: ResourceKind, namespace: string, name: string): ResourceRecord | undefined {
    const ns = this.resources.get(namespace);
    return ns ? listOf(ns, kind).find((r) => r.name === name) : undefined;
  }

  private namespace(name: string): NamespaceObservation {
    let ns = this.resources.get(name);
    if (!ns) {
      ns = emptyObservation(name);
      this.resources.set(name, ns);
    }
    return ns;
  }
}

function listItems(document: unknown, source: string, setting: string): RawObject[] {
  const list = document as { kind?: unknown; items?: unknown } | null;
  if (!list || typeof list !== 'object' || Array.isArray(list)) {
    throw new ConfigError(setting, `${source} is not a Kubernetes List (expected an object with kind "List" and items)`);
  }
  if (typeof list.kind !== 'string' || !(list.kind === 'List' || list.kind.endsWith('List'))) {
    throw new ConfigError(setting, `${source} is not a Kubernetes List (its kind is ${JSON.stringify(list.kind)}); make it with kubectl get ... -o json`);
  }
  if (!Array.isArray(list.items)) throw new ConfigError(setting, `${source} is a List without an items array`);
  return list.items as RawObject[];
}

function listOf(ns: NamespaceObservation, kind: ResourceKind): ResourceRecord[] {
  switch (kind) {
    case 'Deployment':
      return ns.deployments;
    case 'Service':
      return ns.services;
    case 'Ingress':
      return ns.ingresses;
    case 'ConfigMap':
      return ns.configMaps;
  }
}

function emptyObservation(namespace: string): NamespaceObservation {
  return { namespace, deployments: [], services: [], ingresses: [], configMaps: [], endpointSlices: [] as EndpointSliceRecord[] };
}
