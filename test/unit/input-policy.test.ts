import {
  clampDepth,
  INPUT_BOUNDS,
  MAX_WALK_DEPTH,
  parseBoundedJson,
  shapeOf,
} from '../../lambdas/core/bounded';
import { AirlockError } from '../../lambdas/core/errors';
import { canonicalJson } from '../../lambdas/core/hash';
import { canonicalUserId, foldCase, parseUserApprovers } from '../../lambdas/core/identity';
import { containsSecret, meaningOf, REDACTED, redactSecrets } from '../../lambdas/core/redact';
import {
  capChars,
  cleanText,
  displayUnits,
  findUnsafe,
  visibleRendering,
} from '../../lambdas/core/text';
import { FAKE_AWS_KEY_ID } from '../helpers/fake-credentials';

/** Every code point of the classes the policy refuses, read from the standard's properties. */
const REFUSED = /[\p{Default_Ignorable_Code_Point}\p{Bidi_Control}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Cc}]/u;

function everyRefusedCodePoint(): number[] {
  const out: number[] = [];
  for (let cp = 0; cp <= 0x10ffff; cp += 1) {
    if (REFUSED.test(String.fromCodePoint(cp))) out.push(cp);
  }
  return out;
}

describe('the Unicode policy (lambdas/core/text.ts)', () => {
  const refused = everyRefusedCodePoint();

  it('knows thousands of hidden and control code points, the ones attackers used among them', () => {
    expect(refused.length).toBeGreaterThan(4000);
    for (const cp of [0xe0041, 0x061c, 0x180e, 0xfe0f, 0x034f, 0x3164, 0xfff9, 0x2028, 0xd800]) {
      expect(refused).toContain(cp);
    }
  });

  it('refuses each of them inside ordinary text, in single-line fields; multi-line fields keep tab and new lines', () => {
    const missed: string[] = [];
    for (const cp of refused) {
      const ch = String.fromCodePoint(cp);
      const text = `Acme ${ch}Corp`;
      if (findUnsafe(text, 'line')?.char !== ch) missed.push(cp.toString(16));
      const allowedInMultiline = ch === '\t' || ch === '\n' || ch === '\r';
      if ((findUnsafe(text, 'multiline') === null) !== allowedInMultiline) {
        missed.push(`multiline ${cp.toString(16)}`);
      }
    }
    expect(missed).toEqual([]);
  });

  it('strips each of them from CRM text (tabs and new lines become a space in one-line fields)', () => {
    const kept: string[] = [];
    for (const cp of refused) {
      const ch = String.fromCodePoint(cp);
      const expected = ch === '\t' || ch === '\n' || ch === '\r' ? 'Ja ne' : 'Jane';
      if (cleanText(`Ja${ch}ne`, 100).text !== expected) kept.push(cp.toString(16));
    }
    expect(kept).toEqual([]);
    expect(cleanText(`a\u200Bb\nc`, 100, 'multiline').text).toBe('ab\nc');
  });

  it('keeps well-formed emoji sequences whole, and only those', () => {
    const emoji = ['❤️', '🇫🇷', '👨‍👩‍👧', '🏴󠁧󠁢󠁥󠁮󠁧󠁿', '1️⃣', '👍🏽', '🏳️‍🌈', '🧑🏿‍🦰', '👩🏻‍❤️‍💋‍👨🏼'];
    for (const e of emoji) {
      expect(findUnsafe(`Thanks ${e}!`, 'line')).toBeNull();
      expect(cleanText(`Thanks ${e}!`, 100).text).toBe(`Thanks ${e}!`);
      expect(displayUnits(`a${e}b`)).toEqual(['a', e, 'b']);
    }
    // The same joiners and selectors outside a sequence are hidden text.
    for (const broken of ['a\uFE0F', '👨\u200D', '\u200D👩', 'x\u{E0067}\u{E007F}']) {
      expect(findUnsafe(broken, 'line')).not.toBeNull();
    }
  });

  it('shows what was sent with each hidden character named, emoji untouched', () => {
    expect(visibleRendering('scott\u200B ❤️')).toBe('scott[U+200B] ❤️');
  });

  it('caps in code points, never splitting a surrogate pair', () => {
    expect(capChars('😀😀😀', 2)).toEqual({ text: '😀😀', truncated: true });
    expect(capChars('abc', 3)).toEqual({ text: 'abc', truncated: false });
  });
});

describe('canonical user ids (lambdas/core/identity.ts)', () => {
  it.each([
    ['U-42', 'u-42'],
    ['ｕ-42', 'u-42'],
    ['  Scott ', 'scott'],
    ['STRASSE', 'strasse'],
    ['straße', 'strasse'],
    ['Jane.Doe+crm@acme.com', 'jane.doe+crm@acme.com'],
    ['arn:aws:iam::1:user/x', null],
    ['José', 'josé'],
    ['山田太郎', '山田太郎'],
    ['tanaka-たなか-タナカ-田中', 'tanaka-たなか-タナカ-田中'],
    ['иван', 'иван'],
  ])('%s is %s', (raw, expected) => {
    const result = canonicalUserId(raw);
    expect(result.ok ? result.id : null).toBe(expected);
  });

  it.each([
    ['an invisible character', 'scott\u200B'],
    ['a joiner', 'sc\u200Dott'],
    ['one Cyrillic letter among Latin', 's\u0441ott'],
    ['Greek and Latin', 'pαypal'],
    ['a space inside', 'jane doe'],
    ['a symbol', 'jane$'],
    ['a tag character', 'scott\u{E0001}'],
    ['empty', '   '],
    ['too long', 'a'.repeat(129)],
  ])('refuses %s', (_what, raw) => {
    expect(canonicalUserId(raw).ok).toBe(false);
  });

  it('folds case the same way for every comparison', () => {
    expect(foldCase('U024BE7LH')).toBe(foldCase('u024be7lh'));
  });

  it('reads AIRLOCK_USER_APPROVERS keyed by canonical id, and names what is wrong', () => {
    expect(parseUserApprovers('{"U-42": ["U024BE7LH"], "u-42": ["W1"]}')).toEqual({
      'u-42': ['U024BE7LH', 'W1'],
    });
    expect(() => parseUserApprovers('[]')).toThrow(/JSON object/);
    expect(() => parseUserApprovers('{"s\u0441ott": ["U1"]}')).toThrow(/mixes scripts/);
    expect(() => parseUserApprovers('{"u": "U1"}')).toThrow(/list/);
  });
});

describe('bounded input (lambdas/core/bounded.ts)', () => {
  const codeOf = (f: () => unknown) => {
    try {
      f();
      return 'ok';
    } catch (err) {
      return err instanceof AirlockError ? err.code : String(err);
    }
  };
  const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

  it('accepts every bound exactly and refuses one past it', () => {
    const b = INPUT_BOUNDS;
    const obj = (n: number) =>
      JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 0])));
    const cases: [string, string, string][] = [
      ['depth', nested(b.maxDepth), nested(b.maxDepth + 1)],
      ['members', obj(b.maxKeys), obj(b.maxKeys + 1)],
      [
        'elements',
        JSON.stringify(Array(b.maxArray).fill(0)),
        JSON.stringify(Array(b.maxArray + 1).fill(0)),
      ],
      [
        'string',
        JSON.stringify('x'.repeat(b.maxString)),
        JSON.stringify('x'.repeat(b.maxString + 1)),
      ],
      [
        'values',
        JSON.stringify(Array.from({ length: 8 }, () => Array(b.maxNodes / 8 - 2).fill(0))),
        JSON.stringify(Array.from({ length: 8 }, () => Array(b.maxNodes / 8).fill(0))),
      ],
    ];
    for (const [what, inside, outside] of cases) {
      expect({ what, inside: codeOf(() => parseBoundedJson(inside, 'x')) }).toEqual({
        what,
        inside: 'ok',
      });
      expect({ what, outside: codeOf(() => parseBoundedJson(outside, 'x')) }).toEqual({
        what,
        outside: 'validation_failed',
      });
    }
    expect(codeOf(() => parseBoundedJson('{', 'x'))).toBe('invalid_json');
  });

  it('measures and clamps any depth without recursion', () => {
    const deep = JSON.parse(nested(100_000));
    expect(shapeOf(deep, 0).depth).toBe(100_000);
    const clamped = clampDepth(deep, 3);
    expect(JSON.stringify(clamped)).toBe('[[["[depth limit]"]]]');
  });

  it('keeps a "__proto__" member as data when clamping', () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}}');
    const clamped = clampDepth(value) as Record<string, unknown>;
    expect(Object.keys(clamped)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('every recursive walk over data fails loudly past its depth counter, never overflows', () => {
    const deep = clampDepth(JSON.parse(nested(MAX_WALK_DEPTH + 5)), MAX_WALK_DEPTH + 5);
    expect(codeOf(() => canonicalJson(deep))).toBe('internal_error');
    expect(codeOf(() => redactSecrets([deep, FAKE_AWS_KEY_ID], []))).toBe('internal_error');
  });
});

describe('credentials by meaning (lambdas/core/redact.ts)', () => {
  const aws = `AKIA${'Q7'.repeat(8)}`;

  it.each([
    ['JSON escapes', `\\u0041\\u004BIA${'Q7'.repeat(8)}`],
    [
      'full-width letters',
      Array.from(aws, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).join(''),
    ],
    ['a zero-width space inside', `AKIA\u200B${'Q7'.repeat(8)}`],
    ['a tag character inside', `AKIA${'Q7'.repeat(4)}\u{E0020}${'Q7'.repeat(4)}`],
  ])('finds an AWS key id spelt with %s', (_what, spelt) => {
    expect(meaningOf(spelt)).toContain(aws);
    expect(containsSecret(`key: ${spelt}`, [])).toBe(true);
  });

  it('finds a deployment key however spelt, and redacts the whole string when only its meaning holds it', () => {
    const key = 'ak_0123456789abcdefghij';
    const escaped = Array.from(
      key,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    ).join('');
    expect(containsSecret(`x ${escaped}`, [key])).toBe(true);
    expect(redactSecrets({ a: `x ${key} y`, b: `raw ${escaped}` }, [key])).toEqual({
      a: `x ${REDACTED} y`,
      b: REDACTED,
    });
  });

  it('redacts secrets in member names too', () => {
    const key = 'ak_0123456789abcdefghij';
    expect(redactSecrets({ [key]: 1 }, [key])).toEqual({ [REDACTED]: 1 });
  });
});
