/**
 * `metadata.managedFields` as the API server writes them: which manager set which fields,
 * in the `FieldsV1` form (`f:` a field, `k:` a keyed list item, `.` a set owned itself),
 * made from the fields a manager set. For the production-shaped builders (production.ts).
 */
import type { BuildOptions } from './resources.js';

/**
 * One managedFields entry: `manager` set `fields` of the object by an Update at `when`.
 * `shape` names what the field set depends on (the kind, the manager and the keys the
 * options add): objects of one shape share one frozen `fieldsV1`, which spares a bench that
 * builds half a million objects most of the work. Values never appear in a field set, only
 * keys, so sessions of one shape have the same one.
 */
export function managed(manager: string, apiVersion: string, when: string, fields: unknown, shape: string, subresource?: string) {
  const key = `${shape}/${manager}/${subresource ?? ''}`;
  let set = FIELD_SETS.get(key);
  if (!set) FIELD_SETS.set(key, (set = deepFreeze(fieldsV1(fields))));
  return { manager, operation: 'Update', apiVersion, time: when, fieldsType: 'FieldsV1', fieldsV1: set, ...(subresource ? { subresource } : {}) };
}

const FIELD_SETS = new Map<string, Record<string, unknown>>();

/** The keys options add to an object's labels and annotations: what its field sets depend on beyond its kind. */
export function shapeOf(kind: string, options: BuildOptions): string {
  return `${kind}[${Object.keys(options.labels ?? {}).join(',')}][${Object.keys(options.annotations ?? {}).join(',')}]`;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Lists the server treats as atomic (`+listType=atomic`): one `{}` for the whole list. */
const ATOMIC_LISTS = new Set(['rules', 'tls', 'ingress', 'endpoints']);
/** Fields owned as a whole (`+structType=atomic`, `+mapType=atomic`). */
const ATOMIC_FIELDS = new Set(['selector', 'fieldRef', 'resourceFieldRef', 'secretKeyRef', 'seccompProfile', 'capabilities']);
/** Structs always present, so their set carries no `.` of its own. */
const STRUCTS = new Set(['metadata', 'spec', 'status', 'template', 'strategy']);

/** The associative key of a list item, as the server's schema names it; undefined for an atomic list. */
function listKey(field: string, item: Record<string, unknown>): Record<string, unknown> | undefined {
  if ('containerPort' in item) return { containerPort: item.containerPort, protocol: item.protocol };
  if (field === 'ports' && 'port' in item) return { port: item.port, protocol: item.protocol };
  if ('mountPath' in item) return { mountPath: item.mountPath };
  if (field === 'conditions') return { type: item.type };
  if ('uid' in item) return { uid: item.uid };
  if ('name' in item) return { name: item.name };
  return undefined;
}

/** The `fieldsV1` of a manager that set `value`: `f:` per field, `k:` per keyed list item, `.` for a set owned itself. */
function fieldsV1(value: unknown, own = false): Record<string, unknown> {
  const out: Record<string, unknown> = own ? { '.': {} } : {};
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
  for (const [field, child] of entries) out[`f:${field}`] = fieldSet(field, child);
  return out;
}

function fieldSet(field: string, child: unknown): Record<string, unknown> {
  if (Array.isArray(child)) {
    const items = child as Array<Record<string, unknown>>;
    if (ATOMIC_LISTS.has(field) || items.length === 0 || typeof items[0] !== 'object') return {};
    const keys = items.map((item) => listKey(field, item));
    if (keys.some((key) => key === undefined)) return {};
    const set: Record<string, unknown> = { '.': {} };
    // An owner reference is owned whole: its key is all there is of it.
    items.forEach((item, i) => (set[`k:${JSON.stringify(keys[i])}`] = field === 'ownerReferences' ? {} : fieldsV1(item, true)));
    return set;
  }
  if (child === null || typeof child !== 'object' || ATOMIC_FIELDS.has(field) || Object.keys(child).length === 0) return {};
  return fieldsV1(child, !STRUCTS.has(field));
}
