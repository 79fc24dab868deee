/**
 * The gateway's one Unicode policy (docs: README "What the gateway refuses and strips"). Hidden
 * characters (those a person cannot see, or that reorder what they see) and control characters
 * are how instructions get smuggled into text an LLM or a human approver reads. The classes come
 * from the Unicode standard through the properties JavaScript regular expressions know, so the
 * list follows the standard instead of a hand-written list:
 *
 * - `Default_Ignorable_Code_Point`: zero-width characters, the word joiner, variation selectors,
 *   the combining grapheme joiner (U+034F), Hangul fillers (U+115F, U+1160, U+3164, U+FFA0),
 *   the Mongolian vowel separator (U+180E) and the whole tag block (U+E0000–E0FFF, the "ASCII
 *   smuggling" channel);
 * - `Bidi_Control`: embeddings, overrides, isolates, marks, the Arabic letter mark (U+061C);
 * - `Cf` (format): the soft hyphen, the BOM, interlinear annotation marks (U+FFF9–FFFB), ...;
 * - `Zl`, `Zp`: the line and paragraph separators (U+2028, U+2029);
 * - `Cs`: a lone surrogate (never well-formed text);
 * - `Cc`: every control character, except tab and new lines in multi-line fields.
 *
 * A well-formed emoji sequence (`RGI_Emoji`) is one visible picture even though it is built with
 * joiners, variation selectors or tags ("❤️", flags, family emoji): inside one it is allowed.
 */

const HIDDEN = String.raw`\p{Default_Ignorable_Code_Point}\p{Bidi_Control}\p{Cf}\p{Zl}\p{Zp}\p{Cs}`;

/** Where text may run over several lines (a note body, a prompt): tab, LF and CR are allowed. */
export type TextKind = 'line' | 'multiline';

/** One unsafe character (global, for scanning). */
const UNSAFE: Record<TextKind, RegExp> = {
  line: new RegExp(`[${HIDDEN}\\p{Cc}]`, 'gu'),
  multiline: new RegExp(`[${HIDDEN}]|(?![\\t\\n\\r])\\p{Cc}`, 'gu'),
};

/** Printable ASCII (plus, in multi-line text, tab and new lines) holds nothing unsafe. */
const PLAIN: Record<TextKind, RegExp> = {
  line: /^[\x20-\x7e]*$/,
  multiline: /^[\x20-\x7e\t\n\r]*$/,
};

/**
 * Runs of characters that can make up an emoji sequence; only inside one can an emoji start,
 * so the costly `RGI_Emoji` match (built at run time: the `v` flag is newer than the TypeScript
 * target) runs on these short runs, never on the whole text.
 */
const EMOJI_RUN = /[\p{Emoji}\p{Emoji_Component}]+/gu;
/** Held in a variable so that the pattern is compiled at run time. */
const UNICODE_SETS = 'gv';
const RGI_EMOJI = new RegExp(String.raw`\p{RGI_Emoji}`, UNICODE_SETS);
const CONTROL_CHAR = /\p{Cc}/u;

/** The [start, end) spans (UTF-16 indexes) of the well-formed emoji sequences of `text`. */
function emojiSpans(text: string): [number, number][] {
  const spans: [number, number][] = [];
  for (const run of text.matchAll(EMOJI_RUN)) {
    for (const m of run[0].matchAll(RGI_EMOJI)) {
      const at = run.index + m.index;
      spans.push([at, at + m[0].length]);
    }
  }
  return spans;
}

/** Every unsafe character of `text` outside emoji sequences, with its index, in order. */
function unsafeChars(text: string, kind: TextKind): { char: string; index: number }[] {
  if (PLAIN[kind].test(text)) return [];
  const found: { char: string; index: number }[] = [];
  let spans: [number, number][] | null = null;
  for (const m of text.matchAll(UNSAFE[kind])) {
    spans ??= emojiSpans(text);
    const i = m.index;
    if (!spans.some(([a, b]) => a <= i && i < b)) found.push({ char: m[0], index: i });
  }
  return found;
}

/** Code point as `U+XXXX`, for messages and displays. */
export function codePointName(ch: string): string {
  return `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The first unsafe character of `text` (outside emoji sequences), or null when there is none. */
export function findUnsafe(text: string, kind: TextKind): { char: string; index: number } | null {
  return unsafeChars(text, kind)[0] ?? null;
}

/** A message naming the first unsafe character of `text`, or null when it is clean. */
export function unsafeTextProblem(text: string, kind: TextKind): string | null {
  const found = findUnsafe(text, kind);
  if (!found) return null;
  const what = CONTROL_CHAR.test(found.char) ? 'a control character' : 'a hidden character';
  return `contains ${what} (${codePointName(found.char)}) that a person cannot see; send visible text only${kind === 'multiline' ? ' (new lines and tabs are fine)' : ''}`;
}

/** True for one code point that the policy refuses (a control, hidden or lone surrogate). */
export function isUnsafeChar(ch: string): boolean {
  return findUnsafe(ch, 'line') !== null;
}

/**
 * The display units of `text`: each emoji sequence whole, every other code point on its own
 * (for displays that show an unsafe character as `[U+XXXX]`, like the Slack message).
 */
export function displayUnits(text: string): string[] {
  const units: string[] = [];
  let at = 0;
  for (const [a, b] of emojiSpans(text)) {
    units.push(...Array.from(text.slice(at, a)), text.slice(a, b));
    at = b;
  }
  units.push(...Array.from(text.slice(at)));
  return units;
}

/** `text` with each unsafe character outside emoji sequences replaced by `replace(char)`. */
function replaceUnsafe(text: string, kind: TextKind, replace: (ch: string) => string): string {
  const found = unsafeChars(text, kind);
  if (found.length === 0) return text;
  let out = '';
  let at = 0;
  for (const { char, index } of found) {
    out += text.slice(at, index) + replace(char);
    at = index + char.length;
  }
  return out + text.slice(at);
}

/** `text` with every unsafe character shown as `[U+XXXX]`: what was sent, made visible. */
export function visibleRendering(text: string, kind: TextKind = 'line'): string {
  return replaceUnsafe(text, kind, (ch) => `[${codePointName(ch)}]`);
}

/** `text` with every hidden and control character removed, emoji or not (for matching only). */
export function stripForMatching(text: string): string {
  return text.replace(UNSAFE.multiline, '');
}

/** The compatibility normalisation applied to every string before a policy check (NFKC). */
export function normalizeText(text: string): string {
  return text.normalize('NFKC');
}

export interface CleanText {
  text: string;
  truncated: boolean;
}

/**
 * Text from the CRM, made safe to hand on: unsafe characters removed (in a single-line field
 * tabs and new lines become a space), then capped at `maxChars` code points (never splitting a
 * surrogate pair).
 */
export function cleanText(value: string, maxChars: number, kind: TextKind = 'line'): CleanText {
  const stripped = replaceUnsafe(value, kind, (ch) =>
    kind === 'line' && /[\t\n\r]/.test(ch) ? ' ' : '',
  );
  return capChars(stripped, maxChars);
}

/** Caps `text` at `maxChars` code points. */
export function capChars(text: string, maxChars: number): CleanText {
  if (text.length <= maxChars) return { text, truncated: false };
  const chars = Array.from(text);
  if (chars.length <= maxChars) return { text, truncated: false };
  return { text: chars.slice(0, maxChars).join(''), truncated: true };
}
