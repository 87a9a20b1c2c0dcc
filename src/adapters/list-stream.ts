/**
 * Reads a Kubernetes list response as it streams in. The body is scanned once for the bounds
 * of each element of the top-level `items` array; each element is parsed on its own and
 * handed over, and its bytes dropped. So a page never exists in memory whole, neither as
 * text nor as objects: what is held at any moment is the socket's chunk and the element being
 * read, whatever the page size. Fields of an element that nobody reads (`managedFields`, and
 * for the kinds read by metadata alone, anything but `metadata`) are skipped as they are
 * scanned, never copied nor parsed: JSON.parse, not the scan, is what costs per byte.
 * The PartialObjectMetadataList and the full list read alike: each has `items[].metadata`.
 */

/** The list-level fields a caller needs. */
export interface ListPageInfo {
  kind: string | undefined;
  /** The continue token; undefined on the last page. */
  continueToken: string | undefined;
  /** Elements of `items` seen. */
  items: number;
}

/** Which parts of each element are parsed. */
export interface ElementFields {
  /** Top-level fields of an element kept; undefined keeps all. */
  keep?: ReadonlySet<string>;
  /** Fields of an element's `metadata` replaced by null, unread. */
  dropFromMetadata?: ReadonlySet<string>;
}

/** A body that is not a list, or not JSON: the page cannot be trusted. */
export class ListDecodeError extends Error {
  override name = 'ListDecodeError';
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
/** Depth of: the list object, the items array, an element, the element's metadata. */
const LIST = 1;
const ITEMS = 2;
const ELEMENT = 3;
const ELEMENT_METADATA = 4;
/** JSON nested deeper than this is refused (a Kubernetes object is nowhere near). */
const MAX_DEPTH = 512;

/**
 * A push decoder: `write` each chunk as it arrives, then `end`. `onItem` is called once per
 * element of `items`, in order, with the element parsed (less the skipped fields).
 */
export class ListStreamDecoder {
  private depth = 0;
  /** Per depth: whether the container there is an object (keys) rather than an array. */
  private readonly isObject = new Uint8Array(MAX_DEPTH + 1);
  private inString = false;
  private escaped = false;
  private expectKey = false;
  /** The key whose value is being read, per depth that matters (list, element, metadata). */
  private readonly keys: string[] = ['', '', '', '', ''];
  /** A key (or the list's kind) being read: its start in the current chunk (-2: in an earlier chunk). */
  private textStart = -1;
  private textParts: Buffer[] = [];
  private readingKind = false;
  /** The element or list metadata being captured. */
  private capturing: 'item' | 'metadata' | undefined;
  private captureStart = 0;
  /** What was captured before the present chunk, not yet decoded (a character may be split). */
  private captureBytes: Buffer[] = [];
  /** What was captured and decoded so far: always ends at an ASCII bracket, never mid-character. */
  private captureText = '';
  /** Depth at which a skipped value ends; 0 when none is being skipped. */
  private skipUntil = 0;
  private sawItems = false;
  private kind: string | undefined;
  private metadata: { continue?: unknown } | undefined;
  private count = 0;

  constructor(
    private readonly onItem: (item: unknown) => void,
    private readonly fields: ElementFields = {},
  ) {}

  write(chunk: Buffer): void {
    if (this.capturing && this.skipUntil <= 0) this.captureStart = 0;
    if (this.textStart === -2) this.textStart = 0;
    const n = chunk.length;
    // The string state lives in locals in the loop: most bytes are inside strings.
    let inString = this.inString;
    let escaped = this.escaped;
    let nextBackslash = -1;
    for (let i = 0; i < n; i++) {
      if (this.skipUntil > 0) {
        // Inside a skipped value only its end matters: a tight loop over locals, no method calls.
        const stop = this.skipUntil;
        let depth = this.depth;
        for (; i < n; i++) {
          const b = chunk[i]!;
          if (inString) {
            if (escaped) escaped = false;
            else if (b === BACKSLASH) escaped = true;
            else if (b === QUOTE) inString = false;
          } else if (b === QUOTE) inString = true;
          else if (b === OPEN_OBJECT || b === OPEN_ARRAY) depth++;
          else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) {
            if (depth === stop) break;
            depth--;
          }
        }
        this.depth = depth;
        // The value goes on in the next chunk; otherwise chunk[i] closes it, read below.
        if (i === n) break;
      }
      const c = chunk[i]!;
      if (inString) {
        if (escaped) {
          escaped = false;
          continue;
        }
        // Jump to the string's closing quote unless a backslash comes first (memchr, not a byte loop).
        let quote = chunk.indexOf(QUOTE, i);
        if (quote === -1) quote = n;
        if (nextBackslash < i) {
          nextBackslash = chunk.indexOf(BACKSLASH, i);
          if (nextBackslash === -1) nextBackslash = n;
        }
        if (nextBackslash < quote) {
          i = nextBackslash;
          escaped = true;
          continue;
        }
        i = quote;
        if (quote === n) continue;
        inString = false;
        if (this.textStart !== -1) this.textEnded(chunk, i);
        continue;
      }
      if (c === QUOTE) {
        inString = true;
        if (this.depth <= ELEMENT_METADATA) this.stringStarted(i);
      } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        this.opened(c, chunk, i);
      } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
        this.closed(chunk, i);
      } else if (c === COMMA) {
        // A skipped key whose value was a scalar: nothing to skip.
        if (this.skipUntil === -1) this.skipUntil = 0;
        if (this.isObject[this.depth]) this.expectKey = true;
      } else if (c === COLON) {
        this.expectKey = false;
      } else if (c > 0x20 && this.depth <= ITEMS && this.skipUntil <= 0) {
        // A scalar where an element of items or the list itself belongs.
        if (this.depth === ITEMS && this.keys[LIST] === 'items') throw new ListDecodeError('an element of items is not an object');
        if (this.depth === 0) throw new ListDecodeError('the answer is not a list: it is not a JSON object');
      }
    }
    this.inString = inString;
    this.escaped = escaped;
    // What is being captured continues in the next chunk: keep this chunk's part of it.
    if (this.capturing && this.skipUntil <= 0) this.captureBytes.push(chunk.subarray(this.captureStart));
    if (this.textStart >= 0) {
      this.textParts.push(chunk.subarray(this.textStart));
      this.textStart = -2;
    }
  }

  /** Checks the body was one whole list; returns what the list says of itself. */
  end(): ListPageInfo {
    if (this.depth !== 0 || this.inString) throw new ListDecodeError('the body ended in the middle of the list');
    if (!this.sawItems) throw new ListDecodeError(`the answer is not a list${this.kind ? ` (kind ${this.kind})` : ''}`);
    const token = this.metadata?.continue;
    return { kind: this.kind, continueToken: typeof token === 'string' && token !== '' ? token : undefined, items: this.count };
  }

  /** Keys are read at the depths that matter; so is the list's `kind`. */
  private stringStarted(i: number): void {
    if (this.skipUntil > 0) return;
    const depth = this.depth;
    if (this.expectKey && (depth === LIST || (this.capturing === 'item' && (depth === ELEMENT || (depth === ELEMENT_METADATA && this.keys[ELEMENT] === 'metadata'))))) {
      this.textStart = i + 1;
    } else if (!this.expectKey && depth === LIST && this.keys[LIST] === 'kind') {
      this.textStart = i + 1;
      this.readingKind = true;
    }
  }

  private textEnded(chunk: Buffer, i: number): void {
    const start = Math.max(0, this.textStart);
    const text = this.textParts.length === 0 ? chunk.toString('utf8', start, i) : Buffer.concat([...this.textParts, chunk.subarray(start, i)]).toString('utf8');
    this.textParts = [];
    this.textStart = -1;
    if (this.readingKind) {
      this.kind = text;
      this.readingKind = false;
    } else {
      this.keys[this.depth] = text;
      if (this.capturing === 'item' && this.skips(text)) this.skipUntil = -1;
    }
  }

  /** Whether the value of this key, at the present depth of an element, is skipped. */
  private skips(key: string): boolean {
    if (this.depth === ELEMENT) return this.fields.keep !== undefined && !this.fields.keep.has(key);
    return this.depth === ELEMENT_METADATA && this.fields.dropFromMetadata?.has(key) === true;
  }

  private opened(c: number, chunk: Buffer, i: number): void {
    const depth = ++this.depth;
    if (depth > MAX_DEPTH) throw new ListDecodeError('the answer is nested too deeply');
    this.isObject[depth] = c === OPEN_OBJECT ? 1 : 0;
    this.expectKey = c === OPEN_OBJECT;
    if (this.skipUntil === -1) {
      // The value of a skipped key: replaced by null in the element, then read past.
      this.captureText += `${this.decodeCaptured(chunk, i)}null`;
      this.skipUntil = depth;
      return;
    }
    if (this.skipUntil > 0) return;
    if (depth === LIST) {
      if (c !== OPEN_OBJECT) throw new ListDecodeError('the answer is not a list: it is not a JSON object');
    } else if (depth === ITEMS) {
      const key = this.keys[LIST];
      if (key === 'items') {
        if (c !== OPEN_ARRAY) throw new ListDecodeError('items is not an array');
        this.sawItems = true;
      } else if (key === 'metadata' && c === OPEN_OBJECT) this.startCapture('metadata', i);
    } else if (depth === ELEMENT && this.keys[LIST] === 'items') {
      if (c !== OPEN_OBJECT) throw new ListDecodeError('an element of items is not an object');
      this.keys[ELEMENT] = '';
      this.startCapture('item', i);
    } else if (depth === ELEMENT_METADATA) {
      this.keys[ELEMENT_METADATA] = '';
    }
  }

  private closed(chunk: Buffer, i: number): void {
    const depth = this.depth--;
    if (depth <= 0) throw new ListDecodeError('unbalanced brackets');
    if (this.skipUntil === -1) this.skipUntil = 0;
    if (this.skipUntil === depth) {
      this.skipUntil = 0;
      this.captureStart = i + 1;
    } else if (this.skipUntil === 0) {
      if (this.capturing === 'item' && depth === ELEMENT) this.endCapture(chunk, i);
      else if (this.capturing === 'metadata' && depth === ITEMS) this.endCapture(chunk, i);
      if (depth === ITEMS) this.keys[LIST] = '';
    }
    this.expectKey = false;
  }

  private startCapture(what: 'item' | 'metadata', i: number): void {
    this.capturing = what;
    this.captureStart = i;
    this.captureBytes = [];
    this.captureText = '';
  }

  /** The captured bytes up to `end` of this chunk, decoded; they end at an ASCII byte. */
  private decodeCaptured(chunk: Buffer, end: number): string {
    if (this.captureBytes.length === 0) return chunk.toString('utf8', this.captureStart, end);
    const text = Buffer.concat([...this.captureBytes, chunk.subarray(this.captureStart, end)]).toString('utf8');
    this.captureBytes = [];
    return text;
  }

  private endCapture(chunk: Buffer, i: number): void {
    const text = this.captureText + this.decodeCaptured(chunk, i + 1);
    this.captureText = '';
    const what = this.capturing;
    this.capturing = undefined;
    this.captureBytes = [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new ListDecodeError(`an element of the list is not JSON: ${(error as Error).message}`);
    }
    if (what === 'metadata') {
      this.metadata = parsed as { continue?: unknown };
    } else {
      this.count++;
      this.onItem(parsed);
    }
  }
}
