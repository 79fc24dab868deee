import { AirlockError } from './errors';

/**
 * Bounds on every JSON value the gateway accepts from a caller, checked right after
 * `JSON.parse` (which V8 runs without recursion) by an iterative walk, before any other work.
 * Every later walk over request data (redaction, canonical JSON, hashing, logging) can then
 * rely on them; each of those walks also carries its own depth counter ({@link MAX_WALK_DEPTH}).
 */
export const INPUT_BOUNDS = {
  /** Nesting depth of objects and arrays (the envelope needs 2). */
  maxDepth: 16,
  /** Members of one object. */
  maxKeys: 256,
  /** Elements of one array. */
  maxArray: 1024,
  /** Code units of one string (or key); the body itself is at most 64 KB. */
  maxString: 32_768,
  /** Values in the whole document. */
  maxNodes: 8192,
} as const;

/** The deepest any walk over data may go; deeper is a bug, refused loudly, never a stack overflow. */
export const MAX_WALK_DEPTH = 64;

/** What a refused body's audit record keeps of it: at most this many characters. */
export const RENDERING_MAX_CHARS = 4096;

export interface Shape {
  bytes: number;
  depth: number;
  nodes: number;
  /** The widest object, the longest array and the longest string seen. */
  max_keys: number;
  max_array: number;
  max_string: number;
}

/**
 * The shape of a value, measured iteratively (any depth), stopping once it is far past the
 * bounds so that measuring costs no more than the body's size.
 */
export function shapeOf(value: unknown, bytes: number): Shape {
  const shape: Shape = { bytes, depth: 0, nodes: 0, max_keys: 0, max_array: 0, max_string: 0 };
  const stack: { v: unknown; d: number }[] = [{ v: value, d: 0 }];
  while (stack.length > 0) {
    const top = stack.pop();
    if (!top) break;
    shape.nodes += 1;
    const v = top.v;
    // Depth counts containers: `1` is 0 deep, `[1]` 1, `[[]]` 2.
    if (v !== null && typeof v === 'object' && top.d + 1 > shape.depth) shape.depth = top.d + 1;
    if (typeof v === 'string') {
      if (v.length > shape.max_string) shape.max_string = v.length;
    } else if (Array.isArray(v)) {
      if (v.length > shape.max_array) shape.max_array = v.length;
      for (const x of v) stack.push({ v: x, d: top.d + 1 });
    } else if (v !== null && typeof v === 'object') {
      const keys = Object.keys(v);
      if (keys.length > shape.max_keys) shape.max_keys = keys.length;
      for (const k of keys) {
        if (k.length > shape.max_string) shape.max_string = k.length;
        stack.push({ v: (v as Record<string, unknown>)[k], d: top.d + 1 });
      }
    }
  }
  return shape;
}

/** The first bound `shape` breaks, as a message, or null. */
function boundProblem(s: Shape): string | null {
  const b = INPUT_BOUNDS;
  if (s.depth > b.maxDepth) return `nesting is ${s.depth} levels deep; at most ${b.maxDepth}`;
  if (s.max_keys > b.maxKeys) return `an object has ${s.max_keys} members; at most ${b.maxKeys}`;
  if (s.max_array > b.maxArray) {
    return `an array has ${s.max_array} elements; at most ${b.maxArray}`;
  }
  if (s.max_string > b.maxString) {
    return `a string has ${s.max_string} characters; at most ${b.maxString}`;
  }
  if (s.nodes > b.maxNodes) return `the body holds ${s.nodes} values; at most ${b.maxNodes}`;
  return null;
}

/** A refused body, as its audit record keeps it: its first 4 KB and its shape. */
export interface BodyRendering {
  unparsed_body: string;
  truncated: boolean;
  shape?: Shape;
}

/** The first {@link RENDERING_MAX_CHARS} characters of `raw`, never splitting a surrogate pair. */
export function renderRaw(raw: string, shape?: Shape): BodyRendering {
  let head = raw.slice(0, RENDERING_MAX_CHARS);
  const last = head.charCodeAt(head.length - 1);
  if (head.length < raw.length && last >= 0xd800 && last <= 0xdbff) head = head.slice(0, -1);
  return { unparsed_body: head, truncated: head.length < raw.length, ...(shape ? { shape } : {}) };
}

/** Thrown for a body outside {@link INPUT_BOUNDS}; carries the rendering for the audit record. */
export class BoundsError extends AirlockError {
  constructor(
    message: string,
    readonly rendering: BodyRendering,
  ) {
    super('validation_failed', message, { details: [{ path: '(body)', message }] });
  }
}

/**
 * Parses a caller's JSON and checks it against {@link INPUT_BOUNDS}. Throws `invalid_json`
 * (400) for text that is not JSON, and a {@link BoundsError} (400 `validation_failed`) for a
 * value outside the bounds.
 */
export function parseBoundedJson(raw: string, invalidMessage: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new AirlockError('invalid_json', invalidMessage);
  }
  const shape = shapeOf(value, Buffer.byteLength(raw));
  const problem = boundProblem(shape);
  if (problem) {
    throw new BoundsError(
      `The body is too complex (${problem}); send the flat JSON the API describes.`,
      renderRaw(raw, shape),
    );
  }
  return value;
}

/**
 * A copy of `value` no deeper than `maxDepth`, for a value of unknown origin that must be
 * written somewhere (an audit record, a log line): deeper members become `"[depth limit]"`.
 * Iterative, so any depth is safe to hand it.
 */
export function clampDepth(value: unknown, maxDepth: number = INPUT_BOUNDS.maxDepth): unknown {
  const root: { v: unknown } = { v: undefined };
  const stack: { src: unknown; set: (x: unknown) => void; d: number }[] = [
    {
      src: value,
      set: (x) => {
        root.v = x;
      },
      d: 0,
    },
  ];
  while (stack.length > 0) {
    const top = stack.pop();
    if (!top) break;
    const { src, set, d } = top;
    if (src === null || typeof src !== 'object') {
      set(src);
    } else if (d >= maxDepth) {
      set('[depth limit]');
    } else if (Array.isArray(src)) {
      const out: unknown[] = new Array(src.length);
      set(out);
      src.forEach((x, i) => {
        stack.push({
          src: x,
          set: (y) => {
            out[i] = y;
          },
          d: d + 1,
        });
      });
    } else {
      const out: Record<string, unknown> = {};
      set(out);
      for (const [k, x] of Object.entries(src)) {
        stack.push({
          src: x,
          // defineProperty: a "__proto__" member is data like any other.
          set: (y) => Object.defineProperty(out, k, { value: y, enumerable: true, writable: true }),
          d: d + 1,
        });
      }
    }
  }
  return root.v;
}

/** Fails loudly when a recursive walk goes deeper than {@link MAX_WALK_DEPTH}. */
export function checkWalkDepth(depth: number): void {
  if (depth > MAX_WALK_DEPTH) {
    throw new AirlockError('internal_error', `a value nested over ${MAX_WALK_DEPTH} levels`);
  }
}
