import type { Spelling } from './secrets';

/**
 * JSON documents as the fuzzer writes them: a small tree rendered to text, so that a string can
 * be spelled with `\uXXXX` escapes, a member can appear twice, and a deep or wide value is a
 * piece of text made by repetition (the generator never recurses into it).
 */
export type JV = null | boolean | number | string | Spelled | Raw | JV[] | Obj;

/** Text inserted as is (deep nesting, wide arrays, broken JSON). */
export class Raw {
  constructor(
    readonly text: string,
    readonly note: string,
  ) {}
}

/** A string spelled with JSON escapes; it parses to `value`. */
export class Spelled {
  constructor(
    readonly value: string,
    readonly spelling: Spelling,
  ) {}
}

/** An object with its members in order (a name may repeat: JSON.parse keeps the last). */
export class Obj {
  constructor(readonly members: (readonly [string | Spelled, JV])[]) {}
}

const hex4 = (n: number, upper: boolean) => {
  const h = n.toString(16).padStart(4, '0');
  return upper ? h.toUpperCase() : h;
};

/** `value` as a JSON string literal, spelled as asked. */
export function spell(value: string, how: Spelling): string {
  if (how === 'plain') return JSON.stringify(value);
  let out = '"';
  for (let i = 0; i < value.length; i += 1) {
    const unit = value.charCodeAt(i);
    const escaped = how !== 'escaped-some' || i % 2 === 0;
    if (escaped) out += `\\u${hex4(unit, how === 'escaped-upper')}`;
    else out += JSON.stringify(value[i]).slice(1, -1);
  }
  return `${out}"`;
}

/** The JSON text of a value. */
export function render(v: JV): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean' || typeof v === 'number') return JSON.stringify(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (v instanceof Spelled) return spell(v.value, v.spelling);
  if (v instanceof Raw) return v.text;
  if (Array.isArray(v)) return `[${v.map(render).join(',')}]`;
  return `{${v.members
    .map(([k, x]) => `${typeof k === 'string' ? JSON.stringify(k) : render(k)}:${render(x)}`)
    .join(',')}}`;
}

/** Arrays (`[[[…]]]`) or objects (`{"a":{"a":…}}`) nested `depth` levels, around `inner`. */
export function nested(depth: number, kind: 'array' | 'object', inner = '0'): Raw {
  const text =
    kind === 'array'
      ? `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`
      : `${'{"a":'.repeat(depth)}${inner}${'}'.repeat(depth)}`;
  return new Raw(text, `${kind} nested ${depth} deep`);
}

/** An array of `n` elements or an object of `n` members. */
export function wide(n: number, kind: 'array' | 'object'): Raw {
  const parts: string[] = [];
  for (let i = 0; i < n; i += 1) parts.push(kind === 'array' ? '0' : `"k${i}":0`);
  return new Raw(
    kind === 'array' ? `[${parts.join(',')}]` : `{${parts.join(',')}}`,
    `${kind} of ${n}`,
  );
}

/** Pads a JSON text with spaces after its first `{` (still the same document) to `bytes`. */
export function padToBytes(text: string, bytes: number): string {
  const missing = bytes - Buffer.byteLength(text);
  if (missing <= 0 || !text.startsWith('{')) return text;
  return `{${' '.repeat(missing)}${text.slice(1)}`;
}
