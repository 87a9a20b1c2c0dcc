/**
 * Content negotiation of the response, as the real API server does it
 * (k8s.io/apiserver/pkg/endpoints/handlers/negotiation and handlers/response.go): which
 * representation the `Accept` header asks for, and how a Status is written when none of
 * its media ranges can be served.
 *
 * This server writes JSON only: a range of `application/yaml` or
 * `application/vnd.kubernetes.protobuf` is accepted as the real server accepts it, and
 * answered in JSON. Of the `as=` conversions, this server serves the metadata ones, the
 * only ones the product asks for; `as=Table` (kubectl's printing) is out of its scope, and
 * answered as the real server answers a conversion an endpoint does not serve: 406, or the
 * next range of the header.
 */
import type { KubeStatus } from './status.js';

/** One media range of an Accept header, as goautoneg.ParseAccept reads it. */
export interface AcceptClause {
  type: string;
  subType: string;
  q: number;
  params: Record<string, string>;
}

/** The metadata-only representations a client may ask for with `as=`. */
export type MetadataKind = 'PartialObjectMetadata' | 'PartialObjectMetadataList';

/** What the answer is converted to: nothing (the object itself) or its metadata. */
export interface Conversion {
  kind: MetadataKind;
  /** `meta.k8s.io/v1` or `meta.k8s.io/v1beta1`. */
  apiVersion: string;
}

/** The outcome of a negotiation that succeeded; `convert` undefined for the full object. */
export interface Negotiated {
  convert?: Conversion;
}

/**
 * Which conversions an endpoint serves. `resource` is a built-in resource's RequestScope;
 * `default` is negotiation.DefaultEndpointRestrictions, which errors are written with.
 */
export type Restrictions = 'resource' | 'default';

/** The media types of the built-in resources' serializer, in the server's order. */
const SERVED: ReadonlyArray<{ type: string; subType: string }> = [
  { type: 'application', subType: 'json' },
  { type: 'application', subType: 'yaml' },
  { type: 'application', subType: 'vnd.kubernetes.protobuf' },
];

/** The message of the 406 for an Accept header none of whose ranges can be served. */
export const NOT_ACCEPTABLE_MESSAGE = `only the following media types are accepted: ${SERVED.map((m) => `${m.type}/${m.subType}`).join(', ')}`;

/**
 * The media ranges of a header: comma-separated, parameters after `;`, `q` read as a
 * weight, sorted by weight then specificity (a stable sort: equal ranges keep their order).
 */
export function parseAccept(header: string): AcceptClause[] {
  const clauses: AcceptClause[] = [];
  for (const part of header.split(',')) {
    const [range = '', ...rawParams] = part.trim().split(';');
    const slash = range.split('/');
    const type = slash[0]!.trim();
    let subType: string;
    if (slash.length === 1 && type === '*') subType = '*';
    else if (slash.length === 2) subType = slash[1]!.trim();
    else continue;
    const clause: AcceptClause = { type, subType, q: 1, params: {} };
    for (const raw of rawParams) {
      const eq = raw.indexOf('=');
      if (eq < 0) continue;
      const key = raw.slice(0, eq).trim();
      const value = raw.slice(eq + 1).trim();
      if (key === 'q') {
        const q = Number.parseFloat(value);
        clause.q = Number.isNaN(q) ? 0 : q;
      } else clause.params[key] = value;
    }
    clauses.push(clause);
  }
  const wildcard = (s: string) => (s === '*' ? 1 : 0);
  return clauses.sort((a, b) => b.q - a.q || wildcard(a.type) - wildcard(b.type) || wildcard(a.subType) - wildcard(b.subType));
}

/**
 * NegotiateMediaTypeOptions: the first range (in the sorted order) that names a served media
 * type and whose parameters the endpoint allows. No header at all means the default (JSON);
 * undefined means nothing can be served: the real server answers 406 NotAcceptable.
 */
export function negotiate(accept: string | undefined, restrictions: Restrictions): Negotiated | undefined {
  if (!accept) return {};
  for (const clause of parseAccept(accept)) {
    for (const served of SERVED) {
      const matches =
        (clause.type === served.type && (clause.subType === served.subType || clause.subType === '*')) ||
        (clause.type === '*' && clause.subType === '*');
      if (!matches) continue;
      const options = acceptOptions(clause.params, served.subType, restrictions);
      if (options) return options;
    }
  }
  return undefined;
}

/** acceptMediaTypeOptions: the conversion a range asks for, undefined when it is not allowed. */
function acceptOptions(params: Record<string, string>, subType: string, restrictions: Restrictions): Negotiated | undefined {
  let gvk: { group: string; version: string; kind: string } | undefined;
  for (const [key, value] of Object.entries(params)) {
    switch (key) {
      case 'as':
        gvk = { group: '', version: '', ...gvk, kind: value };
        break;
      case 'g':
        gvk = { kind: '', version: '', ...gvk, group: value };
        break;
      case 'v':
        gvk = { kind: '', group: '', ...gvk, version: value };
        break;
      case 'stream':
        // Only `watch`, and YAML has no stream serializer.
        if (value && (value !== 'watch' || subType === 'yaml')) return undefined;
        break;
      case 'sv':
        // RequestScope.AllowsServerVersion: the meta group's version; the default allows none.
        if (value && (restrictions === 'default' || value !== 'v1')) return undefined;
        break;
      default:
        // export, pretty and unknown parameters do not make a range unacceptable.
        break;
    }
  }
  if (!gvk) return {};
  // DefaultEndpointRestrictions allow no conversion; a resource's scope allows the
  // metadata kinds of meta.k8s.io/v1 and v1beta1 (and Table, which this server lacks).
  if (restrictions === 'default') return undefined;
  if (gvk.group !== 'meta.k8s.io' || (gvk.version !== 'v1' && gvk.version !== 'v1beta1')) return undefined;
  if (gvk.kind !== 'PartialObjectMetadata' && gvk.kind !== 'PartialObjectMetadataList') return undefined;
  return { convert: { kind: gvk.kind, apiVersion: `${gvk.group}/${gvk.version}` } };
}

/**
 * A Status as the real server writes an error: through ErrorNegotiated, with the default
 * restrictions. When no range of the header can be served that way (a header of `as=`
 * ranges only), WriteObjectNegotiated falls back to WriteRawJSON: Go's json.MarshalIndent
 * with two spaces, which also escapes `<`, `>` and `&`.
 */
export function statusJson(status: KubeStatus, accept: string | undefined, ignoreAccept = false): string {
  if (ignoreAccept || negotiate(accept, 'default')) return JSON.stringify(status);
  return JSON.stringify(status, null, 2).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
