import fc from 'fast-check';

/** The 30 Unicode general categories (Cn: unassigned). */
export const GENERAL_CATEGORIES = [
  'Lu',
  'Ll',
  'Lt',
  'Lm',
  'Lo',
  'Mn',
  'Mc',
  'Me',
  'Nd',
  'Nl',
  'No',
  'Pc',
  'Pd',
  'Ps',
  'Pe',
  'Pi',
  'Pf',
  'Po',
  'Sm',
  'Sc',
  'Sk',
  'So',
  'Zs',
  'Zl',
  'Zp',
  'Cc',
  'Cf',
  'Cs',
  'Co',
  'Cn',
] as const;

export type GeneralCategory = (typeof GENERAL_CATEGORIES)[number];

interface CategoryTable {
  /** Inclusive code point ranges of the category. */
  ranges: [number, number][];
  /** Code points before each range (for picking the n-th code point of the category). */
  before: number[];
  size: number;
}

let tables: Map<GeneralCategory, CategoryTable> | undefined;

/**
 * Every code point of 0..10FFFF sorted into its general category, as this Node's regular
 * expressions know them (one pass, about 0.4 s, once per worker).
 */
function categoryTables(): Map<GeneralCategory, CategoryTable> {
  if (tables) return tables;
  const re = new RegExp(
    `^(?:${GENERAL_CATEGORIES.map((c) => String.raw`(\p{gc=${c}})`).join('|')})$`,
    'u',
  );
  const ranges = new Map<GeneralCategory, [number, number][]>(
    GENERAL_CATEGORIES.map((c) => [c, []]),
  );
  let current = -1;
  let start = 0;
  const close = (end: number) => {
    const cat = GENERAL_CATEGORIES[current];
    if (cat) ranges.get(cat)?.push([start, end]);
  };
  for (let cp = 0; cp <= 0x10ffff; cp += 1) {
    const m = re.exec(String.fromCodePoint(cp));
    let index = -1;
    if (m) {
      for (let i = 1; i < m.length; i += 1) {
        if (m[i] !== undefined) {
          index = i - 1;
          break;
        }
      }
    }
    if (index !== current) {
      if (current >= 0) close(cp - 1);
      current = index;
      start = cp;
    }
  }
  close(0x10ffff);
  tables = new Map();
  for (const [cat, list] of ranges) {
    const before: number[] = [];
    let size = 0;
    for (const [a, b] of list) {
      before.push(size);
      size += b - a + 1;
    }
    tables.set(cat, { ranges: list, before, size });
  }
  return tables;
}

function nthCodePoint(table: CategoryTable, n: number): number {
  let lo = 0;
  let hi = table.ranges.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((table.before[mid] ?? 0) <= n) lo = mid;
    else hi = mid - 1;
  }
  const range = table.ranges[lo] ?? [0x41, 0x41];
  return range[0] + (n - (table.before[lo] ?? 0));
}

/** One code point of `category` (a lone surrogate for Cs), shrinking towards its first one. */
export function charOf(category: GeneralCategory): fc.Arbitrary<string> {
  const table = categoryTables().get(category);
  if (!table || table.size === 0) return fc.constant('A');
  return fc
    .integer({ min: 0, max: table.size - 1 })
    .map((n) => String.fromCodePoint(nthCodePoint(table, n)));
}

/** A character from any general category, each category equally likely. */
export const anyCategoryChar: fc.Arbitrary<string> = fc
  .constantFrom(...GENERAL_CATEGORIES)
  .chain((c) => charOf(c));

/** A lone surrogate (high or low). */
export const loneSurrogate: fc.Arbitrary<string> = fc
  .integer({ min: 0xd800, max: 0xdfff })
  .map((n) => String.fromCharCode(n));

/** The characters the gateway's documented Unicode policy refuses, one class each. */
export const HIDDEN_SAMPLES: readonly string[] = [
  '\u0000',
  '\u0007',
  '\u001b',
  '\u007f',
  '\u0085',
  '\u009b',
  '\u00ad',
  '\u034f',
  '\u061c',
  '\u115f',
  '\u180e',
  '\u200b',
  '\u200c',
  '\u200d',
  '\u200e',
  '\u200f',
  '\u2028',
  '\u2029',
  '\u202a',
  '\u202e',
  '\u2060',
  '\u2066',
  '\u2069',
  '\u3164',
  '\ufe0f',
  '\ufeff',
  '\uffa0',
  '\u{1d173}',
  '\u{e0001}',
  '\u{e0041}',
  '\u{e007f}',
  '\u{e0100}',
  '\ud800',
  '\udfff',
];

export const hiddenChar: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...HIDDEN_SAMPLES),
  // The tag block: invisible ASCII, the "ASCII smuggling" channel.
  fc.integer({ min: 0xe0000, max: 0xe007f }).map((n) => String.fromCodePoint(n)),
  charOf('Cc'),
  loneSurrogate,
);

/** Visible text with a few characters that are not plain letters: emoji, CJK, accents, RTL. */
export const VISIBLE_SAMPLES: readonly string[] = [
  'é',
  'ß',
  'Ω',
  '漢',
  'ｱ',
  '한',
  'ع',
  'א',
  '😀',
  '❤️',
  '👩‍💻',
  '🏴󠁧󠁢󠁥󠁮󠁧󠁿',
  '🇫🇷',
  'ﬁ',
  '①',
  '𝒜',
  'e\u0301',
];

/**
 * A string mixing ASCII, characters of every general category, hidden characters, visible
 * non-ASCII and lone surrogates.
 */
export function unicodeString(maxUnits = 24): fc.Arbitrary<string> {
  return fc
    .array(
      fc.oneof(
        { weight: 4, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 3 }) },
        { weight: 4, arbitrary: anyCategoryChar },
        { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 2 }) },
        { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 2 }) },
        { weight: 1, arbitrary: fc.constantFrom(...VISIBLE_SAMPLES) },
        { weight: 1, arbitrary: hiddenChar },
      ),
      { minLength: 1, maxLength: maxUnits },
    )
    .map((parts) => parts.join(''));
}

const HIDDEN_CLASS = String.raw`\p{Default_Ignorable_Code_Point}\p{Bidi_Control}\p{Zl}\p{Zp}\p{Cs}`;
const SCAN = {
  line: new RegExp(String.raw`(\p{RGI_Emoji})|([${HIDDEN_CLASS}\p{Cc}])`, 'gv'),
  multiline: new RegExp(String.raw`(\p{RGI_Emoji})|([${HIDDEN_CLASS}[\p{Cc}--[\t\n\r]]])`, 'gv'),
};

function scanHidden(text: string, kind: 'line' | 'multiline'): string | null {
  const re = SCAN[kind];
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (m[2] !== undefined) return m[2];
  }
  return null;
}

/**
 * The oracle for the Unicode policy (README: control and invisible characters are refused), on
 * the conservative side: a control character (Cc; in multi-line text tab, LF and CR are fine),
 * a default-ignorable code point (zero-width characters, joiners, variation selectors, the tag
 * block), a bidi control, a line or paragraph separator, or a lone surrogate, outside a
 * well-formed emoji sequence, that is still there after NFKC. Returns it as `U+XXXX`.
 */
export function hiddenIn(text: string, kind: 'line' | 'multiline'): string | null {
  const raw = scanHidden(text, kind);
  if (raw === null) return null;
  if (scanHidden(text.normalize('NFKC'), kind) === null) return null;
  return `U+${(raw.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')} (${hiddenClass(raw)})`;
}

/** The kind of a hidden character, for grouping failures. */
export function hiddenClass(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  if (/\p{Cc}/u.test(ch)) return 'control';
  if (/\p{Cs}/u.test(ch)) return 'lone surrogate';
  if (/\p{Bidi_Control}/u.test(ch)) return 'bidi control';
  if (cp >= 0xe0000 && cp <= 0xe007f) return 'tag';
  if (/[\p{Zl}\p{Zp}]/u.test(ch)) return 'line separator';
  if ((cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xe0100 && cp <= 0xe01ef))
    return 'variation selector';
  if (/[\u200b-\u200d\u2060\ufeff]/u.test(ch)) return 'zero-width';
  return 'default-ignorable';
}

/** Length in code points. */
export function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}
