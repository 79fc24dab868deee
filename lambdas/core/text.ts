/**
 * Character classes the gateway treats specially. Control characters and invisible
 * (zero-width, bidi-override) characters are how hidden instructions get smuggled into
 * text an LLM or a human approver reads.
 */

/** C0/C1 controls except tab, line feed and carriage return. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
export const CONTROL_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/u;
/** All C0/C1 controls, including tab and new lines. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
export const ANY_CONTROL_CHARS = /[\u0000-\u001F\u007F-\u009F]/u;
/** Zero-width, word-joiner, bidi embedding/override/isolate marks and the BOM. */
export const INVISIBLE_CHARS =
  /[\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF\u00AD]/u;

const CONTROL_G = new RegExp(CONTROL_CHARS.source, 'gu');
const INVISIBLE_G = new RegExp(INVISIBLE_CHARS.source, 'gu');

export interface CleanText {
  text: string;
  truncated: boolean;
}

/**
 * Strips control and invisible characters and caps the length (in code points, so a
 * surrogate pair is never split).
 */
export function cleanText(value: string, maxChars: number): CleanText {
  const stripped = value.replace(CONTROL_G, '').replace(INVISIBLE_G, '');
  const chars = Array.from(stripped);
  if (chars.length <= maxChars) return { text: stripped, truncated: false };
  return { text: chars.slice(0, maxChars).join(''), truncated: true };
}
