import { checkWalkDepth } from './bounded';
import { normalizeText, stripForMatching } from './text';

/** The rule of a request refused for carrying a credential. */
export const CREDENTIAL_RULE = 'credential_in_request';

/** What replaces a secret found in data the gateway keeps. */
export const REDACTED = '[REDACTED]';

/** A dash of any kind, an underscore or white space: what people put between a key's parts. */
const SEP = String.raw`[\p{Pd}_\s]?`;

/**
 * Credentials recognised by their shape, for places that do not hold the values themselves
 * (the validation function on AWS never holds a HubSpot token): HubSpot private-app tokens
 * (`pat-na1-<uuid>`), Slack tokens, AWS access key ids. No word boundaries: a key glued to a
 * word is still a key. Matched on what a string means ({@link meaningOf}), in any case.
 */
export const SECRET_PATTERNS: readonly RegExp[] = [
  new RegExp(
    String.raw`pat${SEP}[a-z]{2}\d${SEP}[0-9a-f]{8}${SEP}[0-9a-f]{4}${SEP}[0-9a-f]{4}${SEP}[0-9a-f]{4}${SEP}[0-9a-f]{12}`,
    'giu',
  ),
  /xox[abposre][\p{Pd}_][A-Za-z0-9\p{Pd}]{10,}/giu,
  // An AWS key id as issued (upper case), or in another case when it still holds a digit (so
  // that an ordinary word beginning "akia" is not one).
  /(?:AKIA|ASIA)[0-9A-Z]{16}|(?:akia|asia)(?=[0-9a-z]{0,15}[0-9])[0-9a-z]{16}/gi,
];

const SECRET_TESTS = SECRET_PATTERNS.map((p) => new RegExp(p.source, p.flags.replace('g', '')));

/**
 * The HubSpot and Slack shapes with whatever was put between or inside their parts taken out
 * (spaces, new lines, dots, slashes, doubled dashes: {@link compactKeepingCase}): shapes that
 * ordinary text cannot join into (32 hex digits; a Slack token's two runs of digits). An AWS key
 * id is not matched this way: "ASIA PACIFIC REGION 2026" in capitals would join into one.
 */
const COMPACT_TESTS: readonly RegExp[] = [
  /pat[a-z]{2}\d[0-9a-f]{32}/i,
  /xox[abposre]\d{20,}[0-9a-z]{16,}/i,
];

/** How many characters of a known secret, in a row, give it away. */
const WINDOW = 16;

const JSON_ESCAPE = /\\(?:u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2})|(["\\/bfnrt]))/g;
const SIMPLE_ESCAPES: Record<string, string> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};
const PERCENT = /%([0-9a-fA-F]{2})/g;
const HTML_ENTITY = /&#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}));?|&(amp|lt|gt|quot|apos);/g;
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const MARKS = /\p{M}/gu;

function fromCodePoint(n: number): string {
  return n <= 0x10ffff ? String.fromCodePoint(n) : '';
}

/**
 * What a string means, for finding a credential in it whatever its spelling: JSON escapes,
 * percent-encoding and HTML character references decoded (a refused body is kept as raw text),
 * compatibility forms folded (NFKC: full-width letters are letters), hidden characters removed
 * (a zero-width space inside a key) and accents taken off (a combining mark after a letter).
 */
export function meaningOf(text: string): string {
  let out = text;
  if (out.includes('\\')) {
    // JSON escapes, and the `\xNN` of the records' renderings of raw bytes.
    out = out.replace(
      JSON_ESCAPE,
      (_m, hex: string | undefined, byte: string | undefined, simple: string | undefined) =>
        hex !== undefined || byte !== undefined
          ? String.fromCharCode(Number.parseInt(hex ?? byte ?? '', 16))
          : (SIMPLE_ESCAPES[simple ?? ''] ?? ''),
    );
  }
  if (out.includes('%'))
    out = out.replace(PERCENT, (_m, hex: string) => fromCodePoint(Number.parseInt(hex, 16)));
  if (out.includes('&')) {
    out = out.replace(
      HTML_ENTITY,
      (_m, hex: string | undefined, dec: string | undefined, name: string | undefined) =>
        name !== undefined
          ? (NAMED[name] ?? '')
          : fromCodePoint(hex !== undefined ? Number.parseInt(hex, 16) : Number(dec)),
    );
  }
  return stripForMatching(normalizeText(out)).normalize('NFKD').replace(MARKS, '');
}

/** `text` with white space, punctuation and symbols taken out. */
function compactKeepingCase(text: string): string {
  return text.replace(/[\p{P}\p{S}\s]+/gu, '');
}

/** {@link compactKeepingCase}, lower-cased. */
function compact(text: string): string {
  return compactKeepingCase(text).toLowerCase();
}

/** Aligned probes: any run of {@link WINDOW} characters holds one probe at a multiple of this. */
const PROBE = WINDOW / 2;

/** The runs of {@link WINDOW} characters that give each known secret away, in its usual encodings. */
class SecretWindows {
  private static memo: { key: string; windows: SecretWindows } | null = null;

  static of(secrets: readonly string[]): SecretWindows {
    const active = secrets.filter((s) => s.length >= 8);
    const key = active.join('\u0000');
    if (SecretWindows.memo?.key !== key) {
      SecretWindows.memo = { key, windows: new SecretWindows(active) };
    }
    return SecretWindows.memo.windows;
  }

  private readonly windows = new Set<string>();
  /** What {@link containsSecret} said of short strings, for this set of secrets. */
  readonly verdicts = new Map<string, boolean>();
  /** Every {@link PROBE}-character run of every form: a cheap first look. */
  private readonly probes = new Set<string>();
  /** Secrets shorter than a window are looked for whole. */
  private readonly short: string[] = [];

  private constructor(readonly active: readonly string[]) {
    for (const secret of active) {
      for (const form of encodings(secret)) {
        const c = compact(form);
        if (c.length < WINDOW) {
          this.short.push(c);
          continue;
        }
        for (let i = 0; i + WINDOW <= c.length; i += 1) this.windows.add(c.slice(i, i + WINDOW));
        for (let i = 0; i + PROBE <= c.length; i += 1) this.probes.add(c.slice(i, i + PROBE));
      }
    }
  }

  /** True when `text` (already {@link meaningOf}) holds a known secret, or enough of one. */
  foundIn(text: string): boolean {
    if (this.active.length === 0) return false;
    const c = compact(text);
    if (this.short.some((s) => c.includes(s))) return true;
    // Any window of the text holds the probe that starts at the next multiple of PROBE.
    for (let p = 0; p + PROBE <= c.length; p += PROBE) {
      if (!this.probes.has(c.slice(p, p + PROBE))) continue;
      const from = Math.max(0, p - PROBE);
      for (let i = from; i <= p && i + WINDOW <= c.length; i += 1) {
        if (this.windows.has(c.slice(i, i + WINDOW))) return true;
      }
    }
    return false;
  }
}

/** A secret as written, reversed, in hex and in base64 (at each alignment, padding cut off). */
function encodings(secret: string): string[] {
  const forms = [
    secret,
    Array.from(secret).reverse().join(''),
    Buffer.from(secret).toString('hex'),
  ];
  for (let pad = 0; pad < 3; pad += 1) {
    const b64 = Buffer.from(`${'\u0000'.repeat(pad)}${secret}`).toString('base64');
    // The characters that depend only on the secret's own bytes.
    const middle = b64.slice(Math.ceil((pad * 4) / 3) + 1, -4);
    forms.push(middle, middle.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return forms;
}

function shapedSecret(text: string): boolean {
  return SECRET_TESTS.some((p) => p.test(text));
}

/** True when `meant` (a string's {@link meaningOf}) holds a secret. */
function meansSecret(meant: string, windows: SecretWindows): boolean {
  if (shapedSecret(meant) || windows.foundIn(meant)) return true;
  const squeezed = compactKeepingCase(meant);
  return COMPACT_TESTS.some((p) => p.test(squeezed));
}

/**
 * True when `text` holds a known secret (or {@link WINDOW} characters of one, in any case, with
 * separators, reversed, hex or base64) or something shaped like a credential, as written or
 * once decoded and folded ({@link meaningOf}).
 */
export function containsSecret(text: string, secrets: readonly string[]): boolean {
  const windows = SecretWindows.of(secrets);
  // Short strings recur from record to record (routes, actions, callers, hashes): remembered.
  const cacheable = text.length <= VERDICT_MAX_LENGTH;
  const known = cacheable ? windows.verdicts.get(text) : undefined;
  if (known !== undefined) return known;
  const verdict = meansSecret(meaningOrSelf(text), windows) || shapedSecret(text);
  if (cacheable) {
    if (windows.verdicts.size >= VERDICT_CACHE_SIZE) windows.verdicts.clear();
    windows.verdicts.set(text, verdict);
  }
  return verdict;
}

/** Verdicts on strings up to this long are remembered, at most this many (per secret set). */
const VERDICT_MAX_LENGTH = 256;
const VERDICT_CACHE_SIZE = 4096;

/** Printable ASCII with nothing to decode means what it says: most strings, checked fast. */
const SELF_MEANING = /^[\x20-\x24\x27-\x5b\x5d-\x7e]*$/;

function meaningOrSelf(text: string): string {
  return SELF_MEANING.test(text) ? text : meaningOf(text);
}

/** Every string of `value` (member names included, unless `valuesOnly`), iteratively. */
function stringsOf(value: unknown, valuesOnly = false): string[] {
  const out: string[] = [];
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) stack.push(...v);
    else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (!valuesOnly) out.push(k);
        stack.push(x);
      }
    }
  }
  return out;
}

/** How many values are paired with each other to find a key split across fields. */
const MAX_PAIRED = 24;
/** How much of each side of a join a key split there can need, once decoded. */
const JOIN_MARGIN = 64;

/**
 * True when any string of `value` (member names included) holds a secret, or when two of its
 * values do together: a key split across fields (the prompt and a note body) is still a key.
 */
export function valueHoldsSecret(value: unknown, secrets: readonly string[]): boolean {
  const windows = SecretWindows.of(secrets);
  const meant = new Map<string, string>();
  for (const s of stringsOf(value)) {
    const m = meaningOrSelf(s);
    if (meansSecret(m, windows) || (m !== s && shapedSecret(s))) return true;
    meant.set(s, m);
  }
  const parts = stringsOf(value, true)
    .filter((s) => s.length >= 2)
    .sort((a, b) => b.length - a.length)
    .slice(0, MAX_PAIRED)
    .map((s) => meant.get(s) ?? meaningOrSelf(s));
  for (const a of parts) {
    for (const b of parts) {
      if (a !== b && meansSecret(`${a.slice(-JOIN_MARGIN)}${b.slice(0, JOIN_MARGIN)}`, windows)) {
        return true;
      }
    }
  }
  return false;
}

function redactString(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 8 && out.includes(s)) out = out.split(s).join(REDACTED);
  for (const p of SECRET_PATTERNS) out = out.replace(p, REDACTED);
  // A secret that shows only once decoded or folded cannot be cut out of the spelling: the
  // whole string goes.
  return containsSecret(out, secrets) ? REDACTED : out;
}

/**
 * Replaces every secret in every string of `value` (member names included). The audit log
 * cannot be edited afterwards (Object Lock on AWS), so a token an agent pastes into a prompt or
 * an action must be cut out before the record is written, not after. The walk is bounded by
 * {@link checkWalkDepth}; records are clamped before they get here.
 */
export function redactSecrets<T>(value: T, secrets: readonly string[]): T {
  if (!stringsOf(value).some((s) => containsSecret(s, secrets))) return value;
  const walk = (v: unknown, depth: number): unknown => {
    checkWalkDepth(depth);
    if (typeof v === 'string') return redactString(v, secrets);
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        Object.defineProperty(out, redactString(k, secrets), {
          value: walk(x, depth + 1),
          enumerable: true,
          writable: true,
        });
      }
      return out;
    }
    return v;
  };
  return walk(value, 0) as T;
}
